# SPDX-License-Identifier: MIT
"""Permission checks seen by an unprivileged user (uid/gid 65534) on a
mount shared with allow_other.  The root test process sets things up and
forks a child that drops its credentials for each check."""

import errno
import os
import stat

import pytest

from conftest import NOBODY, SHMEMFS_BIN, TARGET, WRAPPER, Mount, \
    errno_as, errno_of, mountinfo_entry, run_as, utimensat, UTIME_NOW

pytestmark = pytest.mark.needs_root
OTHER = 65533          # a second unprivileged user


def touch(path, data=b"", mode=0o644, uid=0, gid=0):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, uid, gid)
    return path


def as_nobody(fn, *args):
    return errno_as(NOBODY, NOBODY, fn, *args)


def test_write_root_file(mnt):
    p = touch(os.path.join(mnt, "rootfile"), b"secret", 0o644)
    assert as_nobody(os.open, p, os.O_WRONLY) == errno.EACCES
    assert as_nobody(os.open, p, os.O_RDWR) == errno.EACCES
    assert as_nobody(os.open, p, os.O_WRONLY | os.O_TRUNC) == errno.EACCES
    assert as_nobody(os.truncate, p, 0) == errno.EACCES
    # reading is allowed by the other-read bit
    assert run_as(NOBODY, NOBODY, lambda: open(p, "rb").read()) == b"secret"
    os.chmod(p, 0o600)
    assert as_nobody(os.open, p, os.O_RDONLY) == errno.EACCES
    assert run_as(NOBODY, NOBODY, os.access, p, os.R_OK) is False
    os.chmod(p, 0o646)
    assert as_nobody(lambda: os.close(os.open(p, os.O_WRONLY))) == 0
    with open(p, "rb") as f:
        assert f.read() == b"secret"


def test_create_in_root_dir(mnt):
    d = os.path.join(mnt, "d")
    os.mkdir(d, 0o755)
    touch(os.path.join(d, "existing"))
    E = errno.EACCES
    assert as_nobody(os.open, os.path.join(d, "new"),
                     os.O_CREAT | os.O_WRONLY, 0o644) == E
    assert as_nobody(os.mkdir, os.path.join(d, "sub")) == E
    assert as_nobody(os.symlink, "t", os.path.join(d, "sym")) == E
    assert as_nobody(os.mkfifo, os.path.join(d, "fifo")) == E
    assert as_nobody(os.unlink, os.path.join(d, "existing")) == E
    assert as_nobody(os.rename, os.path.join(d, "existing"),
                     os.path.join(d, "moved")) == E
    assert os.listdir(d) == ["existing"]
    # listing and lookup are allowed (r-x for others)
    assert run_as(NOBODY, NOBODY, os.listdir, d) == ["existing"]


def test_search_permission(mnt):
    d = os.path.join(mnt, "private")
    os.mkdir(d, 0o700)
    touch(os.path.join(d, "f"), b"x", 0o666)
    assert as_nobody(os.stat, os.path.join(d, "f")) == errno.EACCES
    assert as_nobody(os.listdir, d) == errno.EACCES
    assert as_nobody(os.open, os.path.join(d, "f"), os.O_RDONLY) == \
        errno.EACCES
    os.chmod(d, 0o711)                    # search but no read
    assert as_nobody(os.stat, os.path.join(d, "f")) == 0
    assert as_nobody(os.listdir, d) == errno.EACCES
    os.chmod(d, 0o744)                    # read but no search
    assert as_nobody(os.stat, os.path.join(d, "f")) == errno.EACCES


def test_chmod_chown_not_owner(mnt):
    p = touch(os.path.join(mnt, "rootfile"), b"", 0o666)
    assert as_nobody(os.chmod, p, 0o777) == errno.EPERM
    assert as_nobody(os.chown, p, NOBODY, NOBODY) == errno.EPERM
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666
    # explicit times need ownership; "now" needs only write access
    assert as_nobody(lambda: os.utime(p, ns=(1, 1))) == errno.EPERM
    assert as_nobody(os.utime, p) == 0
    os.chmod(p, 0o644)
    assert as_nobody(os.utime, p) == errno.EACCES
    assert as_nobody(utimensat, p, UTIME_NOW, UTIME_NOW) == errno.EACCES


