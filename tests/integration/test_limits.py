# SPDX-License-Identifier: MIT
"""size= and nr_inodes= limits, statvfs numbers, ENOSPC and space coming
back, and the root directory's mode=/uid=/gid=."""

import errno
import os
import stat

import pytest

from conftest import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, PAGE,
                      errno_of, fallocate, wait_for)

MiB = 1 << 20
PHYS_PAGES = os.sysconf("SC_PHYS_PAGES")


def pct_pages(pct):
    """Pages that size=<pct>% gives: tmpfs takes pct% of RAM in bytes
    (rounded down), then rounds that up to whole pages."""
    nbytes = PHYS_PAGES * PAGE * pct // 100
    return -(-nbytes // PAGE)


def fill(fd, chunk=MiB):
    """Write until ENOSPC; return the number of bytes written."""
    total = 0
    while True:
        try:
            n = os.write(fd, b"x" * chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
            return total
        assert n > 0
        total += n


def create_until_enospc(d, limit=100000):
    n = 0
    while n < limit:
        try:
            os.close(os.open(os.path.join(d, "f%06d" % n),
                             os.O_CREAT | os.O_WRONLY, 0o644))
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
            return n
        n += 1
    raise AssertionError("no ENOSPC after %d files" % limit)


# --- statvfs ------------------------------------------------------------------

@pytest.mark.mount_opts("size=1m")
def test_statvfs_size_1m(mnt):
    sv = os.statvfs(mnt)
    assert sv.f_bsize == PAGE and sv.f_frsize == PAGE
    assert (sv.f_blocks, sv.f_bfree, sv.f_bavail) == (256, 256, 256)
    assert sv.f_namemax == 255
    assert sv.f_files == PHYS_PAGES // 2     # default nr_inodes
    assert sv.f_ffree == sv.f_favail == sv.f_files - 1


@pytest.mark.mount_opts("nr_inodes=10")
def test_statvfs_nr_inodes_10(mnt):
    sv = os.statvfs(mnt)
    assert (sv.f_files, sv.f_ffree, sv.f_favail) == (10, 9, 9)  # root: 1
    assert sv.f_blocks == PHYS_PAGES // 2    # default size: 50% of RAM


@pytest.mark.parametrize("mnt,blocks,inodes", [
    ("size=10000,nr_inodes=1k", 3, 1024),   # sizes round up to pages
    ("size=4k,nr_inodes=2", 1, 2),
    ("size=1g,nr_inodes=1m", 262144, 1 << 20),
    ("nr_blocks=100", 100, PHYS_PAGES // 2),
    ("size=50%", pct_pages(50), PHYS_PAGES // 2),
    ("size=10%", pct_pages(10), PHYS_PAGES // 2),
    ("size=1M", 256, PHYS_PAGES // 2),
    ("size=1K", 1, PHYS_PAGES // 2),
    ("size=1G,nr_inodes=1k", 262144, 1024),
    ("size=1t", 1 << 28, PHYS_PAGES // 2),
    ("nr_blocks=1k", 1024, PHYS_PAGES // 2),
], indirect=["mnt"])
def test_statvfs_option_forms(mnt, blocks, inodes):
    sv = os.statvfs(mnt)
    assert sv.f_blocks == sv.f_bfree == blocks
    assert sv.f_files == inodes and sv.f_ffree == inodes - 1


@pytest.mark.mount_opts("size=0,nr_inodes=0")
def test_unlimited_reports_zero(mnt):
    sv = os.statvfs(mnt)
    assert (sv.f_blocks, sv.f_bfree, sv.f_bavail) == (0, 0, 0)
    assert (sv.f_files, sv.f_ffree, sv.f_favail) == (0, 0, 0)
    fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"y" * (8 * MiB))
    os.close(fd)
    for i in range(100):
        os.mkdir(os.path.join(mnt, "d%d" % i))
    sv = os.statvfs(mnt)
    assert (sv.f_blocks, sv.f_bfree, sv.f_files, sv.f_ffree) == (0, 0, 0, 0)


def test_statvfs_tracks_usage(mnt):
    sv0 = os.statvfs(mnt)
    fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_RDWR, 0o644)
    assert os.statvfs(mnt).f_ffree == sv0.f_ffree - 1
    os.write(fd, b"a" * (10 * PAGE + 1))
    assert os.statvfs(mnt).f_bfree == sv0.f_bfree - 11
    os.pwrite(fd, b"b", 100 * PAGE)          # sparse: one more page
    assert os.statvfs(mnt).f_bfree == sv0.f_bfree - 12
    os.ftruncate(fd, 5 * PAGE)
    assert os.statvfs(mnt).f_bfree == sv0.f_bfree - 5
    os.close(fd)
    os.mkdir(os.path.join(mnt, "d"))         # directories take no blocks
    os.symlink("short", os.path.join(mnt, "s"))
    sv = os.statvfs(mnt)
    assert sv.f_bfree == sv0.f_bfree - 5 and sv.f_ffree == sv0.f_ffree - 3
    os.symlink("l" * 500, os.path.join(mnt, "long"))   # takes a page
    assert os.statvfs(mnt).f_bfree == sv0.f_bfree - 6
    os.link(os.path.join(mnt, "f"), os.path.join(mnt, "hard"))
    # tmpfs charges every extra hard link as an inode
    assert os.statvfs(mnt).f_ffree == sv0.f_ffree - 5
    for n in ("f", "hard", "s", "long"):
        os.unlink(os.path.join(mnt, n))
    os.rmdir(os.path.join(mnt, "d"))
    # (FUSE frees an unlinked inode on FORGET, which comes asynchronously)
    assert wait_for(lambda: (os.statvfs(mnt).f_bfree, os.statvfs(mnt).f_ffree)
                    == (sv0.f_bfree, sv0.f_ffree))


# --- size= ----------------------------------------------------------------

@pytest.mark.mount_opts("size=1m")
def test_enospc_size(mnt):
    fd = os.open(os.path.join(mnt, "big"), os.O_CREAT | os.O_RDWR, 0o644)
    # a 2 MiB write comes back short at exactly the limit, then ENOSPC
    assert os.write(fd, b"z" * (2 * MiB)) == MiB
    assert errno_of(os.write, fd, b"z") == errno.ENOSPC
    st = os.fstat(fd)
    assert st.st_size == MiB and st.st_blocks == MiB // 512
    sv = os.statvfs(mnt)
    assert (sv.f_bfree, sv.f_bavail) == (0, 0)
    # other files cannot grow either, but metadata and holes are fine
    g = os.path.join(mnt, "g")
    fd2 = os.open(g, os.O_CREAT | os.O_RDWR, 0o644)
    assert errno_of(os.write, fd2, b"1") == errno.ENOSPC
    assert os.fstat(fd2).st_size == 0
    os.ftruncate(fd2, 1 << 30)
    assert os.fstat(fd2).st_size == 1 << 30
    assert os.pread(fd2, 10, 12345) == bytes(10)
    assert errno_of(os.pwrite, fd2, b"1", 5000) == errno.ENOSPC
    assert errno_of(fallocate, fd2, 0, 0, PAGE) == errno.ENOSPC
    assert errno_of(os.symlink, "x" * 200, os.path.join(mnt, "ls")) == \
        errno.ENOSPC
    os.symlink("x" * 100, os.path.join(mnt, "ss"))    # short: no page
    os.mkdir(os.path.join(mnt, "d"))
    # overwriting already allocated data still works
    os.pwrite(fd, b"over", 0)
    assert os.pread(fd, 4, 0) == b"over"
    # truncate gives space back
    os.ftruncate(fd, MiB // 2)
    assert os.statvfs(mnt).f_bfree == 128
    assert os.pwrite(fd2, b"1" * 4096, 0) == 4096
    os.close(fd)
    os.close(fd2)
    # unlink gives the rest back
    os.unlink(os.path.join(mnt, "big"))
    os.unlink(g)
    assert wait_for(lambda: os.statvfs(mnt).f_bfree == 256)
    fd = os.open(os.path.join(mnt, "again"), os.O_CREAT | os.O_RDWR, 0o644)
    assert fill(fd) == MiB
    os.close(fd)


@pytest.mark.mount_opts("size=1m")
def test_enospc_punch_gives_space_back(mnt):
    fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_RDWR, 0o644)
    assert fill(fd) == MiB
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 10 * PAGE)
    assert os.statvfs(mnt).f_bfree == 10
    assert os.pwrite(fd, b"q" * 10 * PAGE, 0) == 10 * PAGE
    assert errno_of(os.pwrite, fd, b"q", MiB) == errno.ENOSPC
    os.close(fd)


@pytest.mark.mount_opts("size=1m")
def test_enospc_fallocate_is_all_or_nothing(mnt):
    fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"a" * (100 * PAGE))
    assert errno_of(fallocate, fd, 0, 0, 2 * MiB) == errno.ENOSPC
    assert errno_of(os.posix_fallocate, fd, 0, 2 * MiB) == errno.ENOSPC
    st = os.fstat(fd)
    assert st.st_size == 100 * PAGE and st.st_blocks == 800
    assert os.statvfs(mnt).f_bfree == 156
    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 256 * PAGE)    # exactly fits
    assert os.statvfs(mnt).f_bfree == 0
    assert os.fstat(fd).st_size == 100 * PAGE
    os.close(fd)


@pytest.mark.mount_opts("size=1m")
def test_unlinked_open_file_keeps_space(mnt):
    p = os.path.join(mnt, "f")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    assert fill(fd) == MiB
    os.unlink(p)
    assert os.statvfs(mnt).f_bfree == 0
    fd2 = os.open(os.path.join(mnt, "g"), os.O_CREAT | os.O_RDWR, 0o644)
    assert errno_of(os.write, fd2, b"1") == errno.ENOSPC
    os.close(fd)
    assert wait_for(lambda: os.statvfs(mnt).f_bfree == 256)
    assert fill(fd2) == MiB
    os.close(fd2)


# --- nr_inodes= ---------------------------------------------------------------

@pytest.mark.mount_opts("nr_inodes=10")
def test_enospc_nr_inodes(mnt):
    # the root directory is one of the 10
    assert create_until_enospc(mnt) == 9
    assert os.statvfs(mnt).f_ffree == 0
    j = lambda n: os.path.join(mnt, n)
    assert errno_of(os.mkdir, j("d")) == errno.ENOSPC
    assert errno_of(os.symlink, "t", j("s")) == errno.ENOSPC
    assert errno_of(os.mkfifo, j("p")) == errno.ENOSPC
    assert errno_of(os.link, j("f000000"), j("l")) == errno.ENOSPC
    os.rename(j("f000000"), j("renamed"))       # rename needs no inode
    os.unlink(j("renamed"))
    assert wait_for(lambda: os.statvfs(mnt).f_ffree == 1)
    os.mkdir(j("d"))
    assert errno_of(os.mkdir, j("d2")) == errno.ENOSPC
    os.rmdir(j("d"))
    assert wait_for(lambda: os.statvfs(mnt).f_ffree == 1)


@pytest.mark.mount_opts("nr_inodes=6")
def test_hard_links_count_as_inodes(mnt):
    j = lambda n: os.path.join(mnt, n)
    open(j("f"), "w").close()
    assert os.statvfs(mnt).f_ffree == 4
    os.link(j("f"), j("l1"))
    os.link(j("f"), j("l2"))
    assert os.statvfs(mnt).f_ffree == 2
    os.mkdir(j("d"))
    os.symlink("f", j("s"))
    assert os.statvfs(mnt).f_ffree == 0
    assert errno_of(os.link, j("f"), j("l3")) == errno.ENOSPC
    os.unlink(j("l1"))
    assert os.statvfs(mnt).f_ffree == 1
    assert os.stat(j("f")).st_nlink == 2
    os.link(j("f"), j("l3"))
    assert os.statvfs(mnt).f_ffree == 0


@pytest.mark.mount_opts("nr_inodes=10")
def test_user_xattrs_charge_inode_space(mnt):
    """tmpfs charges xattr memory against nr_inodes (1 KiB of "inode
    space" per inode): a big value takes several inodes' worth, and one
    larger than the whole budget fails with ENOSPC."""
    f = os.path.join(mnt, "f")
    open(f, "w").close()
    assert os.statvfs(mnt).f_ffree == 8
    os.setxattr(f, "user.a", b"x" * 2000)
    assert os.statvfs(mnt).f_ffree in (5, 6)
    os.removexattr(f, "user.a")
    assert os.statvfs(mnt).f_ffree == 8
    assert errno_of(os.setxattr, f, "user.big", b"v" * 65536) == errno.ENOSPC
    os.setxattr(f, "user.fill", b"y" * 7500)
    assert os.statvfs(mnt).f_ffree == 0
    assert errno_of(os.open, os.path.join(mnt, "g"),
                    os.O_CREAT | os.O_WRONLY) == errno.ENOSPC
    os.unlink(f)                      # inode and its xattrs come back
    assert wait_for(lambda: os.statvfs(mnt).f_ffree == 9)


# --- root directory options -------------------------------------------------

@pytest.mark.needs_root
@pytest.mark.parametrize("mnt,mode,uid,gid", [
    ("", 0o1777, 0, 0),
    ("mode=0700,uid=1234,gid=5678", 0o700, 1234, 5678),
    ("mode=755", 0o755, 0, 0),
    ("mode=2750,gid=100", 0o2750, 0, 100),
    ("uid=65534", 0o1777, 65534, 0),
], indirect=["mnt"])
def test_root_mode_uid_gid(mnt, mode, uid, gid):
    st = os.stat(mnt)
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == mode
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert st.st_nlink == 2
