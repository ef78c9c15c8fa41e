# SPDX-License-Identifier: MIT
"""File data: read/write, truncate, sparse files and st_blocks, fallocate,
SEEK_DATA/SEEK_HOLE, the maximum file size, copy_file_range, unlinked but
open files, and the timestamps data operations touch."""

import errno
import os
import random
import resource
import signal
import time

import pytest

from conftest import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE,
                      FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
                      FALLOC_FL_ZERO_RANGE, errno_of, fallocate, in_child,
                      wait_for)

KEEP = FALLOC_FL_KEEP_SIZE
PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
MAXOFF = 2**63 - 1
P = 4096


@pytest.fixture
def fd(mnt):
    f = os.open(os.path.join(mnt, "f"), os.O_RDWR | os.O_CREAT, 0o644)
    yield f
    os.close(f)


def blocks(fd):
    return os.fstat(fd).st_blocks


def size(fd):
    return os.fstat(fd).st_size


def seek(fd, off, whence):
    """lseek result, or the errno name as a string."""
    try:
        return os.lseek(fd, off, whence)
    except OSError as e:
        return errno.errorcode[e.errno]


def seekmap(fd):
    """(SEEK_DATA, SEEK_HOLE) answers at every page boundary up to EOF."""
    return [(seek(fd, o, os.SEEK_DATA), seek(fd, o, os.SEEK_HOLE))
            for o in range(0, size(fd) + 1, P)]


def test_big_write_read(fd):
    rnd = random.Random(1)
    data = rnd.randbytes(3 * 1024 * 1024 + 123)
    assert os.write(fd, data) == len(data)
    assert os.pread(fd, len(data) + 10, 0) == data
    assert size(fd) == len(data)
    assert blocks(fd) == (len(data) + P - 1) // P * 8
    for _ in range(50):
        off = rnd.randrange(len(data))
        n = rnd.randrange(1, 70000)
        assert os.pread(fd, n, off) == data[off:off + n]
    assert os.pread(fd, 10, len(data)) == b""
    assert os.pread(fd, 10, len(data) + 10**6) == b""


def test_overwrite_and_position(fd):
    os.write(fd, b"0123456789")
    assert os.lseek(fd, 0, os.SEEK_CUR) == 10
    os.pwrite(fd, b"abc", 3)
    assert os.lseek(fd, 0, os.SEEK_CUR) == 10     # pwrite keeps position
    os.lseek(fd, -2, os.SEEK_END)
    os.write(fd, b"XYZ")
    assert os.pread(fd, 100, 0) == b"012abc67XYZ"
    assert os.lseek(fd, 0, os.SEEK_END) == 11
    assert errno_of(os.lseek, fd, -1, os.SEEK_SET) == errno.EINVAL


def test_write_beyond_eof_zero_fills(fd):
    os.write(fd, b"head")
    os.pwrite(fd, b"tail", 10000)
    assert size(fd) == 10004
    data = os.pread(fd, 20000, 0)
    assert data == b"head" + bytes(10000 - 4) + b"tail"
    assert blocks(fd) == 16               # pages 0 and 2; page 1 is a hole


def test_truncate(fd):
    os.write(fd, b"a" * 3 * P)
    assert blocks(fd) == 24
    os.ftruncate(fd, 5000)
    assert size(fd) == 5000 and blocks(fd) == 16
    os.ftruncate(fd, 3 * P)
    # the tail of the partial page was zeroed, the rest reads as a hole
    assert os.pread(fd, 3 * P, 0) == b"a" * 5000 + bytes(3 * P - 5000)
    assert blocks(fd) == 16
    os.ftruncate(fd, 1 << 30)             # truncating up allocates nothing
    assert size(fd) == 1 << 30 and blocks(fd) == 16
    assert os.pread(fd, 10, (1 << 30) - 10) == bytes(10)
    os.ftruncate(fd, 0)
    assert size(fd) == 0 and blocks(fd) == 0
    assert os.pread(fd, 10, 0) == b""
    assert errno_of(os.ftruncate, fd, -1) == errno.EINVAL


