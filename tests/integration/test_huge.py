# SPDX-License-Identifier: MIT
"""Huge pages (huge=) through the real daemon.

What a 2 MiB folio charges (st_blocks, statfs), st_blksize and where
folios are split were each checked on a kernel tmpfs of Linux 6.18 with
the same huge= (SHMEMFS_TEST_TARGET=tmpfs runs these tests there); the
differential test (tests/diff) compares the policies op by op.  The rest
(stats, host THP, shmemctl huge, swap) is shmemfs's own.
"""

import ctypes
import fcntl
import hashlib
import json
import os
import subprocess
import tempfile
import time

import pytest

from conftest import SHMEMCTL_BIN, WRAPPER, errno_of, run_as, sha_of, wait_for

MiB = 1 << 20
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
SHMEMFS_IOC_HUGE_ADVISE = (1 << 30) | (4 << 16) | (0xE5 << 8) | 10

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                            ctypes.c_int64]


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def blocks(path):
    return os.stat(path).st_blocks


def stats(path):
    out = subprocess.run([SHMEMCTL_BIN, "stats", path, "--json"],
                         check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


def anon_huge_kb(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    return 0


def host_thp():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


# ---- the policies, as kernel tmpfs has them ---------------------------------

def test_always_one_byte_takes_a_folio(mount):
    """huge=always: a 1-byte file holds a whole 2 MiB folio (4096
    blocks, charged to df too), and st_blksize is 2 MiB."""
    m = mount(["huge=always", "size=64m"])
    p = os.path.join(m.path, "a")
    free0 = os.statvfs(m.path).f_bfree
    with open(p, "wb") as f:
        f.write(b"x")
    st = os.stat(p)
    assert st.st_blocks == 4096
    assert st.st_blksize == 2 * MiB
    assert free0 - os.statvfs(m.path).f_bfree == 512
    # a read of a hole allocates nothing
    q = os.path.join(m.path, "sparse")
    open(q, "wb").close()
    os.truncate(q, 4 * MiB)
    with open(q, "rb") as f:
        assert f.read() == bytes(4 * MiB)
    assert blocks(q) == 0
    os.unlink(p)
    # (FUSE's FORGET, which frees it, arrives after unlink returns)
    assert wait_for(lambda: os.statvfs(m.path).f_bfree == free0)


def test_always_truncate_and_punch_free_cut_pages(mount):
    """A truncate or punch hole inside a folio splits it and frees the
    cut pages (and, as tmpfs's split does, those past end of file)."""
    m = mount(["huge=always", "size=64m"])
    p = os.path.join(m.path, "d")
    with open(p, "wb") as f:
        f.write(bytes(2 * MiB))
    assert blocks(p) == 4096
    os.truncate(p, MiB + 1)
    assert blocks(p) == 2056                     # pages 0..256 stay
    fd = os.open(p, os.O_RDWR)
    try:
        # a hole after the split gets the largest empty aligned folio:
        # page 384 -> pages 384..511 (order 7)
        os.pwrite(fd, bytes(4096), 384 * 4096)
        assert os.fstat(fd).st_blocks == 2056 + 1024
    finally:
        os.close(fd)
    e = os.path.join(m.path, "e")
    with open(e, "wb") as f:
        f.write(bytes(2 * MiB))
    fd = os.open(e, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192)
        assert os.fstat(fd).st_blocks == 4096 - 16
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB, MiB)
        assert os.fstat(fd).st_blocks == 4096 - 16 - 2048
    finally:
        os.close(fd)
    # a punch that frees no whole page still splits a folio reaching
    # past end of file, and its pages there go
    g = os.path.join(m.path, "g")
    with open(g, "wb") as f:
        f.write(bytes(130270))
    assert blocks(g) == 4096
    fd = os.open(g, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2029, 4096)
        assert os.fstat(fd).st_blocks == 256
    finally:
        os.close(fd)


def test_always_fallocate_by_folio(mount):
    """fallocate takes whole folios; a write into one makes all of it
    data for SEEK_DATA/SEEK_HOLE, as tmpfs marks the folio uptodate."""
    m = mount(["huge=always", "size=64m"])
    p = os.path.join(m.path, "f")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fallocate(fd, 0, 0, 4096)
        assert os.fstat(fd).st_blocks == 4096
    finally:
        os.close(fd)
    p = os.path.join(m.path, "g")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fallocate(fd, 0, 0, 3 * MiB)
        assert os.fstat(fd).st_blocks == 8192
        assert errno_of(os.lseek, fd, 0, os.SEEK_DATA) == 6  # ENXIO
        os.pwrite(fd, b"y", 5000)
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        assert os.lseek(fd, 4096, os.SEEK_HOLE) == 2 * MiB
    finally:
        os.close(fd)


def test_within_size(mount):
    """huge=within_size: only folios that end within the file; st_blksize
    is 2 MiB once the file is larger than one page."""
    m = mount(["huge=within_size", "size=64m"])
    a = os.path.join(m.path, "a")
    with open(a, "wb") as f:
        f.write(b"x")
    assert (blocks(a), os.stat(a).st_blksize) == (8, 4096)
    c = os.path.join(m.path, "c")
    open(c, "wb").close()
    os.truncate(c, MiB)
    assert os.stat(c).st_blksize == 2 * MiB
    fd = os.open(c, os.O_WRONLY)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)
    assert blocks(c) == 2048                   # a 1 MiB folio (order 8)
    # one write(2) of 4095 bytes across a page boundary, extending an
    # empty file: tmpfs sizes the first page's folio by the write's end
    b = os.path.join(m.path, "b")
    fd = os.open(b, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, bytes(4095), 1778204)
        assert os.fstat(fd).st_blocks == 32
    finally:
        os.close(fd)