def test_owner_rights(mnt):
    d = os.path.join(mnt, "home")
    os.mkdir(d, 0o755)
    os.chown(d, NOBODY, NOBODY)
    p = os.path.join(d, "mine")

    def work():
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(fd, b"hello")
        os.close(fd)
        st = os.stat(p)
        os.chmod(p, 0o640)
        os.utime(p, ns=(5, 5))
        os.chown(p, -1, NOBODY)           # own group: allowed
        r = [st.st_uid, st.st_gid, stat.S_IMODE(os.stat(p).st_mode),
             os.stat(p).st_mtime_ns]
        r.append(errno_of(os.chown, p, 0, -1))     # give away: EPERM
        r.append(errno_of(os.chown, p, -1, 0))     # foreign group: EPERM
        os.mkdir(os.path.join(d, "sub"))
        r.append(os.stat(os.path.join(d, "sub")).st_uid)
        return r
    assert run_as(NOBODY, NOBODY, work) == \
        [NOBODY, NOBODY, 0o640, 5, errno.EPERM, errno.EPERM, NOBODY]


def test_sticky_directory(mnt):
    d = os.path.join(mnt, "tmp")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    theirs = touch(os.path.join(d, "theirs"), b"t", 0o666, OTHER, OTHER)
    roots = touch(os.path.join(d, "roots"), b"r", 0o666)
    assert as_nobody(os.unlink, theirs) == errno.EPERM
    assert as_nobody(os.unlink, roots) == errno.EPERM
    assert as_nobody(os.rename, theirs, os.path.join(d, "stolen")) == \
        errno.EPERM
    # writable by others, so writing is fine even though unlink is not
    assert as_nobody(lambda: open(theirs, "ab").write(b"+")) == 0
    # the user may create and remove its own files
    mine = os.path.join(d, "mine")
    assert as_nobody(lambda: open(mine, "w").close()) == 0
    assert os.stat(mine).st_uid == NOBODY
    assert as_nobody(os.rename, mine, os.path.join(d, "mine2")) == 0
    assert as_nobody(os.unlink, os.path.join(d, "mine2")) == 0
    # replacing someone else's file by rename is refused too
    assert as_nobody(lambda: open(mine, "w").close()) == 0
    assert as_nobody(os.rename, mine, theirs) == errno.EPERM
    assert sorted(os.listdir(d)) == ["mine", "roots", "theirs"]
    # without the sticky bit the same unlink works
    os.chmod(d, 0o777)
    assert as_nobody(os.unlink, theirs) == 0


def test_setgid_directory_inheritance(mnt):
    d = os.path.join(mnt, "shared")
    os.mkdir(d)
    os.chown(d, 0, 4242)
    os.chmod(d, 0o2777)

    def work():
        open(os.path.join(d, "f"), "w").close()
        os.mkdir(os.path.join(d, "sub"))
        f, s = os.stat(os.path.join(d, "f")), os.stat(os.path.join(d, "sub"))
        return [f.st_uid, f.st_gid, s.st_gid,
                bool(s.st_mode & stat.S_ISGID)]
    assert run_as(NOBODY, NOBODY, work) == [NOBODY, 4242, 4242, True]


def test_write_clears_setuid(mnt):
    p = touch(os.path.join(mnt, "suid"), b"#!", 0o4777)
    assert as_nobody(lambda: open(p, "ab").write(b"x")) == 0
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o777
    p2 = touch(os.path.join(mnt, "sgid"), b"#!", 0o2777)
    assert as_nobody(os.truncate, p2, 0) == 0
    assert stat.S_IMODE(os.stat(p2).st_mode) == 0o777


def test_nonowner_chmod_own_file_drops_sgid(mnt):
    d = os.path.join(mnt, "home")
    os.mkdir(d)
    os.chmod(d, 0o777)

    def work():
        p = os.path.join(d, "f")
        open(p, "w").close()
        os.chmod(p, 0o2755)     # gid 65534 is ours: setgid is kept
        kept = stat.S_IMODE(os.stat(p).st_mode)
        return kept
    assert run_as(NOBODY, NOBODY, work) == 0o2755
    p = os.path.join(d, "f")
    os.chown(p, NOBODY, 0)      # group we are not in
    os.chmod(p, 0o644)
    assert run_as(NOBODY, NOBODY, os.chmod, p, 0o2755) is None
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o755