def test_truncate_path_and_readonly_fd(mnt):
    p = os.path.join(mnt, "t")
    with open(p, "wb") as f:
        f.write(b"x" * 100)
    os.truncate(p, 10)
    assert os.stat(p).st_size == 10
    ro = os.open(p, os.O_RDONLY)
    assert errno_of(os.ftruncate, ro, 0) == errno.EINVAL
    assert errno_of(os.write, ro, b"x") == errno.EBADF
    os.close(ro)
    wo = os.open(p, os.O_WRONLY)
    assert errno_of(os.read, wo, 1) == errno.EBADF
    os.close(wo)


def test_sparse_blocks(fd):
    os.pwrite(fd, b"x", 100000)
    assert size(fd) == 100001 and blocks(fd) == 8
    os.pwrite(fd, b"y", 1 << 40)
    assert size(fd) == (1 << 40) + 1 and blocks(fd) == 16
    # reading holes returns zeros and allocates nothing
    assert os.pread(fd, 200000, 0) == bytes(100000) + b"x" + bytes(99999)
    assert os.pread(fd, 8192, (1 << 40) - 8191) == bytes(8191) + b"y"
    assert blocks(fd) == 16
    # writing zeros is still data
    os.pwrite(fd, bytes(P), 0)
    assert blocks(fd) == 24


def test_fallocate_default_and_keep_size(fd):
    fallocate(fd, 0, 0, 5000)
    assert size(fd) == 5000 and blocks(fd) == 16
    assert os.pread(fd, 6000, 0) == bytes(5000)
    fallocate(fd, 0, 0, 100)              # inside the file: size unchanged
    assert size(fd) == 5000
    fallocate(fd, KEEP, 0, 5 * P)         # beyond EOF, size kept
    assert size(fd) == 5000 and blocks(fd) == 40
    assert os.pread(fd, 10 * P, 0) == bytes(5000)
    os.ftruncate(fd, 100)                 # size goes down: pages freed
    assert blocks(fd) == 8
    os.ftruncate(fd, 0)
    assert blocks(fd) == 0
    fallocate(fd, KEEP, 0, 2 * P)
    os.ftruncate(fd, 100)                 # size goes up: prealloc survives
    assert size(fd) == 100 and blocks(fd) == 16


def test_posix_fallocate(fd):
    os.posix_fallocate(fd, 10, 3 * P)
    assert size(fd) == 10 + 3 * P
    assert blocks(fd) == 32
    assert os.pread(fd, 4 * P, 0) == bytes(10 + 3 * P)


def test_punch_hole(fd):
    os.write(fd, b"a" * 4 * P)
    fallocate(fd, PUNCH, P, P)
    assert size(fd) == 4 * P and blocks(fd) == 24
    assert os.pread(fd, 4 * P, 0) == b"a" * P + bytes(P) + b"a" * 2 * P
    # partial pages are zeroed but stay allocated
    fallocate(fd, PUNCH, 2 * P + 100, 10)
    assert blocks(fd) == 24
    assert os.pread(fd, 120, 2 * P) == b"a" * 100 + bytes(10) + b"a" * 10
    # punching past EOF is fine and changes nothing
    fallocate(fd, PUNCH, 10 * P, 3 * P)
    assert size(fd) == 4 * P and blocks(fd) == 24
    # punching everything
    fallocate(fd, PUNCH, 0, 1 << 30)
    assert size(fd) == 4 * P and blocks(fd) == 0
    assert os.pread(fd, 5 * P, 0) == bytes(4 * P)


