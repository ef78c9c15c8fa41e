# SPDX-License-Identifier: MIT
"""Inode flags (chattr/lsattr), RENAME_WHITEOUT and overlayfs with its
upper layer on the mount under test.  Flags and whiteouts are checked
differentially: the same sequence on a kernel tmpfs mounted here must
give the same output, errors and files."""

import errno
import fcntl
import os
import shutil
import stat
import struct
import subprocess
import tempfile

import pytest

from conftest import RENAME_WHITEOUT, RENAME_EXCHANGE, RENAME_NOREPLACE
from conftest import assert_scenario_matches_tmpfs
from conftest import errno_of, errno_as, renameat2
from oracle import NOBODY, ktmpfs  # noqa: F401 (fixture)

needs_chattr = pytest.mark.skipif(
    not shutil.which("chattr") or not shutil.which("setpriv"),
    reason="needs chattr/lsattr (e2fsprogs) and setpriv")

NOBODY_RUN = "setpriv --reuid=65534 --regid=65534 --clear-groups "

FLAGS_SCENARIO = [
    (0, "echo x > f; mkdir d; touch d/x; lsattr f; lsattr -d d"),
    (0, "chattr +i f; echo $?; lsattr f"),
    (0, "echo y >> f; echo $?; rm -f f; echo $?; mv f g; echo $?; "
        "ln f h; echo $?; chmod 600 f; echo $?; chown 1 f; echo $?"),
    (0, "touch f; echo $?; touch -d @1 f; echo $?; "
        "setfattr -n user.a -v 1 f; echo $?; truncate -s 0 f; echo $?; "
        "setfacl -m u:1:r f; echo $?; cat f"),
    (0, "chattr -i +a f; echo $?; lsattr f; echo y >> f; echo $?; "
        "echo z > f; echo $?; truncate -s 0 f; echo $?; touch f; echo $?; "
        "rm -f f; echo $?; chmod 600 f; echo $?; cat f"),
    (0, "chattr -a +d +A f; lsattr f; chattr +c f; echo $?; "
        "chattr +i -d f; lsattr f"),
    (0, "chattr +i d; touch d/new; echo $?; rm d/x; echo $?; "
        "mv d/x d/y; echo $?; mv d/x .; echo $?; ls d"),
    (0, "chattr -i +a d; touch d/new; echo $?; rm d/x; echo $?; "
        "mv d/x d/y; echo $?; mv f d/; echo $?; ls d; lsattr -d d"),
    (0, "chattr -a d; rm d/new; chattr -i f; chown 65534 f; touch g; "
        "chattr +i g"),
    # the owner may set nodump, not immutable; others nothing
    (1, "chattr +d f; echo $?; chattr +i f; echo $?; chattr -i g; "
        "echo $?; chattr +d g; echo $?; lsattr f g"),
    (0, "chattr -i g; mknod c c 1 3; lsattr c 2>&1 | cut -d: -f1-2"),
    # noatime: reading leaves atime alone
    (0, "echo data > n; chattr +A n; touch -a -d @100 n; cat n >/dev/null; "
        "stat -c %X n"),
]


@needs_chattr
def test_flags_scenario_matches_tmpfs(mnt, ktmpfs):
    assert_scenario_matches_tmpfs(mnt, ktmpfs, FLAGS_SCENARIO)


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IOC_FSGETXATTR = 0x801c581f
FS_IOC_FSSETXATTR = 0x401c5820


def test_fileattr_ioctls(mnt, ktmpfs):
    """The raw ioctls, xflags view included, and a writer that opened
    the file before it became immutable keeps writing, as on tmpfs."""
    res = []
    for root in (ktmpfs, mnt):
        p = os.path.join(root, "f")
        with open(p, "w") as f:
            f.write("abc")
        fd = os.open(p, os.O_RDWR)
        try:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", 0x10 | 0x40))
            flags = struct.unpack("i", fcntl.ioctl(
                fd, FS_IOC_GETFLAGS, b"\0" * 8)[:4])[0]
            fsx = struct.unpack("5I8x", fcntl.ioctl(
                fd, FS_IOC_FSGETXATTR, b"\0" * 28))
            w = os.pwrite(fd, b"Z", 0)
            t = errno_of(os.ftruncate, fd, 1)
            fa = errno_of(os.posix_fallocate, fd, 0, 8192)
            # xflags: only the four tmpfs keeps
            bad = errno_of(fcntl.ioctl, fd, FS_IOC_FSSETXATTR,
                           struct.pack("5I8x", 0x1, 0, 0, 0, 0))
            fcntl.ioctl(fd, FS_IOC_FSSETXATTR,
                        struct.pack("5I8x", 0x40 | 0x10, 0, 0, 0, 0))
            after = struct.unpack("i", fcntl.ioctl(
                fd, FS_IOC_GETFLAGS, b"\0" * 8)[:4])[0]
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", 0))
        finally:
            os.close(fd)
        with open(p) as f:
            data = f.read()
        res.append((flags, fsx, w, t, fa, bad, after, data))
    assert res[1] == res[0]
    assert res[0][0] == 0x50


