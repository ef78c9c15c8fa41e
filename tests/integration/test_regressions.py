# SPDX-License-Identifier: MIT
"""Regressions found by the differential fuzzer (tests/diff/difftest.py).

Every assertion here holds on kernel tmpfs (SHMEMFS_TEST_TARGET=tmpfs);
each test is the shrunk reproducer of one shmemfs mismatch."""

import errno
import os
import stat
import time

import pytest

from conftest import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, NOBODY,
                      errno_of, fallocate, run_as)

OLD = 10**9          # 2001-09-09: clearly "not now"


def _old_times(p):
    os.utime(p, ns=(OLD, OLD))
    st = os.stat(p)
    assert st.st_mtime_ns == OLD


def test_open_trunc_of_empty_file_sets_mtime_ctime(mnt):
    """open(O_TRUNC) of a file that is already empty still stamps mtime
    and ctime on tmpfs (do_truncate() with ATTR_MTIME|ATTR_CTIME|
    ATTR_OPEN); only truncate(2) by path leaves them alone when the size
    does not change.  difftest: open(CREAT); utime; open(CREAT|TRUNC)."""
    p = os.path.join(mnt, "b")
    os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    _old_times(p)
    c0 = os.stat(p).st_ctime_ns
    time.sleep(0.02)            # past the timestamp granularity
    os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600))
    st = os.stat(p)
    assert st.st_size == 0
    assert st.st_mtime_ns > OLD
    assert st.st_ctime_ns > c0


def test_truncate_by_path_same_size_keeps_mtime(mnt):
    """The counterpart the fix must keep: truncate(2) by path to the
    current size changes no timestamp (shmem_setattr(): update_ctime =
    false when the size stays)."""
    p = os.path.join(mnt, "b")
    os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    _old_times(p)
    c0 = os.stat(p).st_ctime_ns
    time.sleep(0.02)
    os.truncate(p, 0)
    st = os.stat(p)
    assert st.st_mtime_ns == OLD
    assert st.st_ctime_ns == c0


@pytest.mark.parametrize("pages,stamps", [
    ("none", False), ("data", True), ("fallocated", True),
    ("fallocated past the end", True), ("punched out", False)])
def test_truncate_by_path_same_size_stamps_if_file_has_pages(mnt, pages,
                                                             stamps):
    """But with pages allocated (written, fallocated, even past the end
    with KEEP_SIZE) a truncate that does not grow the file goes through
    shmem_truncate_range(), which stamps mtime and ctime even when the
    size stays.  difftest (mem=32k, seed 3101534): pwrite; truncate to
    the same size."""
    p = os.path.join(mnt, "b")
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        size = 10 * 4096
        if pages != "fallocated past the end":
            os.ftruncate(fd, size)
        if pages in ("data", "punched out"):
            os.pwrite(fd, b"x", 100)
        if pages == "punched out":
            fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0,
                      4096)
        if pages == "fallocated":
            fallocate(fd, 0, 0, 4096)
        if pages == "fallocated past the end":
            fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096)
            size = 0
    finally:
        os.close(fd)
    _old_times(p)
    c0 = os.stat(p).st_ctime_ns
    time.sleep(0.02)
    os.truncate(p, size)
    st = os.stat(p)
    assert st.st_size == size
    assert (st.st_mtime_ns != OLD) == stamps
    assert (st.st_ctime_ns != c0) == stamps
    assert st.st_blocks == (8 if pages in ("data", "fallocated") else 0)


@pytest.mark.needs_root
def test_open_trunc_by_unprivileged_owner_drops_suid_sgid(mnt):
    """Guard for the fix of the test above (negotiating atomic_o_trunc
    moves O_TRUNC into the daemon): an open(O_TRUNC) by a caller without
    CAP_FSETID still clears S_ISUID and S_ISGID (with group exec), as
    do_truncate() asks tmpfs to."""
    os.chmod(mnt, 0o777)
    p = os.path.join(mnt, "s")
    os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    os.chown(p, NOBODY, NOBODY)
    os.chmod(p, 0o6775)
    run_as(NOBODY, NOBODY, lambda: os.close(os.open(p, os.O_WRONLY |
                                                    os.O_TRUNC)))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o775


