# SPDX-License-Identifier: MIT
"""Capabilities of callers that live in a user namespace of their own.

tmpfs judges CAP_SYS_ADMIN (listing trusted.* names) and CAP_FSETID
(keeping S_ISUID/S_ISGID over open(O_TRUNC)) with capable(), in the
initial user namespace.  "unshare -r" gives an ordinary user a full set
of capabilities, but only inside the new namespace; as far as the mount
(made in the initial namespace) is concerned the caller has none.  The
same holds for root itself once inside a child namespace: its uid still
maps to 0, but its capabilities stop at the namespace's border.

Each child below does what "unshare -r" does: unshare(CLONE_NEWUSER),
then map its own uid and gid to 0."""

import ctypes
import ctypes.util
import errno
import fcntl
import os
import stat

import pytest

from conftest import NOBODY, errno_of, in_child

pytestmark = pytest.mark.needs_root

CLONE_NEWUSER = 0x10000000
PR_SET_DUMPABLE = 4
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def enter_userns():
    """unshare -r: a new user namespace where our uid and gid are 0."""
    uid, gid = os.geteuid(), os.getegid()
    # setuid() left us non-dumpable, which makes /proc/self root's
    _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    if _libc.unshare(CLONE_NEWUSER) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare(CLONE_NEWUSER): " + os.strerror(e))
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", "0 %d 1" % uid)
    _write("/proc/self/gid_map", "0 %d 1" % gid)


def become_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def nobody_in_userns():
    """An ordinary user after "unshare -r"."""
    become_nobody()
    enter_userns()


def in_userns(fn, *args, as_root=False):
    """fn(*args) in a child that is root of a fresh user namespace: an
    ordinary user (uid 65534 outside), or with as_root the real root."""
    return in_child(fn, *args,
                    prologue=enter_userns if as_root else nobody_in_userns)


def _cap_eff():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def _sysctl(name):
    """The integer value of sysctl @name (dotted), or None if absent."""
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return int(f.read())
    except OSError:
        return None


@pytest.fixture(scope="module", autouse=True)
def userns_available():
    """Skip unless an ordinary user may create a user namespace here."""
    if _sysctl("user.max_user_namespaces") is None:
        pytest.skip("kernel without user namespaces")
    # unprivileged_userns_clone exists only on Debian-patched kernels
    for name in ("user.max_user_namespaces",
                 "kernel.unprivileged_userns_clone"):
        if _sysctl(name) == 0:
            pytest.skip("user namespaces are disabled for ordinary "
                        "users (%s = 0)" % name)
    try:
        caps = in_userns(_cap_eff)
    except OSError as e:
        pytest.skip("an ordinary user cannot create a user namespace "
                    "here: %s" % e)
    # the premise of the tests: CapEff is full inside the namespace
    assert caps & (1 << 21), "no CAP_SYS_ADMIN inside the user namespace"


def _file(mnt, name, mode):
    p = os.path.join(mnt, name)
    with open(p, "wb") as f:
        f.write(b"data")
    os.chown(p, 0, 0)
    os.chmod(p, mode)
    return p


@pytest.mark.parametrize("as_root", [False, True], ids=["user", "root"])
def test_listxattr_hides_trusted_from_userns_root(mnt, as_root):
    p = _file(mnt, "f", 0o644)
    os.setxattr(p, "user.u", b"1")
    os.setxattr(p, "trusted.t", b"2")
    assert sorted(os.listxattr(p)) == ["trusted.t", "user.u"]
    # the length query and the list itself both leave trusted.* out
    assert in_userns(os.listxattr, p, as_root=as_root) == ["user.u"]
    assert in_userns(lambda: len(os.listxattr(p)),
                     as_root=as_root) == 1
    assert in_userns(errno_of, os.getxattr, p, "trusted.t",
                     as_root=as_root) == errno.ENODATA


@pytest.mark.parametrize("as_root", [False, True], ids=["user", "root"])
def test_open_trunc_from_userns_clears_suid_sgid(mnt, as_root):
    """chmod 6777 by root, then open(O_TRUNC) from a user namespace: the
    caller lacks CAP_FSETID where it counts, so S_ISUID and S_ISGID (with
    group execute) go, as on tmpfs."""
    p = _file(mnt, "s", 0o6777)
    in_userns(lambda: os.close(os.open(p, os.O_WRONLY | os.O_TRUNC)),
              as_root=as_root)
    st = os.stat(p)
    assert st.st_size == 0
    assert stat.S_IMODE(st.st_mode) == 0o777


def test_open_trunc_by_root_keeps_suid_sgid(mnt):
    """The control: root in the initial namespace has CAP_FSETID."""
    p = _file(mnt, "s", 0o6777)
    in_child(lambda: os.close(os.open(p, os.O_WRONLY | os.O_TRUNC)))
    st = os.stat(p)
    assert st.st_size == 0
    assert stat.S_IMODE(st.st_mode) == 0o6777


@pytest.mark.shmemfs_only
def test_swapoff_refused_to_userns_root(mnt):
    """swapoff/swapon by shmemctl need CAP_SYS_ADMIN (or owning the
    mount): root inside a child namespace, whose uid still maps to 0,
    has neither.  Real root gets the daemon's answer (no swap: EINVAL)."""
    swapoff = 0xE502                    # _IO(0xE5, 2), include/shmemfs_ioctl.h

    def ioctl():
        fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return errno_of(fcntl.ioctl, fd, swapoff)
        finally:
            os.close(fd)
    assert in_child(ioctl) == errno.EINVAL
    assert in_userns(ioctl, as_root=True) == errno.EPERM
    assert in_userns(ioctl) == errno.EPERM