def test_never_and_advise_use_small_pages(mount):
    for pol in ("never", "advise"):
        m = mount(["huge=" + pol, "size=64m"])
        p = os.path.join(m.path, "d")
        with open(p, "wb") as f:
            f.write(bytes(2 * MiB + 1))
        st = os.stat(p)
        assert (st.st_blocks, st.st_blksize) == (4104, 4096)


def test_enospc_shrinks_folios_past_eof(mount):
    """size= full: before refusing a folio tmpfs splits the folios that
    reach past end of file and frees their tails, then tries again."""
    m = mount(["huge=always", "size=4m"])
    a = os.path.join(m.path, "a")
    b = os.path.join(m.path, "b")
    with open(a, "wb") as f:
        f.write(b"x")
    with open(b, "wb") as f:
        f.write(b"x")
    assert blocks(a) == blocks(b) == 4096
    c = os.path.join(m.path, "c")
    with open(c, "wb") as f:
        f.write(b"x")
    assert blocks(c) == 4096
    assert blocks(a) == blocks(b) == 8


# ---- shmemfs's own ----------------------------------------------------------

@pytest.mark.shmemfs_only
def test_64m_in_huge_folios_backed_by_host_thp(mount):
    """64 MiB written to a huge=always mount: at least 32 folios in
    huge_pages, and the daemon's AnonHugePages grows with them."""
    if not host_thp():
        pytest.skip("transparent huge pages are off on this host")
    m = mount(["huge=always", "size=256m"])
    pid = m.proc.pid
    before = anon_huge_kb(pid)
    p = os.path.join(m.path, "big")
    with open(p, "wb") as f:
        for _ in range(64):
            f.write(bytes(MiB))
    st = stats(m.path)
    assert st["huge_pages"] >= 32, st
    assert st["huge_pages"] + st["huge_fallbacks"] == 32, st
    grown = anon_huge_kb(pid) - before
    if WRAPPER:
        pytest.skip("AnonHugePages of a wrapped daemon (%d kB grown)" % grown)
    assert grown >= 32 * 2048 * 3 // 4, (grown, st)
    os.unlink(p)


