# SPDX-License-Identifier: MIT
"""O_TMPFILE (the kernel's FUSE_TMPFILE request, answered by the daemon's
channel ahead of libfuse, src/daemon/transport.c): an unnamed regular
file, counted in inodes and blocks, linkable with linkat() unless
O_EXCL, gone at the last close.  Each scenario runs on the mount under
test and on a kernel tmpfs mounted here with the same options, and the
observations must be equal; the absolute checks say what tmpfs does."""

import ctypes
import errno
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import wait_for

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_FOLLOW = 0x400
libc = ctypes.CDLL(None, use_errno=True)


def linkat_fd(fd, path):
    """linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH): 0 or the errno."""
    r = libc.linkat(fd, b"", AT_FDCWD, os.fsencode(path), AT_EMPTY_PATH)
    return 0 if r == 0 else ctypes.get_errno()


def linkat_proc(fd, path):
    """The unprivileged way: linkat of /proc/self/fd/N, following it."""
    r = libc.linkat(AT_FDCWD, os.fsencode("/proc/self/fd/%d" % fd),
                    AT_FDCWD, os.fsencode(path), AT_SYMLINK_FOLLOW)
    return 0 if r == 0 else ctypes.get_errno()


def usage(path):
    """(inodes used, blocks used) as df sees them."""
    sv = os.statvfs(path)
    return (sv.f_files - sv.f_ffree, sv.f_blocks - sv.f_bfree)


@pytest.fixture
def ktmpfs():
    """mount_tmpfs(opts) -> path of a kernel tmpfs, unmounted after."""
    dirs = []

    def mount_tmpfs(opts):
        d = tempfile.mkdtemp(prefix="shmemfs-ktmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", d],
                       check=True)
        dirs.append(d)
        return d
    yield mount_tmpfs
    for d in dirs:
        subprocess.run(["umount", d], check=False)
        shutil.rmtree(d, ignore_errors=True)