def test_xattr_permissions(mnt):
    p = touch(os.path.join(mnt, "f"), b"", 0o644)
    os.setxattr(p, "user.root", b"r")
    os.setxattr(p, "trusted.hidden", b"h")
    assert run_as(NOBODY, NOBODY, os.getxattr, p, "user.root") == b"r"
    assert as_nobody(os.setxattr, p, "user.x", b"1") == errno.EACCES
    assert as_nobody(os.removexattr, p, "user.root") == errno.EACCES
    # trusted.* is invisible and untouchable without CAP_SYS_ADMIN
    assert run_as(NOBODY, NOBODY, os.listxattr, p) == ["user.root"]
    assert as_nobody(os.getxattr, p, "trusted.hidden") == errno.ENODATA
    assert as_nobody(os.setxattr, p, "trusted.x", b"1") == errno.EPERM
    os.chmod(p, 0o600)
    assert as_nobody(os.getxattr, p, "user.root") == errno.EACCES
    os.chmod(p, 0o666)
    assert as_nobody(os.setxattr, p, "user.x", b"1") == 0
    assert os.getxattr(p, "user.x") == b"1"


def test_access(mnt):
    p = touch(os.path.join(mnt, "f"), b"", 0o754)
    os.chown(p, 0, NOBODY)
    res = run_as(NOBODY, NOBODY, lambda: [os.access(p, m) for m in (
        os.R_OK, os.W_OK, os.X_OK, os.F_OK)])
    assert res == [True, False, True, True]     # group r-x
    res = run_as(OTHER, OTHER, lambda: [os.access(p, m) for m in (
        os.R_OK, os.W_OK, os.X_OK)])
    assert res == [True, False, False]          # other r--


def test_hardlink_protection(mnt):
    """With fs.protected_hardlinks=1 (the default) a user may not link
    to a file it could not write."""
    try:
        with open("/proc/sys/fs/protected_hardlinks") as f:
            protected = f.read().strip() == "1"
    except OSError:
        protected = False
    if not protected:
        pytest.skip("fs.protected_hardlinks is off")
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    os.chmod(d, 0o777)
    p = touch(os.path.join(mnt, "rootfile"), b"", 0o644)
    assert as_nobody(os.link, p, os.path.join(d, "l")) == errno.EPERM
    os.chmod(p, 0o666)
    assert as_nobody(os.link, p, os.path.join(d, "l")) == 0


class _MountAsGiven(Mount):
    """A Mount with exactly the options given: the fixtures add
    allow_other to every shmemfs mount, this one does not."""

    def daemon_cmd(self):
        cmd = WRAPPER + [SHMEMFS_BIN, "-f"]
        if self.opts:
            cmd += ["-o", ",".join(self.opts)]
        return cmd + [self.path]


@pytest.fixture
def mount_as_given():
    mounts = []

    def make(opts=()):
        m = _MountAsGiven(opts)
        mounts.append(m)
        return m
    yield make
    problems = []
    for m in mounts:
        problems += m.finish()
    assert not problems, "\n".join(problems)


def test_root_mount_serves_every_user(mount_as_given):
    """A mount made by root is open to every user, access decided by
    the modes alone, as for tmpfs: "mount -t tmpfs -o uid=U,mode=0700"
    gives U a private directory.  FUSE lets only the mounting user in
    unless allow_other is on, so the daemon turns it on when run as
    root, and default_permissions always."""
    m = mount_as_given("uid=%d,gid=%d,mode=0750" % (NOBODY, NOBODY))
    root = os.stat(m.path)
    assert (root.st_uid, root.st_gid) == (NOBODY, NOBODY)
    assert stat.S_IMODE(root.st_mode) == 0o750
    f = os.path.join(m.path, "f")

    def create():
        with open(f, "wb") as fh:
            fh.write(b"mine")
        os.chmod(f, 0o640)
        return sorted(os.listdir(m.path))
    assert run_as(NOBODY, NOBODY, create) == ["f"]
    assert os.stat(f).st_uid == NOBODY
    # OTHER is refused by the modes (o---), but by the modes only
    assert errno_as(OTHER, OTHER, os.listdir, m.path) == errno.EACCES
    assert errno_as(OTHER, OTHER, os.stat, f) == errno.EACCES
    assert run_as(OTHER, NOBODY, lambda: open(f, "rb").read(),
                  groups=[NOBODY]) == b"mine"
    assert errno_as(OTHER, NOBODY, os.open, f, os.O_WRONLY) == errno.EACCES
    os.chmod(m.path, 0o755)
    assert run_as(OTHER, OTHER, os.listdir, m.path) == ["f"]
    assert errno_as(OTHER, OTHER, os.open, os.path.join(m.path, "g"),
                    os.O_CREAT | os.O_WRONLY, 0o644) == errno.EACCES
    if TARGET == "shmemfs":
        opts = mountinfo_entry(m.path)["options"].split(",")
        assert "allow_other" in opts and "default_permissions" in opts
