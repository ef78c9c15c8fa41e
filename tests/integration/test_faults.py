# SPDX-License-Identifier: MIT
"""A page that cannot be read back from swap must never look like the end
of the file (shmemfs only: tmpfs has no swap file of its own to break).

FUSE takes a short reply to a read of a regular file as end of file and
shrinks the size it caches for every process: a read that stopped at an
unreadable page used to make `cp` succeed with a truncated copy and send
the next O_APPEND write into the middle of the file.  These tests break
one swap slot and read across it from every position within a request.
"""

import errno
import hashlib
import mmap
import os
import subprocess

import pytest

pytestmark = pytest.mark.shmemfs_only

PAGE = 4096
FILE_SIZE = 8 << 20
REQ_PAGES = 32  # one 128 KiB read request


def reference_data():
    return hashlib.shake_256(b"test_faults").digest(FILE_SIZE)


def drop_cache(fd):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def corrupt_one_slot(swap_path):
    """Overwrite one 4 KiB block in the written part of the swap file."""
    st = os.stat(swap_path)
    assert st.st_blocks * 512 >= 2 << 20, "nothing was swapped out"
    with open(swap_path, "r+b") as f:
        f.seek(100 * PAGE)  # ~400 KiB in: written, whatever the layout
        f.write(os.urandom(PAGE))


def find_bad_page(path):
    """The index of the one page that reads back EIO, page by page."""
    bad = []
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        drop_cache(fd)
        for p in range(FILE_SIZE // PAGE):
            try:
                os.pread(fd, PAGE, p * PAGE)
            except OSError as e:
                assert e.errno == errno.EIO
                bad.append(p)
    finally:
        os.close(fd)
    assert len(bad) == 1, "expected one unreadable page, got %r" % bad
    return bad[0]


@pytest.fixture
def broken(mount, tmp_path):
    """A mount whose 8 MiB file /a has exactly one unreadable page."""
    swap = str(tmp_path / "swap")
    m = mount("size=64m,mem=1m,swap=%s" % swap)
    path = os.path.join(m.path, "a")
    ref = reference_data()
    with open(path, "wb") as f:
        f.write(ref)
    corrupt_one_slot(swap)
    return m, path, ref, find_bad_page(path)


def read_from(path, start, reqsize):
    """Read from @start to the end in @reqsize reads, without readahead.

    Returns (bytes read, errno that stopped it or None for end of file).
    """
    fd = os.open(path, os.O_RDONLY)
    got = bytearray()
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        drop_cache(fd)
        while True:
            try:
                b = os.pread(fd, reqsize, start + len(got))
            except OSError as e:
                return bytes(got), e.errno
            if not b:
                return bytes(got), None
            got += b
    finally:
        os.close(fd)


@pytest.mark.parametrize("inpage", [0, 100])
def test_unreadable_page_at_every_position_of_a_request_is_eio(broken,
                                                               inpage):
    _, path, ref, bad = broken
    for k in range(REQ_PAGES):
        start = (bad - k) * PAGE + inpage
        if start < 0:
            continue
        got, err = read_from(path, start, REQ_PAGES * PAGE)
        assert err == errno.EIO, (
            "page %d of a request: read ended with %r after %d bytes" %
            (k, err, len(got)))
        # whatever came before the error is the file's data ...
        assert got == ref[start:start + len(got)]
        # ... and every process still sees the whole file
        assert os.stat(path).st_size == FILE_SIZE


def test_cp_fails_and_size_and_append_stay_right(broken, tmp_path):
    """The issue's reproduction: cp must fail, sizes and >> stay right."""
    _, path, ref, bad = broken
    out = str(tmp_path / "out")
    with open(path, "rb") as f:
        drop_cache(f.fileno())
    r = subprocess.run(["cp", path, out], stderr=subprocess.PIPE)
    assert r.returncode != 0
    assert b"Input/output error" in r.stderr
    assert os.stat(path).st_size == FILE_SIZE
    with open(path, "ab") as f:
        f.write(b"tail")
    assert os.stat(path).st_size == FILE_SIZE + 4
    # the append landed at the end: every readable page is intact
    fd = os.open(path, os.O_RDONLY)
    try:
        drop_cache(fd)
        for p in (0, bad - 1, bad + 1, FILE_SIZE // PAGE - 1):
            if 0 <= p < FILE_SIZE // PAGE:
                assert os.pread(fd, PAGE, p * PAGE) == \
                    ref[p * PAGE:(p + 1) * PAGE]
        assert os.pread(fd, 4, FILE_SIZE) == b"tail"
    finally:
        os.close(fd)


def test_mapped_read_of_unreadable_page_is_sigbus(broken):
    """A fault on the page raises SIGBUS, as for a failed read_folio."""
    _, path, _, bad = broken
    code = (
        "import mmap, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n"
        "m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)\n"
        "m.madvise(mmap.MADV_RANDOM)\n"
        "m[int(sys.argv[2]) * 4096]\n")
    r = subprocess.run(["python3", "-c", code, path, str(bad)])
    assert r.returncode == -7  # SIGBUS
    assert os.stat(path).st_size == FILE_SIZE


def test_copy_file_range_across_unreadable_page_fails(broken, tmp_path):
    """copy_file_range may stop short, but never reports a clean end."""
    m, path, ref, bad = broken
    out = os.path.join(m.path, "copy")
    src = os.open(path, os.O_RDONLY)
    dst = os.open(out, os.O_WRONLY | os.O_CREAT, 0o644)
    copied, err = 0, None
    try:
        while True:
            try:
                n = os.copy_file_range(src, dst, 1 << 20, copied, copied)
            except OSError as e:
                err = e.errno
                break
            if n == 0:
                break
            copied += n
    finally:
        os.close(src)
        os.close(dst)
    assert err == errno.EIO, "copy ended cleanly after %d bytes" % copied
    assert copied <= bad * PAGE
    with open(out, "rb") as f:
        assert f.read() == ref[:copied]
    assert os.stat(path).st_size == FILE_SIZE



def test_mapped_writes_beyond_size_report_enospc_at_msync(mount):
    """FUSE has no fault-time hook: the loss is reported by msync (README,
    Differences from tmpfs), never silently."""
    import mmap
    m = mount("size=1m")
    path = os.path.join(m.path, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 4 << 20)
        mp = mmap.mmap(fd, 4 << 20)
        mp[:] = b"x" * (4 << 20)
        with pytest.raises(OSError) as e:
            mp.flush()
        assert e.value.errno == errno.ENOSPC
        mp.close()
    finally:
        os.close(fd)
    assert os.stat(path).st_blocks * 512 <= 1 << 20