def test_fallocate_errors(fd):
    os.write(fd, b"data")
    E = errno.EOPNOTSUPP
    assert errno_of(fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, P) == E
    assert errno_of(fallocate, fd, FALLOC_FL_ZERO_RANGE, 0, P) == E
    assert errno_of(fallocate, fd, FALLOC_FL_ZERO_RANGE | KEEP, 0, P) == E
    assert errno_of(fallocate, fd, FALLOC_FL_COLLAPSE_RANGE, 0, P) == E
    assert errno_of(fallocate, fd, FALLOC_FL_INSERT_RANGE, 0, P) == E
    assert errno_of(fallocate, fd, 0, 0, 0) == errno.EINVAL
    assert errno_of(fallocate, fd, 0, -1, P) == errno.EINVAL
    assert errno_of(fallocate, fd, 0, 0, -1) == errno.EINVAL
    assert errno_of(fallocate, fd, 0, MAXOFF, 2) == errno.EFBIG
    assert os.pread(fd, 10, 0) == b"data" and blocks(fd) == 8


def test_fallocate_readonly_fd(mnt):
    p = os.path.join(mnt, "ro")
    open(p, "w").close()
    ro = os.open(p, os.O_RDONLY)
    assert errno_of(fallocate, ro, 0, 0, P) == errno.EBADF
    os.close(ro)


def test_seek_data_hole_sparse(fd):
    os.pwrite(fd, b"x", 100000)           # data in page 24 only
    assert seek(fd, 0, os.SEEK_DATA) == 98304
    assert seek(fd, 0, os.SEEK_HOLE) == 0
    assert seek(fd, 98304, os.SEEK_DATA) == 98304
    assert seek(fd, 99000, os.SEEK_DATA) == 99000
    assert seek(fd, 98304, os.SEEK_HOLE) == 100001    # EOF is a hole
    assert seek(fd, 100000, os.SEEK_HOLE) == 100001
    assert seek(fd, 100000, os.SEEK_DATA) == 100000
    assert seek(fd, 100001, os.SEEK_DATA) == "ENXIO"
    assert seek(fd, 100001, os.SEEK_HOLE) == "ENXIO"
    assert seek(fd, 1 << 40, os.SEEK_DATA) == "ENXIO"
    assert seek(fd, -1, os.SEEK_DATA) == "ENXIO"
    assert seek(fd, -1, os.SEEK_HOLE) == "ENXIO"
    # the file position moved to the answer
    os.lseek(fd, 0, os.SEEK_DATA)
    assert os.lseek(fd, 0, os.SEEK_CUR) == 98304


def test_seek_empty_and_dense(fd):
    assert seek(fd, 0, os.SEEK_DATA) == "ENXIO"
    assert seek(fd, 0, os.SEEK_HOLE) == "ENXIO"
    os.write(fd, b"z" * (2 * P + 1))
    assert seek(fd, 0, os.SEEK_DATA) == 0
    assert seek(fd, 0, os.SEEK_HOLE) == 2 * P + 1
    assert seek(fd, P + 5, os.SEEK_HOLE) == 2 * P + 1
    os.ftruncate(fd, 10 * P)
    assert seek(fd, 0, os.SEEK_HOLE) == 3 * P   # hole starts after page 2
    assert seek(fd, 3 * P, os.SEEK_DATA) == "ENXIO"


