# SPDX-License-Identifier: MIT
"""Privileges a change takes away, against kernel tmpfs.

The VFS clears S_ISUID, S_ISGID (with group execute, or for a caller
outside the file's group) and removes security.capability when a caller
without CAP_FSETID writes to, truncates or open(O_TRUNC)s a file, and
on every chown of a non-directory.  shmemfs negotiates
FUSE_HANDLE_KILLPRIV_V2, so the kernel leaves that to the daemon (and
stops asking for security.capability before every write): each case
below runs on a kernel tmpfs and on the mount, and the outcome (errno,
mode, capability present, ctime changed) must be the kernel's."""

import os
import shutil
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import NOBODY, SHMEMCTL_BIN, TRANSPORT, in_child

pytestmark = pytest.mark.needs_root

CAP = "security.capability"
# VFS_CAP_REVISION_2, CAP_NET_RAW (13) permitted, nothing inherited
CAP_VALUE = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)
ROOT = (0, 0, ())
USER = (NOBODY, NOBODY, ())
USER_G100 = (NOBODY, NOBODY, (100,))
MODES = (0o4666, 0o2666, 0o2676, 0o6777, 0o0666)


@pytest.fixture
def ktmpfs():
    d = tempfile.mkdtemp(prefix="shmemfs-ktmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", d],
                   check=True)
    yield d
    subprocess.run(["umount", d], check=False)
    shutil.rmtree(d, ignore_errors=True)


def _op(op, path, src):
    """What the caller does to the file; returns nothing or raises."""
    if op == "write":
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, b"x", 1)
        finally:
            os.close(fd)
    elif op == "truncate":
        os.truncate(path, 2)
    elif op == "truncate_same":
        os.truncate(path, 4)
    elif op == "ftruncate":
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, 2)
        finally:
            os.close(fd)
    elif op == "otrunc":
        os.close(os.open(path, os.O_WRONLY | os.O_TRUNC))
    elif op == "copy_file_range":
        fi = os.open(src, os.O_RDONLY)
        fo = os.open(path, os.O_WRONLY)
        try:
            os.copy_file_range(fi, fo, 2, 0, 1)
        finally:
            os.close(fi)
            os.close(fo)
    elif op == "chgrp100":
        os.chown(path, -1, 100)
    elif op == "chown_user":
        os.chown(path, NOBODY, NOBODY)
    elif op == "chown_same":
        os.chown(path, -1, -1)
    else:
        raise AssertionError(op)


def _as(caller, fn, *args):
    uid, gid, groups = caller

    def become():
        os.setgroups(list(groups))
        os.setgid(gid)
        os.setuid(uid)

    def call():
        try:
            fn(*args)
        except OSError as e:
            return e.errno
        return 0
    return in_child(call, prologue=become)


def _has_cap(path):
    return CAP in os.listxattr(path)


def run_cases(root, cases):
    """Set every case's file up, then (after one pause, so that ctime
    moves) do each case's operation as its caller; the outcomes."""
    d = os.path.join(root, "kp")
    os.mkdir(d)
    os.chmod(d, 0o777)
    src = os.path.join(d, "src")
    with open(src, "wb") as f:
        f.write(b"data")
    os.chmod(src, 0o644)
    files = []
    for i, (op, mode, owner, caller, cap) in enumerate(cases):
        p = os.path.join(d, "f%d" % i)
        with open(p, "wb") as f:
            f.write(b"abcd")
        os.chown(p, *owner)
        os.chmod(p, mode)
        if cap:
            os.setxattr(p, CAP, CAP_VALUE)
        files.append(p)
    before = [os.stat(p).st_ctime_ns for p in files]
    time.sleep(0.05)
    out = []
    for p, ctime, (op, mode, owner, caller, cap) in zip(files, before,
                                                         cases):
        err = _as(caller, _op, op, p, src)
        st = os.stat(p)
        out.append(((op, oct(mode), owner, caller, cap),
                    err, oct(st.st_mode), _has_cap(p),
                    st.st_ctime_ns != ctime))
    return out


def _data_cases(op, callers):
    cases = []
    for caller in callers:
        for owner in ((0, 0), (0, NOBODY)):
            for mode in MODES:
                cases.append((op, mode, owner, caller, False))
        # Not compared: root writing to a set-id file that has a file
        # capability, which loses its set-id bits here (README,
        # "Differences from tmpfs")
        for mode in ((0o4666, 0o0666) if caller != ROOT else (0o0666,)):
            cases.append((op, mode, (0, 0), caller, True))
    return cases