def whiteout_case(root):
    os.mkdir(os.path.join(root, "d"))
    a, b = os.path.join(root, "d", "a"), os.path.join(root, "d", "b")
    with open(a, "w") as f:
        f.write("data")
    r = [errno_of(renameat2, a, b, RENAME_WHITEOUT | RENAME_EXCHANGE)]
    r.append(errno_as(NOBODY, NOBODY, renameat2, a, b, RENAME_WHITEOUT))
    before = os.stat(os.path.join(root, "d")).st_size
    renameat2(a, b, RENAME_WHITEOUT)
    st = os.lstat(a)
    r.append((stat.S_IFMT(st.st_mode), st.st_mode & 0o7777, st.st_rdev,
              st.st_nlink, st.st_uid, st.st_size))
    r.append(open(b).read())
    r.append(sorted(os.listdir(os.path.join(root, "d"))))
    r.append(os.stat(os.path.join(root, "d")).st_size - before)
    # a whiteout is an ordinary node: it can be renamed over, removed
    with open(os.path.join(root, "d", "c"), "w") as f:
        f.write("c")
    r.append(errno_of(renameat2, os.path.join(root, "d", "c"), a,
                      RENAME_NOREPLACE | RENAME_WHITEOUT))
    renameat2(b, a, RENAME_WHITEOUT)
    r.append(stat.S_IFMT(os.lstat(b).st_mode))
    r.append(open(a).read())
    # a directory moves with a whiteout left behind too
    os.mkdir(os.path.join(root, "d", "sub"))
    renameat2(os.path.join(root, "d", "sub"), os.path.join(root, "d", "s2"),
              RENAME_WHITEOUT)
    r.append(stat.S_IFMT(os.lstat(os.path.join(root, "d", "sub")).st_mode))
    r.append(os.stat(os.path.join(root, "d")).st_nlink)
    for n in os.listdir(os.path.join(root, "d")):
        p = os.path.join(root, "d", n)
        if os.path.isdir(p) and not os.path.islink(p):
            os.rmdir(p)
        else:
            os.unlink(p)
    os.rmdir(os.path.join(root, "d"))
    return r


def test_rename_whiteout_matches_tmpfs(mnt, ktmpfs):
    want = whiteout_case(ktmpfs)
    got = whiteout_case(mnt)
    assert got == want
    assert want[2][0] == stat.S_IFCHR and want[2][2] == 0


def test_overlayfs_upper(mnt):
    """overlayfs with upper and work directories on the mount: copy-up,
    a whiteout for a removed lower file, an opaque directory for a
    removed-and-recreated lower directory."""
    base = tempfile.mkdtemp(prefix="shmemfs-ovl-")
    lower, merged = os.path.join(base, "lower"), os.path.join(base, "merged")
    up, work = os.path.join(mnt, "up"), os.path.join(mnt, "work")
    for d in (lower, merged, up, work, os.path.join(lower, "dir")):
        os.mkdir(d)
    for n in ("keep", "gone", "dir/inner"):
        with open(os.path.join(lower, n), "w") as f:
            f.write("lower " + n)
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%s,upperdir=%s,workdir=%s" %
                        (lower, up, work), merged],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    try:
        if r.returncode:
            pytest.skip("the kernel refuses this mount as an overlayfs "
                        "upper: %s" % r.stdout.strip())
        with open(os.path.join(merged, "keep"), "a") as f:
            f.write(" more")
        os.unlink(os.path.join(merged, "gone"))
        shutil.rmtree(os.path.join(merged, "dir"))
        os.mkdir(os.path.join(merged, "dir"))
        with open(os.path.join(merged, "dir", "new"), "w") as f:
            f.write("new")
        assert sorted(os.listdir(merged)) == ["dir", "keep"]
        assert os.listdir(os.path.join(merged, "dir")) == ["new"]
        assert open(os.path.join(merged, "keep")).read() == \
            "lower keep more"
        # what overlayfs wrote to the upper layer
        st = os.lstat(os.path.join(up, "gone"))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
        assert os.getxattr(os.path.join(up, "dir"),
                           "trusted.overlay.opaque") == b"y"
        assert open(os.path.join(up, "keep")).read() == "lower keep more"
        # the lower layer is untouched
        assert open(os.path.join(lower, "keep")).read() == "lower keep"
        assert os.path.exists(os.path.join(lower, "gone"))
    finally:
        if r.returncode == 0:
            subprocess.run(["umount", merged], check=False)
        shutil.rmtree(base, ignore_errors=True)