def test_seek_fallocated_is_hole(fd):
    """tmpfs reports fallocated pages that were never written as holes,
    until they are written -- or fallocated a second time, which zeroes
    them and marks them up to date."""
    fallocate(fd, 0, 0, 4 * P)
    assert blocks(fd) == 32
    assert seekmap(fd) == [("ENXIO", 0), ("ENXIO", P), ("ENXIO", 2 * P),
                           ("ENXIO", 3 * P), ("ENXIO", "ENXIO")]
    os.pread(fd, 4 * P, 0)                # reading does not change that
    assert seek(fd, 0, os.SEEK_DATA) == "ENXIO"
    os.pwrite(fd, b"w", 2 * P + 10)       # a write makes page 2 data
    assert seekmap(fd) == [(2 * P, 0), (2 * P, P), (2 * P, 3 * P),
                           ("ENXIO", 3 * P), ("ENXIO", "ENXIO")]
    assert os.pread(fd, P, 2 * P)[:12] == bytes(10) + b"w" + b"\0"
    fallocate(fd, 0, 0, P)                # second fallocate of page 0
    assert seekmap(fd) == [(0, P), (2 * P, P), (2 * P, 3 * P),
                           ("ENXIO", 3 * P), ("ENXIO", "ENXIO")]
    fallocate(fd, KEEP, P, P)             # ... also with KEEP_SIZE
    assert seekmap(fd) == [(0, 3 * P), (P, 3 * P), (2 * P, 3 * P),
                           ("ENXIO", 3 * P), ("ENXIO", "ENXIO")]
    assert blocks(fd) == 32
    fallocate(fd, PUNCH, 0, P)
    assert seekmap(fd) == [(P, 0), (P, 3 * P), (2 * P, 3 * P),
                           ("ENXIO", 3 * P), ("ENXIO", "ENXIO")]
    assert blocks(fd) == 24


def test_max_file_size(fd):
    # the last byte a file can have is at 2**63 - 2 (size 2**63 - 1)
    assert os.pwrite(fd, b"e", MAXOFF - 1) == 1
    assert size(fd) == MAXOFF
    assert blocks(fd) == 8
    assert os.pread(fd, 1, MAXOFF - 1) == b"e"
    # (SEEK_DATA/SEEK_HOLE in the very last page overflow in the kernel:
    # tmpfs answers ENXIO and even a negative offset there, so they are
    # only checked further down, see test_seek_far_offsets.)
    # pos + count overflows loff_t: the VFS says EINVAL (not EFBIG)
    assert errno_of(os.pwrite, fd, b"x", MAXOFF) == errno.EINVAL
    assert errno_of(os.pwrite, fd, b"xy", MAXOFF - 1) == errno.EINVAL
    assert errno_of(os.pread, fd, 10, MAXOFF - 1) == errno.EINVAL
    assert os.pwrite(fd, b"", MAXOFF) == 0
    os.ftruncate(fd, 0)
    os.ftruncate(fd, MAXOFF)
    assert size(fd) == MAXOFF and blocks(fd) == 0
    os.ftruncate(fd, 0)


@pytest.mark.parametrize("off", [2**40 + 5, 2**62 + 4097])
def test_seek_far_offsets(fd, off):
    os.pwrite(fd, b"e", off)
    page = off - off % P
    assert seek(fd, 0, os.SEEK_DATA) == page
    assert seek(fd, 0, os.SEEK_HOLE) == 0
    assert seek(fd, page, os.SEEK_HOLE) == off + 1
    assert seek(fd, off + 1, os.SEEK_DATA) == "ENXIO"
    assert blocks(fd) == 8


def test_efbig_from_rlimit_fsize(fd):
    def child():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (1 << 20, resource.RLIM_INFINITY))
        res = [os.pwrite(fd, b"a" * 10, (1 << 20) - 4)]  # short write
        res.append(errno_of(os.pwrite, fd, b"a", 1 << 20))
        res.append(errno_of(os.ftruncate, fd, 2 << 20))
        res.append(errno_of(fallocate, fd, 0, 0, 2 << 20))
        return res
    assert in_child(child) == [4, errno.EFBIG, errno.EFBIG, errno.EFBIG]
    assert size(fd) == 1 << 20