def assert_same(mnt, ktmpfs, cases):
    os.chmod(mnt, 0o1777)
    want = run_cases(ktmpfs, cases)
    got = run_cases(mnt, cases)
    bad = [(w, g) for w, g in zip(want, got) if w != g]
    assert not bad, "\n".join("tmpfs %r\nours  %r" % b for b in bad)


@pytest.mark.parametrize("op", ["write", "truncate", "truncate_same",
                                "ftruncate", "otrunc", "copy_file_range"])
def test_change_drops_privileges_as_tmpfs(mnt, ktmpfs, op):
    """A user without CAP_FSETID (in the file's group or not) and root
    (which keeps S_ISUID/S_ISGID but loses the capability on tmpfs)."""
    assert_same(mnt, ktmpfs, _data_cases(op, (USER, ROOT)))


def test_chown_drops_privileges_as_tmpfs(mnt, ktmpfs):
    """chown by root, and chgrp by the owner to a group it is in, from a
    group it is in or not (the old group decides for S_ISGID without
    group execute)."""
    cases = []
    for mode in MODES:
        for cap in (False, True):
            cases.append(("chown_user", mode, (0, 0), ROOT, cap))
            cases.append(("chgrp100", mode, (NOBODY, 0), USER_G100, cap))
            cases.append(("chgrp100", mode, (NOBODY, NOBODY), USER_G100,
                          cap))
            # chown(-1, -1): a SETATTR with no field set
            cases.append(("chown_same", mode, (NOBODY, 0), USER, cap))
            cases.append(("chown_same", mode, (NOBODY, 0), ROOT, cap))
    assert_same(mnt, ktmpfs, cases)


def _getxattrs(mount, fn):
    """GETXATTR requests the daemon (-o debug) logged during fn()."""
    def count():
        return mount.log().count("opcode: GETXATTR")
    before = count()
    fn()
    return count() - before


@pytest.mark.parametrize("caller", [ROOT, USER], ids=["root", "user"])
def test_write_asks_no_capability(mount, caller):
    """With FUSE_HANDLE_KILLPRIV_V2 the kernel remembers (S_NOSEC) that
    a file has nothing to kill: it asks for security.capability before
    the first write at most, not before every write(2)."""
    m = mount(["debug"], allowed_stderr=(r".",))
    p = os.path.join(m.path, "f")
    with open(p, "wb"):
        pass
    os.chmod(p, 0o666)

    def writes():
        def w():
            fd = os.open(p, os.O_WRONLY)
            try:
                for i in range(50):
                    os.pwrite(fd, b"x" * 4096, i * 4096)
            finally:
                os.close(fd)
        assert _as(caller, w) == 0
    n = _getxattrs(m, writes)
    # a few for the ACLs and the first check; one per write without it
    assert n <= 5, "%d GETXATTR for 50 writes (%s)" % (n, TRANSPORT)


def test_write_still_drops_suid_after_nosec(mnt):
    """The kernel stops checking once a file was seen clean; a later
    chmod u+s or a capability set through the mount must still go on
    the next write by a user (the daemon does it)."""
    p = os.path.join(mnt, "f")
    with open(p, "wb") as f:
        f.write(b"abcd")
    os.chmod(p, 0o666)

    def w():
        fd = os.open(p, os.O_WRONLY)
        try:
            os.pwrite(fd, b"x", 0)
        finally:
            os.close(fd)
    assert _as(USER, w) == 0
    assert _as(USER, w) == 0
    os.chmod(p, 0o4666)
    os.setxattr(p, CAP, CAP_VALUE)
    assert _as(USER, w) == 0
    assert oct(os.stat(p).st_mode & 0o7777) == oct(0o666)
    assert not _has_cap(p)


@pytest.mark.skipif(bool(os.environ.get("SHMEMFS_WRAPPER")),
                    reason="a restart re-executes /proc/self/exe")
def test_killpriv_kept_over_live_restart(mount):
    """The new daemon of `shmemctl restart` replays INIT; the kernel
    keeps what was negotiated, and the new daemon honours the flags."""
    m = mount(["nouring", "debug"], allowed_stderr=(r".",))
    p = os.path.join(m.path, "f")
    with open(p, "wb") as f:
        f.write(b"abcd")
    os.chmod(p, 0o6777)
    r = subprocess.run([SHMEMCTL_BIN, "restart", m.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert r.returncode == 0, r.stderr

    def writes():
        def w():
            fd = os.open(p, os.O_WRONLY)
            try:
                for i in range(50):
                    os.pwrite(fd, b"x" * 4096, i * 4096)
            finally:
                os.close(fd)
        assert _as(USER, w) == 0
    n = _getxattrs(m, writes)
    assert oct(os.stat(p).st_mode & 0o7777) == oct(0o777)
    assert n <= 5, "%d GETXATTR for 50 writes after a restart" % n