@pytest.mark.shmemfs_only
def test_stats_count_splits(mount):
    m = mount(["huge=always", "size=64m"])
    p = os.path.join(m.path, "d")
    with open(p, "wb") as f:
        f.write(bytes(4 * MiB))
    st = stats(m.path)
    assert (st["huge_pages"], st["huge_splits"]) == (2, 0), st
    os.truncate(p, 3 * MiB)
    st = stats(m.path)
    assert (st["huge_pages"], st["huge_splits"]) == (1, 1), st
    os.unlink(p)
    assert wait_for(lambda: stats(m.path)["huge_pages"] == 0)


@pytest.mark.shmemfs_only
def test_shmemctl_huge_advise(mount):
    """huge=advise: `shmemctl huge FILE on` stands for madvise
    (MADV_HUGEPAGE), which FUSE never shows the daemon; it needs write
    permission on FILE, like a write."""
    m = mount(["huge=advise", "size=64m"])
    p = os.path.join(m.path, "a")
    with open(p, "wb") as f:
        f.write(b"x")
    os.chmod(p, 0o644)
    r = subprocess.run([SHMEMCTL_BIN, "huge", p, "on"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert os.stat(p).st_blksize == 2 * MiB
    fd = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes(4096), 2 * MiB)
    finally:
        os.close(fd)
    assert blocks(p) == 8 + 4096            # page 0 small, then a folio
    # someone without write permission may not
    uid = 65534
    r = run_as(uid, uid, lambda: subprocess.run(
        [SHMEMCTL_BIN, "huge", p, "off"], capture_output=True).returncode)
    assert r == 1
    # a descriptor open only for reading is refused as a write would be
    fd = os.open(p, os.O_RDONLY)
    try:
        assert errno_of(fcntl.ioctl, fd, SHMEMFS_IOC_HUGE_ADVISE,
                        (1).to_bytes(4, "little")) == 9   # EBADF
    finally:
        os.close(fd)
    r = subprocess.run([SHMEMCTL_BIN, "huge", p, "off"], capture_output=True)
    assert r.returncode == 0
    assert os.stat(p).st_blksize == 4096
    q = os.path.join(m.path, "q")
    with open(q, "wb") as f:
        f.write(bytes(2 * MiB))
    assert blocks(q) == 4096 and stats(m.path)["huge_pages"] == 1
    d = os.path.join(m.path, "dir")
    os.mkdir(d)
    r = subprocess.run([SHMEMCTL_BIN, "huge", d, "on"], capture_output=True)
    assert r.returncode == 1
    r = subprocess.run([SHMEMCTL_BIN, "huge", p, "maybe"],
                       capture_output=True)
    assert r.returncode == 2
    with tempfile.NamedTemporaryFile() as t:
        r = subprocess.run([SHMEMCTL_BIN, "huge", t.name, "on"],
                           capture_output=True, text=True)
        assert r.returncode == 1 and "not on a shmemfs" in r.stderr


@pytest.mark.shmemfs_only
def test_huge_folios_through_swap(mount, tmp_path):
    """With mem= far below the data, folios are split and swapped out
    page by page and the data comes back intact."""
    swap = str(tmp_path / "swap")
    m = mount(["huge=always", "size=64m", "mem=4m", "swap=" + swap,
               "swapsize=64m"])
    p = os.path.join(m.path, "d")
    h = hashlib.sha256()
    with open(p, "wb") as f:
        for i in range(24):
            b = hashlib.shake_256(b"%d" % i).digest(MiB)
            h.update(b)
            f.write(b)
    st = stats(m.path)
    assert st["swapouts"] > 0 and st["huge_splits"] > 0, st
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    assert sha_of(p) == h.hexdigest()
    assert blocks(p) == 24 * 2048


@pytest.mark.shmemfs_only
def test_collapse_after_swapin(mount, tmp_path):
    """Pages brought back from swap are small pages; when the file is
    closed, fully resident 2 MiB ranges inside it become folios again
    (khugepaged's collapse, bounded per close)."""
    swap = str(tmp_path / "swap")
    m = mount(["huge=always", "size=64m", "mem=16m", "swap=" + swap,
               "swapsize=64m"])
    p = os.path.join(m.path, "d")
    data = [hashlib.shake_256(b"c%d" % i).digest(MiB) for i in range(24)]
    with open(p, "wb") as f:
        for b in data:
            f.write(b)
    st = stats(m.path)
    assert st["swapouts"] > 0 and st["huge_splits"] > 0, st
    os.truncate(p, 4 * MiB)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, 4 * MiB, 0) == b"".join(data[:4])
    finally:
        os.close(fd)
    # the release reaches the daemon after close() returns
    assert wait_for(lambda: stats(m.path)["huge_collapses"] >= 1), \
        stats(m.path)
    st = stats(m.path)
    assert st["huge_pages"] >= 1 and st["swapins"] > 0, st
    assert blocks(p) == 4 * MiB // 512
    fd = os.open(p, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, 4 * MiB, 0) == b"".join(data[:4])
    finally:
        os.close(fd)