def test_copy_file_range(mnt):
    src = os.path.join(mnt, "src")
    dst = os.path.join(mnt, "dst")
    data = random.Random(2).randbytes(300000)
    with open(src, "wb") as f:
        f.write(data)
    s = os.open(src, os.O_RDWR)
    d = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
    done = 0
    while done < len(data):
        n = os.copy_file_range(s, d, len(data) - done, done, done)
        assert n > 0
        done += n
    assert os.pread(d, len(data) + 1, 0) == data
    # with offsets, past the end of the destination (leaves a hole)
    n = os.copy_file_range(s, d, 1000, 5, 10**6)
    assert n == 1000
    assert os.pread(d, 1000, 10**6) == data[5:1005]
    assert os.fstat(d).st_size == 10**6 + 1000
    assert os.pread(d, 10, 10**6 - 10) == bytes(10)
    # inside one file
    n = os.copy_file_range(s, s, 100, 0, 400000)
    assert n == 100 and os.pread(s, 100, 400000) == data[:100]
    # at or past EOF of the source copies nothing
    assert os.copy_file_range(s, d, 100, 10**7, 0) == 0
    # using and advancing the file positions
    os.lseek(s, 50, os.SEEK_SET)
    os.lseek(d, 0, os.SEEK_SET)
    assert os.copy_file_range(s, d, 10) == 10
    assert os.lseek(s, 0, os.SEEK_CUR) == 60
    assert os.lseek(d, 0, os.SEEK_CUR) == 10
    assert os.pread(d, 10, 0) == data[50:60]
    os.close(s)
    os.close(d)


def test_unlinked_open_file(mnt):
    p = os.path.join(mnt, "gone")
    before = os.statvfs(mnt).f_bfree
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"q" * (4 << 20))
    used = before - os.statvfs(mnt).f_bfree
    assert used == (4 << 20) // os.statvfs(mnt).f_frsize
    os.unlink(p)
    assert not os.path.exists(p)
    assert os.listdir(mnt) == []
    assert os.fstat(fd).st_nlink == 0
    # still readable and writable, and still charged
    assert os.pread(fd, 5, 100) == b"qqqqq"
    os.pwrite(fd, b"more", 4 << 20)
    assert os.pread(fd, 4, 4 << 20) == b"more"
    assert os.fstat(fd).st_size == (4 << 20) + 4
    assert before - os.statvfs(mnt).f_bfree == used + 1
    fd2 = os.dup(fd)
    os.close(fd)
    assert os.pread(fd2, 4, 0) == b"qqqq"
    os.close(fd2)
    assert wait_for(lambda: os.statvfs(mnt).f_bfree == before), \
        "space of the unlinked file was not freed after the last close"


def test_unlinked_open_file_inode_freed(mnt):
    before = os.statvfs(mnt).f_ffree
    p = os.path.join(mnt, "x")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    assert os.statvfs(mnt).f_ffree == before - 1
    os.unlink(p)
    assert os.statvfs(mnt).f_ffree == before - 1
    os.close(fd)
    assert wait_for(lambda: os.statvfs(mnt).f_ffree == before)


def test_data_times(fd):
    def times():
        st = os.fstat(fd)
        return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns

    old = 10**9
    ops = [("write", lambda: os.write(fd, b"abc"), True),
           ("pwrite", lambda: os.pwrite(fd, b"z", 10000), True),
           ("ftruncate", lambda: os.ftruncate(fd, 100), True),
           ("fallocate", lambda: fallocate(fd, 0, 0, 8192), True),
           ("fallocate keep", lambda: fallocate(fd, KEEP, 0, 4 * P), True),
           ("punch", lambda: fallocate(fd, PUNCH, 0, P), True)]
    for name, op, changes in ops:
        os.utime(fd, ns=(old, old))
        a0, m0, c0 = times()
        time.sleep(0.01)
        op()
        a1, m1, c1 = times()
        assert a1 == old, name
        assert m1 > m0 and c1 > c0, name
    # a read brings an atime older than mtime up to date (relatime)
    os.utime(fd, ns=(old, old + 1))
    os.pread(fd, 10, 0)
    assert wait_for(lambda: times()[0] > old + 1), "atime not updated"


def test_open_trunc_times(mnt):
    p = os.path.join(mnt, "t")
    with open(p, "wb") as f:
        f.write(b"content")
    os.utime(p, ns=(10**9, 10**9))
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    st = os.stat(p)
    assert st.st_size == 0 and st.st_mtime_ns > 10**9