@pytest.mark.parametrize("kind", ["dir", "file", "symlink"])
def test_chown_noop_stamps_ctime(mnt, kind):
    """chown(path, -1, -1) changes nothing but still stamps ctime on tmpfs
    (chown_common() always passes ATTR_CTIME to notify_change()).  Under
    FUSE that arrives as a SETATTR with no attribute bits set.
    difftest: mkdir(e); chown(e, -1, -1)  (and symlink(b); lchown(b))."""
    p = os.path.join(mnt, "e")
    if kind == "dir":
        os.mkdir(p, 0o755)
    elif kind == "file":
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    else:
        os.symlink("nowhere", p)
    c0 = os.lstat(p).st_ctime_ns
    time.sleep(0.02)            # past the timestamp granularity
    os.chown(p, -1, -1, follow_symlinks=False)
    assert os.lstat(p).st_ctime_ns > c0
    if kind == "symlink":
        return
    c1 = os.stat(p).st_ctime_ns
    time.sleep(0.02)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.chown(fd, -1, -1)            # fchown
    finally:
        os.close(fd)
    assert os.stat(p).st_ctime_ns > c1


def _assert_enospc_stamps(p, call, *args):
    """call(*args) fails with ENOSPC yet moves the mtime and ctime of the
    empty file p."""
    _old_times(p)
    c0 = os.stat(p).st_ctime_ns
    time.sleep(0.02)
    assert errno_of(call, *args) == errno.ENOSPC
    st = os.stat(p)
    assert st.st_size == 0
    assert st.st_mtime_ns > OLD
    assert st.st_ctime_ns > c0


@pytest.mark.mount_opts("size=1m")
def test_write_failing_with_enospc_still_stamps_mtime_ctime(mnt):
    """shmem_file_write_iter() calls file_update_time() before it copies
    anything, so a write that fails with ENOSPC (not one byte written)
    still moves mtime and ctime on tmpfs.  difftest (size=1m): fallocate
    the rest of the space; pwrite -> ENOSPC."""
    fill = os.open(os.path.join(mnt, "fill"), os.O_RDWR | os.O_CREAT, 0o644)
    p = os.path.join(mnt, "b")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fallocate(fill, 0, 0, 1 << 20)          # every block of the mount
        _assert_enospc_stamps(p, os.pwrite, fd, b"x" * 22, 20481)
    finally:
        os.close(fd)
        os.close(fill)


@pytest.mark.mount_opts("size=1m")
def test_copy_file_range_failing_with_enospc_still_stamps_mtime_ctime(mnt):
    """tmpfs copies through splice and the destination's write stamps
    its times before it finds no space; FUSE keeps its cached attributes
    when the request fails, so the daemon must drop them.  difftest
    (size=1m, seed 2000359): copy_range into a full mount -> ENOSPC."""
    fill = os.open(os.path.join(mnt, "fill"), os.O_RDWR | os.O_CREAT, 0o644)
    src = os.open(os.path.join(mnt, "src"), os.O_RDWR | os.O_CREAT, 0o644)
    p = os.path.join(mnt, "dst")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(src, b"y" * 100)
        fallocate(fill, 0, 0, (1 << 20) - 4096)     # every block left
        _assert_enospc_stamps(p, os.copy_file_range, src, fd, 10, 0, 94386)
    finally:
        os.close(fd)
        os.close(src)
        os.close(fill)


@pytest.mark.mount_opts("size=1m")
def test_failed_fallocate_keeps_earlier_fallocated_pages_as_data(mnt):
    """shmem_fallocate() takes the pages of the range in order; a page
    fallocated by an earlier call is made uptodate (data for SEEK_DATA)
    when reached, and stays so when a later page then finds no space and
    the call fails with ENOSPC (only the pages this call added are
    undone).  difftest (size=1m): fallocate(KEEP_SIZE) one page; fill;
    fallocate over it -> ENOSPC."""
    P = 4096
    p = os.path.join(mnt, "c")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    fill = os.open(os.path.join(mnt, "fill"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 80 * P)
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 15 * P, P)   # page 15
        with pytest.raises(OSError) as e:
            os.lseek(fd, 0, os.SEEK_DATA)               # still a hole
        assert e.value.errno == errno.ENXIO
        total = os.statvfs(mnt).f_blocks
        fallocate(fill, 0, 0, (total - 1 - 10) * P)     # 10 blocks left
        assert os.statvfs(mnt).f_bfree == 10
        # pages 6..73: 9 new ones (6-14) fit, page 15 is reached and made
        # data, 16 is the 10th new one, 17 finds no space
        assert errno_of(fallocate, fd, 0, 6 * P, 68 * P) == errno.ENOSPC
        assert os.statvfs(mnt).f_bfree == 10            # new pages undone
        assert os.fstat(fd).st_blocks == P // 512
        assert os.lseek(fd, 0, os.SEEK_DATA) == 15 * P
        assert os.lseek(fd, 15 * P, os.SEEK_HOLE) == 16 * P
    finally:
        os.close(fill)
        os.close(fd)