def both(mount, ktmpfs, opts, scenario):
    """scenario(path) on a fresh mount under test and on a kernel tmpfs;
    their observations must match.  Returns the mount's."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a kernel tmpfs)")
    mine = scenario(mount(opts).path)
    ref = scenario(ktmpfs(opts))
    assert mine == ref
    return mine


def lifecycle(d):
    obs = {}
    base = usage(d)
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o640)
    st = os.fstat(fd)
    obs["new"] = (oct(st.st_mode), st.st_nlink, st.st_size, st.st_blocks)
    obs["listing"] = sorted(os.listdir(d))
    obs["inodes+"] = usage(d)[0] - base[0]
    os.write(fd, b"x" * 10000)
    os.fsync(fd)
    st = os.fstat(fd)
    obs["written"] = (st.st_nlink, st.st_size, st.st_blocks)
    obs["blocks+"] = usage(d)[1] - base[1]
    obs["link"] = linkat_fd(fd, os.path.join(d, "named"))
    st = os.stat(os.path.join(d, "named"))
    obs["named"] = (st.st_nlink, st.st_size, st.st_ino == os.fstat(fd).st_ino)
    with open(os.path.join(d, "named"), "rb") as f:
        obs["content"] = f.read() == b"x" * 10000
    obs["link again"] = linkat_fd(fd, os.path.join(d, "second"))
    os.unlink(os.path.join(d, "named"))
    os.unlink(os.path.join(d, "second"))
    obs["relink after unlink"] = linkat_fd(fd, os.path.join(d, "third"))
    obs["listing after"] = sorted(os.listdir(d))
    os.close(fd)
    obs["freed"] = wait_for(lambda: usage(d) == base)
    return obs


def test_tmpfile_lifecycle(mount, ktmpfs):
    obs = both(mount, ktmpfs, "size=16m", lifecycle)
    assert obs["new"] == (oct(0o100640), 0, 0, 0)
    assert obs["listing"] == []
    assert obs["inodes+"] == 1
    assert obs["written"] == (0, 10000, 24)
    assert obs["link"] == 0
    assert obs["named"] == (1, 10000, True)
    assert obs["freed"]


def excl(d):
    obs = {}
    fd = os.open(d, os.O_TMPFILE | os.O_WRONLY | os.O_EXCL, 0o600)
    os.write(fd, b"secret")
    obs["link"] = linkat_fd(fd, os.path.join(d, "x"))
    obs["link proc"] = linkat_proc(fd, os.path.join(d, "x"))
    obs["listing"] = os.listdir(d)
    os.close(fd)
    fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
    obs["link proc plain"] = linkat_proc(fd, os.path.join(d, "y"))
    obs["y"] = os.path.exists(os.path.join(d, "y"))
    os.close(fd)
    return obs


def test_tmpfile_o_excl_is_not_linkable(mount, ktmpfs):
    obs = both(mount, ktmpfs, "size=16m", excl)
    assert obs["link"] == errno.ENOENT
    assert obs["listing"] == []
    assert obs["link proc plain"] == 0 and obs["y"]


def errors(d):
    obs = {}
    os.mkdir(os.path.join(d, "sub"))
    open(os.path.join(d, "f"), "w").close()
    for name, path, flags in [
            ("rdonly", d, os.O_TMPFILE | os.O_RDONLY),
            ("not a dir", os.path.join(d, "f"), os.O_TMPFILE | os.O_RDWR),
            ("missing", os.path.join(d, "nope"), os.O_TMPFILE | os.O_RDWR)]:
        try:
            os.close(os.open(path, flags, 0o600))
            obs[name] = 0
        except OSError as e:
            obs[name] = e.errno
    sub = os.open(os.path.join(d, "sub"), os.O_RDONLY | os.O_DIRECTORY)
    os.rmdir(os.path.join(d, "sub"))
    try:
        os.close(os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600, dir_fd=sub))
        obs["removed dir"] = 0
    except OSError as e:
        obs["removed dir"] = e.errno
    os.close(sub)
    return obs


def test_tmpfile_errors(mount, ktmpfs):
    obs = both(mount, ktmpfs, "size=16m", errors)
    assert obs["rdonly"] == errno.EINVAL
    assert obs["missing"] == errno.ENOENT
    assert obs["removed dir"] == 0       # tmpfs allows it


def limits(d):
    obs = {}
    fds = []
    for i in range(4):
        try:
            fds.append(os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600))
            obs[i] = 0
        except OSError as e:
            obs[i] = e.errno
    try:
        os.write(fds[0], b"y" * (2 << 20))
        obs["big write"] = 0
    except OSError as e:
        obs["big write"] = e.errno
    obs["size"] = os.fstat(fds[0]).st_size
    for fd in fds:
        os.close(fd)
    obs["after close"] = wait_for(
        lambda: _can_create(d, 2), 5)
    return obs


def _can_create(d, n):
    fds = []
    try:
        for _ in range(n):
            fds.append(os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600))
        return True
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)


def test_tmpfile_counts_against_limits(mount, ktmpfs):
    """nr_inodes counts unnamed files; size= stops their writes."""
    obs = both(mount, ktmpfs, "size=1m,nr_inodes=3", limits)
    assert [obs[i] for i in range(4)] == [0, 0, errno.ENOSPC, errno.ENOSPC]
    assert obs["big write"] == 0 and obs["size"] == 1 << 20
    assert obs["after close"]


def setgid_dir(d):
    os.mkdir(os.path.join(d, "g"))
    os.chown(os.path.join(d, "g"), 0, 4242)
    os.chmod(os.path.join(d, "g"), 0o2777)
    fd = os.open(os.path.join(d, "g"), os.O_TMPFILE | os.O_RDWR, 0o666)
    st = os.fstat(fd)
    os.close(fd)
    return (st.st_gid, oct(st.st_mode))


@pytest.mark.needs_root
def test_tmpfile_setgid_dir_group(mount, ktmpfs):
    assert both(mount, ktmpfs, "size=16m", setgid_dir) == \
        (4242, oct(0o100644))


def default_acl(d):
    sub = os.path.join(d, "acl")
    os.mkdir(sub)
    subprocess.run(["setfacl", "-d", "-m", "u:4242:rwx,g::r-x,o::---", sub],
                   check=True)
    fd = os.open(sub, os.O_TMPFILE | os.O_RDWR, 0o666)
    mode = oct(os.fstat(fd).st_mode)
    acl = subprocess.run(["getfacl", "-n", "--omit-header",
                          "/proc/self/fd/%d" % fd], capture_output=True,
                         text=True, pass_fds=(fd,)).stdout
    os.close(fd)
    return (mode, acl)


@pytest.mark.needs_root
def test_tmpfile_default_acl_replaces_umask(mount, ktmpfs):
    if shutil.which("setfacl") is None:
        pytest.skip("setfacl is not installed (Debian acl)")
    mode, acl = both(mount, ktmpfs, "size=16m", default_acl)
    assert "user:4242:rw" in acl
