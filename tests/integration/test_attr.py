# SPDX-License-Identifier: MIT
"""Attributes changed as root: chmod, chown, utimes (UTIME_NOW/UTIME_OMIT),
and the ctime bookkeeping that goes with them."""

import errno
import os
import stat
import time

import pytest

from conftest import UTIME_NOW, UTIME_OMIT, errno_of, utimensat


@pytest.fixture
def f(mnt):
    p = os.path.join(mnt, "f")
    with open(p, "wb") as fh:
        fh.write(b"x")
    return p


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def test_chmod(f):
    for mode in (0o000, 0o644, 0o755, 0o4755, 0o2755, 0o1777, 0o7777, 0o600):
        os.chmod(f, mode)
        assert stat.S_IMODE(os.stat(f).st_mode) == mode
        assert stat.S_ISREG(os.stat(f).st_mode)
    fd = os.open(f, os.O_RDONLY)
    os.fchmod(fd, 0o640)
    assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o640
    os.close(fd)


def test_chmod_dir_and_through_symlink(mnt):
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    os.chmod(d, 0o3711)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o3711
    assert stat.S_ISDIR(os.stat(d).st_mode)
    s = os.path.join(mnt, "s")
    os.symlink("d", s)
    os.chmod(s, 0o700)                       # follows the link
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(s).st_mode) == 0o777


def test_chmod_ctime(f):
    os.utime(f, ns=(10**9, 10**9))
    c0 = os.stat(f).st_ctime_ns
    time.sleep(0.01)
    os.chmod(f, 0o600)
    st = os.stat(f)
    assert st.st_ctime_ns > c0
    assert st.st_mtime_ns == st.st_atime_ns == 10**9


@pytest.mark.needs_root
def test_chown(f):
    os.chown(f, 1234, 5678)
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    os.chown(f, -1, 42)
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (1234, 42)
    os.chown(f, 7, -1)
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (7, 42)
    os.chown(f, 2**32 - 2, 2**32 - 2)
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (2**32 - 2, 2**32 - 2)


@pytest.mark.needs_root
def test_chown_clears_setid_bits(f):
    os.chmod(f, 0o6755)
    os.chown(f, 1, 1)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o755
    # setgid without group execute is mandatory locking, not cleared
    os.chmod(f, 0o2644)
    os.chown(f, 2, 2)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o2644
    # directories keep their setgid bit
    d = os.path.join(os.path.dirname(f), "d")
    os.mkdir(d)
    os.chmod(d, 0o2775)
    os.chown(d, 3, 3)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o2775


@pytest.mark.needs_root
def test_lchown_symlink(mnt, f):
    s = os.path.join(mnt, "s")
    os.symlink("f", s)
    os.lchown(s, 11, 12)
    assert (os.lstat(s).st_uid, os.lstat(s).st_gid) == (11, 12)
    assert (os.stat(f).st_uid, os.stat(f).st_gid) == (0, 0)
    os.chown(s, 13, 14)
    assert (os.stat(f).st_uid, os.stat(f).st_gid) == (13, 14)
    assert (os.lstat(s).st_uid, os.lstat(s).st_gid) == (11, 12)


def test_utime_explicit(f):
    os.utime(f, ns=(1234567890123456789, 987654321987654321))
    st = os.stat(f)
    assert st.st_atime_ns == 1234567890123456789
    assert st.st_mtime_ns == 987654321987654321
    os.utime(f, ns=(-1 * 10**9 + 500, 0))     # before 1970
    st = os.stat(f)
    assert st.st_atime_ns == -10**9 + 500 and st.st_mtime_ns == 0
    os.utime(f, ns=(2**40 * 10**9, 2**40 * 10**9 + 1))   # far future
    st = os.stat(f)
    assert st.st_atime_ns == 2**40 * 10**9
    assert st.st_mtime_ns == 2**40 * 10**9 + 1


def test_utime_now(f):
    os.utime(f, ns=(10**9, 10**9))
    t0 = now_ns()
    os.utime(f)                              # both UTIME_NOW
    t1 = now_ns()
    st = os.stat(f)
    # kernel timestamps are taken from the coarse clock: allow one tick
    slack = 20 * 10**6
    assert t0 - slack <= st.st_atime_ns <= t1 + slack
    assert t0 - slack <= st.st_mtime_ns <= t1 + slack
    assert st.st_ctime_ns >= st.st_mtime_ns - slack


def test_utime_omit(f):
    os.utime(f, ns=(10**9, 2 * 10**9))
    utimensat(f, UTIME_OMIT, (5, 6))
    st = os.stat(f)
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**9, 5 * 10**9 + 6)
    utimensat(f, (7, 8), UTIME_OMIT)
    st = os.stat(f)
    assert (st.st_atime_ns, st.st_mtime_ns) == (7 * 10**9 + 8, 5 * 10**9 + 6)
    utimensat(f, UTIME_OMIT, UTIME_NOW)
    st = os.stat(f)
    assert st.st_atime_ns == 7 * 10**9 + 8
    assert abs(st.st_mtime_ns - now_ns()) < 10**9
    utimensat(f, UTIME_NOW, UTIME_OMIT)
    assert abs(os.stat(f).st_atime_ns - now_ns()) < 10**9
    # both omitted: nothing changes, not even ctime
    c0 = os.stat(f).st_ctime_ns
    m0 = os.stat(f).st_mtime_ns
    time.sleep(0.01)
    utimensat(f, UTIME_OMIT, UTIME_OMIT)
    st = os.stat(f)
    assert st.st_ctime_ns == c0 and st.st_mtime_ns == m0


def test_utime_changes_ctime(f):
    c0 = os.stat(f).st_ctime_ns
    time.sleep(0.01)
    os.utime(f, ns=(10**9, 10**9))
    assert os.stat(f).st_ctime_ns > c0


def test_utime_symlink_nofollow(mnt, f):
    s = os.path.join(mnt, "s")
    os.symlink("f", s)
    os.utime(f, ns=(10**9, 10**9))
    os.utime(s, ns=(3 * 10**9, 4 * 10**9), follow_symlinks=False)
    assert os.lstat(s).st_mtime_ns == 4 * 10**9
    assert os.stat(f).st_mtime_ns == 10**9
    utimensat(s, UTIME_OMIT, (9, 9), follow=False)
    assert os.lstat(s).st_mtime_ns == 9 * 10**9 + 9
    assert os.lstat(s).st_atime_ns == 3 * 10**9


def test_utime_invalid(f):
    assert errno_of(utimensat, f, (0, 10**9), UTIME_OMIT) == errno.EINVAL
    assert errno_of(utimensat, f, (0, -1), UTIME_OMIT) == errno.EINVAL
    assert errno_of(utimensat, f + "missing", UTIME_NOW, UTIME_NOW) == \
        errno.ENOENT


def test_new_file_times(mnt):
    t0 = now_ns()
    p = os.path.join(mnt, "new")
    open(p, "w").close()
    st = os.stat(p)
    slack = 20 * 10**6
    assert st.st_atime_ns == st.st_mtime_ns == st.st_ctime_ns
    assert t0 - slack <= st.st_mtime_ns <= now_ns() + slack
