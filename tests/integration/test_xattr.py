# SPDX-License-Identifier: MIT
"""Extended attributes: user., trusted. and security. namespaces, flags,
size limits and errnos (what kernel tmpfs answers)."""

import ctypes
import ctypes.util
import errno
import os
import time

import pytest

from conftest import errno_of

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_void_p, ctypes.c_size_t]
_libc.getxattr.restype = ctypes.c_ssize_t
_libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                            ctypes.c_size_t]
_libc.listxattr.restype = ctypes.c_ssize_t


def raw_getxattr(path, name, size):
    """getxattr(2) with an explicit buffer size: returns the length, or
    the errno name."""
    buf = ctypes.create_string_buffer(max(size, 1))
    r = _libc.getxattr(os.fsencode(path), name.encode(),
                       buf if size else None, size)
    return r if r >= 0 else errno.errorcode[ctypes.get_errno()]


def raw_listxattr(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    r = _libc.listxattr(os.fsencode(path), buf if size else None, size)
    return r if r >= 0 else errno.errorcode[ctypes.get_errno()]


@pytest.fixture
def f(mnt):
    p = os.path.join(mnt, "f")
    with open(p, "wb") as fh:
        fh.write(b"data")
    return p


def test_set_get_list_remove(f):
    assert os.listxattr(f) == []
    os.setxattr(f, "user.one", b"1")
    os.setxattr(f, "user.two", b"\0binary\xff")
    os.setxattr(f, "user.empty", b"")
    assert os.getxattr(f, "user.one") == b"1"
    assert os.getxattr(f, "user.two") == b"\0binary\xff"
    assert os.getxattr(f, "user.empty") == b""
    assert sorted(os.listxattr(f)) == ["user.empty", "user.one", "user.two"]
    os.setxattr(f, "user.one", b"replaced, and longer")
    assert os.getxattr(f, "user.one") == b"replaced, and longer"
    os.setxattr(f, "user.one", b"s")
    assert os.getxattr(f, "user.one") == b"s"
    os.removexattr(f, "user.two")
    assert sorted(os.listxattr(f)) == ["user.empty", "user.one"]
    assert errno_of(os.getxattr, f, "user.two") == errno.ENODATA
    with open(f, "rb") as fh:
        assert fh.read() == b"data"           # data untouched


def test_missing_and_flags(f):
    assert errno_of(os.getxattr, f, "user.nope") == errno.ENODATA
    assert errno_of(os.removexattr, f, "user.nope") == errno.ENODATA
    assert errno_of(os.setxattr, f, "user.x", b"1", os.XATTR_REPLACE) == \
        errno.ENODATA
    os.setxattr(f, "user.x", b"1", os.XATTR_CREATE)
    assert errno_of(os.setxattr, f, "user.x", b"2", os.XATTR_CREATE) == \
        errno.EEXIST
    assert os.getxattr(f, "user.x") == b"1"
    os.setxattr(f, "user.x", b"3", os.XATTR_REPLACE)
    assert os.getxattr(f, "user.x") == b"3"
    both = os.XATTR_CREATE | os.XATTR_REPLACE
    assert errno_of(os.setxattr, f, "user.x", b"4", both) == errno.EEXIST
    assert errno_of(os.setxattr, f, "user.y", b"4", both) == errno.ENODATA
    assert errno_of(os.setxattr, f, "user.x", b"4", 4) == errno.EINVAL
    assert os.getxattr(f, "user.x") == b"3"


@pytest.mark.needs_root
@pytest.mark.parametrize("ns", ["user", "trusted", "security"])
def test_name_length_limit(f, ns):
    ok = ns + "." + "n" * (255 - len(ns) - 1)      # 255 bytes in all
    bad = ns + "." + "n" * (256 - len(ns) - 1)     # 256
    assert len(ok) == 255 and len(bad) == 256
    os.setxattr(f, ok, b"v")
    assert os.getxattr(f, ok) == b"v"
    assert ok in os.listxattr(f)
    assert errno_of(os.setxattr, f, bad, b"v") == errno.ERANGE
    assert errno_of(os.getxattr, f, bad) == errno.ERANGE
    assert errno_of(os.removexattr, f, bad) == errno.ERANGE
    os.removexattr(f, ok)


@pytest.mark.needs_root
@pytest.mark.parametrize("ns", ["user", "trusted", "security"])
def test_value_size_limit(f, ns):
    big = bytes(range(256)) * 256
    assert len(big) == 65536
    os.setxattr(f, ns + ".big", big)
    assert os.getxattr(f, ns + ".big") == big
    assert raw_getxattr(f, ns + ".big", 0) == 65536
    assert errno_of(os.setxattr, f, ns + ".big2", big + b"x") == errno.E2BIG
    assert errno_of(os.getxattr, f, ns + ".big2") == errno.ENODATA
    assert errno_of(os.setxattr, f, ns + ".big", big + b"x") == errno.E2BIG
    assert os.getxattr(f, ns + ".big") == big


def test_buffer_sizes(f):
    os.setxattr(f, "user.a", b"12345")
    assert raw_getxattr(f, "user.a", 0) == 5        # size query
    assert raw_getxattr(f, "user.a", 3) == "ERANGE"
    assert raw_getxattr(f, "user.a", 5) == 5
    assert raw_getxattr(f, "user.a", 100) == 5
    assert raw_getxattr(f, "user.missing", 0) == "ENODATA"
    assert raw_listxattr(f, 0) == len("user.a\0")
    assert raw_listxattr(f, 3) == "ERANGE"
    assert raw_listxattr(f, 7) == 7


@pytest.mark.needs_root
def test_namespaces(f):
    os.setxattr(f, "trusted.t", b"T")
    os.setxattr(f, "security.s", b"S")
    os.setxattr(f, "user.u", b"U")
    assert sorted(os.listxattr(f)) == ["security.s", "trusted.t", "user.u"]
    assert os.getxattr(f, "trusted.t") == b"T"
    assert os.getxattr(f, "security.s") == b"S"
    os.removexattr(f, "trusted.t")
    assert sorted(os.listxattr(f)) == ["security.s", "user.u"]
    E = errno.EOPNOTSUPP
    assert errno_of(os.setxattr, f, "foo.bar", b"1") == E
    assert errno_of(os.getxattr, f, "foo.bar") == E
    assert errno_of(os.removexattr, f, "foo.bar") == E
    assert errno_of(os.setxattr, f, "user", b"1") == E
    assert errno_of(os.setxattr, f, "usera", b"1") == E
    assert errno_of(os.setxattr, f, "system.foo", b"1") == E
    assert errno_of(os.getxattr, f, "system.foo") == E
    for ns in ("user.", "trusted.", "security."):
        assert errno_of(os.setxattr, f, ns, b"1") == errno.EINVAL
        assert errno_of(os.getxattr, f, ns) == errno.EINVAL
    assert errno_of(os.setxattr, f, "", b"1") == errno.ERANGE
    assert errno_of(os.getxattr, f, "") == errno.ERANGE


def test_user_xattr_file_types(mnt):
    """user.* exists only on regular files and directories."""
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    os.setxattr(d, "user.dir", b"D")
    assert os.getxattr(d, "user.dir") == b"D"
    assert os.listxattr(d) == ["user.dir"]
    s = os.path.join(mnt, "s")
    os.symlink("d", s)
    assert errno_of(os.setxattr, s, "user.x", b"1",
                    follow_symlinks=False) == errno.EPERM
    assert errno_of(os.getxattr, s, "user.x",
                    follow_symlinks=False) == errno.ENODATA
    assert errno_of(os.removexattr, s, "user.x",
                    follow_symlinks=False) == errno.EPERM
    assert os.listxattr(s, follow_symlinks=False) == []
    # following the link reaches the directory
    assert os.getxattr(s, "user.dir") == b"D"
    p = os.path.join(mnt, "fifo")
    os.mkfifo(p)
    assert errno_of(os.setxattr, p, "user.x", b"1") == errno.EPERM


@pytest.mark.needs_root
def test_trusted_on_symlink_and_fifo(mnt):
    s = os.path.join(mnt, "s")
    os.symlink("target", s)
    os.setxattr(s, "trusted.l", b"L", follow_symlinks=False)
    assert os.getxattr(s, "trusted.l", follow_symlinks=False) == b"L"
    assert os.listxattr(s, follow_symlinks=False) == ["trusted.l"]
    p = os.path.join(mnt, "fifo")
    os.mkfifo(p)
    os.setxattr(p, "security.p", b"P")
    assert os.getxattr(p, "security.p") == b"P"


def test_many_xattrs(f):
    names = ["user.attr%03d" % i for i in range(200)]
    for i, n in enumerate(names):
        os.setxattr(f, n, b"v" * i)
    assert sorted(os.listxattr(f)) == names
    for i, n in enumerate(names):
        assert os.getxattr(f, n) == b"v" * i
    for n in names[::2]:
        os.removexattr(f, n)
    assert sorted(os.listxattr(f)) == names[1::2]


def test_xattrs_follow_the_inode(mnt):
    a = os.path.join(mnt, "a")
    open(a, "w").close()
    os.setxattr(a, "user.k", b"v")
    os.link(a, os.path.join(mnt, "b"))
    os.rename(a, os.path.join(mnt, "c"))
    assert os.getxattr(os.path.join(mnt, "b"), "user.k") == b"v"
    assert os.getxattr(os.path.join(mnt, "c"), "user.k") == b"v"
    os.setxattr(os.path.join(mnt, "b"), "user.k2", b"v2")
    assert sorted(os.listxattr(os.path.join(mnt, "c"))) == \
        ["user.k", "user.k2"]
    # a new file with the old name starts empty
    open(a, "w").close()
    assert os.listxattr(a) == []


def test_fd_xattrs_on_unlinked_file(mnt):
    p = os.path.join(mnt, "u")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    os.unlink(p)
    os.setxattr(fd, "user.fd", b"yes")
    assert os.getxattr(fd, "user.fd") == b"yes"
    assert os.listxattr(fd) == ["user.fd"]
    os.removexattr(fd, "user.fd")
    assert os.listxattr(fd) == []
    os.close(fd)


def test_xattr_changes_ctime_only(f):
    os.utime(f, ns=(10**9, 10**9))
    c0 = os.stat(f).st_ctime_ns
    time.sleep(0.01)
    os.setxattr(f, "user.t", b"1")
    st = os.stat(f)
    assert st.st_ctime_ns > c0
    assert st.st_mtime_ns == 10**9 and st.st_atime_ns == 10**9
    c1 = st.st_ctime_ns
    time.sleep(0.01)
    os.removexattr(f, "user.t")
    assert os.stat(f).st_ctime_ns > c1