@pytest.mark.shmemfs_only
def test_background_collapse_after_swapoff(mount, tmp_path):
    """With the file held open (no last close), the background pass
    turns the 2 MiB ranges swapoff brought back into folios again, a
    bounded pass at a time, and the data is unchanged."""
    swap = str(tmp_path / "swap")
    m = mount(["huge=always", "size=64m", "mem=16m", "swap=" + swap,
               "swapsize=64m"])
    p = os.path.join(m.path, "d")
    data = b"".join(hashlib.shake_256(b"b%d" % i).digest(MiB)
                    for i in range(24))
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        st = stats(m.path)
        assert st["swapouts"] > 0 and st["huge_splits"] > 0, st
        os.ftruncate(fd, 12 * MiB)  # so that swapoff fits in mem=
        before = stats(m.path)["huge_collapses"]
        subprocess.run([SHMEMCTL_BIN, "swapoff", m.path], check=True)
        assert wait_for(lambda: stats(m.path)["huge_pages"] == 6,
                        timeout=30), stats(m.path)
        st = stats(m.path)
        assert st["huge_collapses"] >= before + 1, st
        assert blocks(p) == 12 * 2048
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, 12 * MiB, 0) == data[:12 * MiB]
    finally:
        os.close(fd)


@pytest.mark.shmemfs_only
def test_background_collapse_after_remount_to_always(mount):
    """Small pages written under huge=never become folios after
    shmemctl remount huge=always, while the file stays open."""
    m = mount(["huge=never", "size=64m"])
    p = os.path.join(m.path, "d")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"r" * (8 * MiB))
        time.sleep(1.2)  # passes run, and find nothing to do
        assert stats(m.path)["huge_pages"] == 0
        subprocess.run([SHMEMCTL_BIN, "remount", m.path, "huge=always"],
                       check=True)
        assert wait_for(lambda: stats(m.path)["huge_pages"] == 4,
                        timeout=30), stats(m.path)
        assert blocks(p) == 8 * 2048
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, 8 * MiB, 0) == b"r" * (8 * MiB)
    finally:
        os.close(fd)


@pytest.mark.shmemfs_only
def test_background_collapse_after_reads(mount, tmp_path):
    """Pages read back from swap (no swapoff, the file held open) become
    2 MiB folios again in the background once mem= has room."""
    swap = str(tmp_path / "swap")
    m = mount(["huge=always", "size=64m", "mem=16m", "swap=" + swap,
               "swapsize=64m"])
    p = os.path.join(m.path, "d")
    data = b"".join(hashlib.shake_256(b"r%d" % i).digest(MiB)
                    for i in range(24))
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.ftruncate(fd, 8 * MiB)
        assert stats(m.path)["swapped_bytes"] > 0
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, 8 * MiB, 0) == data[:8 * MiB]
        assert stats(m.path)["swapins"] > 0
        assert wait_for(lambda: stats(m.path)["huge_pages"] == 4,
                        timeout=30), stats(m.path)
        assert blocks(p) == 8 * 2048
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, 8 * MiB, 0) == data[:8 * MiB]
    finally:
        os.close(fd)
