# SPDX-License-Identifier: MIT
"""Regressions found by the differential fuzzer (tests/diff/difftest.py).

Every assertion here holds on kernel tmpfs (SHMEMFS_TEST_TARGET=tmpfs);
each test is the shrunk reproducer of one shmemfs mismatch."""

import os
import stat
import time

import pytest

from conftest import NOBODY, run_as

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
