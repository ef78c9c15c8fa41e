# SPDX-License-Identifier: MIT
"""Memory budget and swap through the real daemon (shmemfs only).

The RSS check runs the release build (build/shmemfs): a sanitizer build
keeps freed memory in quarantine on purpose, so its RSS says nothing.
"""

import errno
import hashlib
import json
import os
import subprocess
import tempfile
import time

import pytest

from conftest import (REPO, SHMEMCTL_BIN, SHMEMFS_BIN, TARGET, is_mounted,
                      sha_of, wait_for)

pytestmark = pytest.mark.shmemfs_only

MiB = 1 << 20
RELEASE_BIN = os.environ.get("SHMEMFS_RELEASE_BIN",
                             os.path.join(REPO, "build", "shmemfs"))


def stats(path):
    out = subprocess.run([SHMEMCTL_BIN, "stats", path, "--json"],
                         check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


def drop_cache(path):
    """Drop the kernel's cached pages of @path so reads reach the daemon."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def write_random(path, total, chunk=MiB, seed=b"shmemfs"):
    """Write @total bytes of pseudo-random data; return its sha256."""
    h = hashlib.sha256()
    block = hashlib.shake_256(seed).digest(chunk)
    with open(path, "wb") as f:
        for i in range(total // chunk):
            # cheap per-chunk variation of one random block
            data = i.to_bytes(8, "little") + block[8:]
            h.update(data)
            f.write(data)
    return h.hexdigest()


def vm_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Daemon:
    """A release-build daemon of our own, for RSS measurements."""

    def __init__(self, opts):
        self.base = tempfile.mkdtemp(prefix="shmemfs-swap-")
        self.path = os.path.join(self.base, "mnt")
        os.mkdir(self.path)
        self.log = os.path.join(self.base, "log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [RELEASE_BIN, "-f", "-o", opts, self.path],
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        assert wait_for(lambda: is_mounted(self.path), 10), self.output()

    def output(self):
        with open(self.log) as f:
            return f.read()

    def close(self):
        subprocess.run(["fusermount3", "-u", self.path])
        self.proc.wait(timeout=30)
        out = self.output()
        os.rmdir(self.path)
        os.unlink(self.log)
        os.rmdir(self.base)
        return out


def test_512m_through_64m_budget(swapdir):
    """512 MiB of random data through mem=64m reads back bit-identical,
    with the daemon's RSS within the budget plus a fixed overhead."""
    if not os.path.exists(RELEASE_BIN) or TARGET != "shmemfs":
        pytest.skip("needs the release daemon")
    swap = os.path.join(swapdir, "swap")
    d = Daemon("size=1g,mem=64m,swap=%s,swapsize=1g" % swap)
    try:
        f = os.path.join(d.path, "big")
        want = write_random(f, 512 * MiB)
        rss_after_write = vm_rss(d.proc.pid)
        drop_cache(f)
        assert sha_of(f) == want
        rss_after_read = vm_rss(d.proc.pid)
        st = stats(d.path)
        assert st["used_bytes"] == 512 * MiB
        assert st["swapouts"] >= (512 - 64) * MiB // 4096
        assert st["swapins"] > 0
        assert st["resident_bytes"] <= 64 * MiB + 64 * 4096
        assert st["swapped_bytes"] + st["resident_bytes"] == 512 * MiB
        # budget + fixed overhead: FUSE buffers, per-slot metadata
        # (24 B/slot), page descriptors and index nodes
        limit = 64 * MiB + 48 * MiB
        assert rss_after_write < limit, rss_after_write
        assert rss_after_read < limit, rss_after_read
        # nothing readable at rest
        with open(swap, "rb") as s:
            disk = s.read()
        block = hashlib.shake_256(b"shmemfs").digest(MiB)
        assert block[4096:4096 + 64] not in disk
    finally:
        out = d.close()
    assert out == ""
    assert not os.path.exists(swap), "created swap file must go at unmount"


def test_swapoff_enomem_then_ok(mount, swapdir):
    swap = os.path.join(swapdir, "swap")
    m = mount("size=256m,mem=8m,swap=%s,swapsize=64m" % swap)
    f = os.path.join(m.path, "f")
    want = write_random(f, 32 * MiB)
    before = stats(m.path)
    assert before["swapped_bytes"] > 0
    r = subprocess.run([SHMEMCTL_BIN, "swapoff", m.path],
                       stderr=subprocess.PIPE, text=True)
    assert r.returncode != 0
    assert "Cannot allocate memory" in r.stderr
    after = stats(m.path)
    # nothing came back (the reclaimer may have sent more out meanwhile)
    assert after["swapped_bytes"] >= before["swapped_bytes"]
    assert after["swapins"] == before["swapins"]
    drop_cache(f)
    assert sha_of(f) == want
    os.truncate(f, 4 * MiB)
    subprocess.run([SHMEMCTL_BIN, "swapoff", m.path], check=True)
    st = stats(m.path)
    assert st["swapped_bytes"] == 0
    assert st["resident_bytes"] == 4 * MiB
    subprocess.run([SHMEMCTL_BIN, "swapon", m.path], check=True)
    want = write_random(f, 16 * MiB, seed=b"again")
    assert stats(m.path)["swapped_bytes"] > 0
    drop_cache(f)
    assert sha_of(f) == want


def test_corrupt_swap_gives_eio_to_that_reader_only(mount, swapdir):
    swap = os.path.join(swapdir, "swap")
    m = mount("size=64m,mem=4m,swap=%s,swapsize=32m" % swap,
              allowed_stderr=[])
    a = os.path.join(m.path, "a")
    b = os.path.join(m.path, "b")
    want_a = write_random(a, 8 * MiB, seed=b"a")
    want_b = write_random(b, 8 * MiB, seed=b"b")
    # rot every sealed page of the swap file
    fd = os.open(swap, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        for off in range(0, size, 4096):
            page = os.pread(fd, 4096, off)
            if page != bytes(4096):
                os.pwrite(fd, bytes([page[100] ^ 0xff]), off + 100)
    finally:
        os.close(fd)
    drop_cache(a)
    with pytest.raises(OSError) as e:
        sha_of(a)
    assert e.value.errno == errno.EIO
    # the filesystem goes on: new files work
    c = os.path.join(m.path, "c")
    with open(c, "wb") as f:
        f.write(b"still fine")
    with open(c, "rb") as f:
        assert f.read() == b"still fine"
    del want_a, want_b


def test_full_budget_and_swap_enospc(mount, swapdir):
    swap = os.path.join(swapdir, "swap")
    m = mount("size=256m,mem=4m,swap=%s,swapsize=4m" % swap)
    f = os.path.join(m.path, "f")
    written = 0
    with pytest.raises(OSError) as e:
        with open(f, "wb", buffering=0) as fh:
            for _ in range(64):
                fh.write(bytes([7]) * MiB)
                written += 1
    assert e.value.errno == errno.ENOSPC
    assert 4 <= written <= 9
    drop_cache(f)
    with open(f, "rb") as fh:
        data = fh.read()
    assert data.count(7) == len(data)


def test_swap_path_checks(swapdir, mount):
    # an existing file we do not own is refused, and left alone
    other = os.path.join(swapdir, "other")
    with open(other, "wb") as f:
        f.write(b"keep me")
    os.chown(other, 65534, 65534)
    base = tempfile.mkdtemp(prefix="shmemfs-swapchk-")
    try:
        r = subprocess.run([RELEASE_BIN, "-f", "-o", "swap=%s" % other,
                            base], stderr=subprocess.PIPE, text=True,
                           timeout=30)
        assert r.returncode == 1
        assert len(r.stderr.strip().splitlines()) == 1
        assert not is_mounted(base)
        with open(other, "rb") as f:
            assert f.read() == b"keep me"
        # a swap file on the mount itself is refused
        r = subprocess.run([RELEASE_BIN, "-f", "-o",
                            "swap=%s/swapfile" % base, base],
                           stderr=subprocess.PIPE, text=True, timeout=30)
        assert r.returncode == 1
        assert "swap" in r.stderr
        assert not is_mounted(base)
    finally:
        if is_mounted(base):        # a failed check must not leave it
            subprocess.run(["umount", "-l", base])
        os.rmdir(base)


# ---------------------------------------------------------------------------
# Issue 16: a full disk under the swap file, shared and foreign swap files,
# ownership of a leftover file, option combinations that cannot work.

def refused(opts):
    """Start a daemon with @opts on a fresh directory; it must refuse to
    mount, with exit status 1 and one line on stderr, which is returned."""
    base = tempfile.mkdtemp(prefix="shmemfs-refuse-")
    try:
        r = subprocess.run([SHMEMFS_BIN, "-f", "-o", opts, base],
                           stderr=subprocess.PIPE, text=True, timeout=30)
        mounted = is_mounted(base)
    finally:
        if is_mounted(base):
            subprocess.run(["umount", "-l", base])
        os.rmdir(base)
    assert not mounted
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture
def small_disk():
    """An 8 MiB kernel tmpfs to hold a swap file that cannot all fit."""
    if os.geteuid() != 0:
        pytest.skip("mounting a kernel tmpfs needs root")
    d = tempfile.mkdtemp(prefix="shmemfs-smalldisk-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "none", d],
                   check=True)
    yield d
    subprocess.run(["umount", "-l", d], check=True)
    os.rmdir(d)


def write_until_enospc(path, limit):
    """Write 1 MiB chunks until ENOSPC (which must come); return MiBs."""
    written = 0
    with pytest.raises(OSError) as e:
        with open(path, "wb", buffering=0) as fh:
            for _ in range(limit):
                fh.write(os.urandom(MiB))
                written += 1
    assert e.value.errno == errno.ENOSPC
    return written


def test_full_disk_under_swap_keeps_capacity(small_disk, mount):
    swap = os.path.join(small_disk, "s")
    m = mount("size=64m,mem=1m,swap=%s" % swap)
    f = os.path.join(m.path, "f")
    # mem= plus what the 8 MiB disk holds
    assert 6 <= write_until_enospc(f, 32) <= 10
    os.unlink(f)
    # the last close's RELEASE may reach the daemon after the unlink
    # (up to seconds under valgrind): its slots are freed then
    assert wait_for(lambda: stats(m.path)["swap_used_bytes"] == 0, 10)
    # the slots on disk take new data again
    g = os.path.join(m.path, "g")
    want = write_random(g, 4 * MiB, seed=b"g")
    drop_cache(g)
    assert sha_of(g) == want
    os.unlink(g)
    # swapoff must not find g's pages still waiting for their RELEASE
    # (ENOMEM: more in swap than mem= holds)
    assert wait_for(lambda: stats(m.path)["swap_used_bytes"] == 0, 10)
    subprocess.run([SHMEMCTL_BIN, "swapoff", m.path], check=True)
    subprocess.run([SHMEMCTL_BIN, "swapon", m.path], check=True)
    want = write_random(g, 5 * MiB, seed=b"g2")
    drop_cache(g)
    assert sha_of(g) == want


def test_disk_filled_by_another_keeps_swapped_data_readable(small_disk,
                                                            mount):
    swap = os.path.join(small_disk, "s")
    m = mount("size=64m,mem=1m,swap=%s" % swap)
    f = os.path.join(m.path, "f")
    want = write_random(f, 5 * MiB, seed=b"f")
    assert stats(m.path)["swapped_bytes"] >= 3 * MiB
    filler = os.path.join(small_disk, "filler")
    with pytest.raises(OSError) as e:
        with open(filler, "wb", buffering=0) as fh:
            while True:
                fh.write(bytes(MiB))
    assert e.value.errno == errno.ENOSPC
    for _ in range(3):
        drop_cache(f)
        assert sha_of(f) == want
    # new data: ENOSPC once the slots on disk are taken; the old still reads
    g = os.path.join(m.path, "g")
    write_until_enospc(g, 32)
    drop_cache(f)
    assert sha_of(f) == want
    os.unlink(g)
    # space returns: everything works again
    os.unlink(filler)
    want_g = write_random(g, 2 * MiB, seed=b"g")
    drop_cache(f)
    drop_cache(g)
    assert sha_of(f) == want
    assert sha_of(g) == want_g


def test_swap_file_in_use_by_another_mount(mount, swapdir):
    """Two mounts on one swap file overwrote each other's slots."""
    swap = os.path.join(swapdir, "swap")
    m = mount("size=64m,mem=4m,swap=%s,swapsize=32m" % swap)
    f = os.path.join(m.path, "f")
    want = write_random(f, 8 * MiB)
    assert refused("size=64m,mem=4m,swap=%s,swapsize=32m" % swap) == \
        "shmemfs: swap file %s is in use by another mount" % swap
    # also while swap is off: the file stays the mount's
    os.truncate(f, 2 * MiB)
    subprocess.run([SHMEMCTL_BIN, "swapoff", m.path], check=True)
    assert "in use by another mount" in refused("mem=4m,swap=%s" % swap)
    subprocess.run([SHMEMCTL_BIN, "swapon", m.path], check=True)
    want = write_random(f, 8 * MiB, seed=b"again")
    drop_cache(f)
    assert sha_of(f) == want
    m.finish()
    assert not os.path.exists(swap)


def test_swap_file_not_ours_is_refused_and_kept(swapdir):
    """An existing file given as swap= had its content replaced."""
    for name, data in (("script", b"#!/bin/sh\necho hello\n"),
                       ("zeros", bytes(8192)),
                       ("mkswap", bytes(4086) + b"SWAPSPACE2" + bytes(4096))):
        path = os.path.join(swapdir, name)
        with open(path, "wb") as f:
            f.write(data)
        assert refused("size=16m,mem=1m,swap=%s" % path) == \
            ("shmemfs: swap file %s holds data that is not a shmemfs swap "
             "file; refusing to overwrite it" % path)
        with open(path, "rb") as f:
            assert f.read() == data


def test_swap_file_links_and_owner(swapdir):
    path = os.path.join(swapdir, "s")
    open(path, "wb").close()
    os.link(path, path + ".2")
    assert refused("size=16m,mem=1m,swap=%s" % path) == \
        "shmemfs: swap file %s has 2 hard links" % path
    os.unlink(path + ".2")
    if os.geteuid() == 0:
        os.chown(path, 1000, 1000)
        assert refused("size=16m,mem=1m,swap=%s" % path) == \
            ("shmemfs: swap file %s belongs to uid 1000, not to us (uid 0)"
             % path)
    assert os.path.getsize(path) == 0


def test_swap_file_ownership(mount, swapdir):
    """A file shmemfs created goes at unmount, even after a kill -9 and a
    later mount that reused it; an empty file the user made is kept."""
    swap = os.path.join(swapdir, "swap")
    opts = "size=64m,mem=2m,swap=%s,swapsize=16m" % swap
    m = mount(opts, expect_exit=None)
    write_random(os.path.join(m.path, "f"), 4 * MiB)
    os.kill(m.proc.pid, 9)
    m.proc.wait(timeout=30)
    m.finish(check=False)
    assert os.path.exists(swap)             # left behind by the crash
    m = mount(opts)
    want = write_random(os.path.join(m.path, "f"), 4 * MiB, seed=b"2")
    drop_cache(os.path.join(m.path, "f"))
    assert sha_of(os.path.join(m.path, "f")) == want
    assert not m.finish()
    assert not os.path.exists(swap)         # ours: removed

    mine = os.path.join(swapdir, "mine")
    open(mine, "wb").close()
    for seed in (b"a", b"b"):
        m = mount("size=64m,mem=2m,swap=%s,swapsize=16m" % mine)
        write_random(os.path.join(m.path, "f"), 4 * MiB, seed=seed)
        assert stats(m.path)["swapped_bytes"] > 0
        assert not m.finish()
        assert os.path.getsize(mine) == 16 * MiB   # kept, header first
        with open(mine, "rb") as f:
            assert f.read(13) == b"shmemfs swap\n"


def test_option_combinations_refused(swapdir):
    assert refused("size=64m,mem=1m") == \
        ("shmemfs: option mem= without swap=: pages past mem=1024k (below "
         "size=65536k) would have nowhere to go; add swap=PATH or drop mem=")
    swap = os.path.join(swapdir, "s")
    assert refused("noswap,swap=%s" % swap) == \
        ("shmemfs: options noswap and swap=%s contradict each other: "
         "noswap would leave the swap file unused" % swap)
    assert not os.path.exists(swap)


@pytest.mark.parametrize("mnt", ["size=8m,mem=8m", "size=8m,mem=16m",
                                 "ramfs,mem=1m"], indirect=True)
def test_mem_not_below_size_needs_no_swap(mnt):
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"x" * MiB)


def test_df_avail_tells_what_budget_and_swap_can_take(mount, swapdir):
    """df's Avail never promises what mem= and swap cannot hold: with
    swap on it is the free budget plus free slots; after swapoff, the
    free budget alone, and a write of more than that gets ENOSPC."""
    swap = os.path.join(swapdir, "swap")
    m = mount("size=64m,mem=2m,swap=%s,swapsize=8m" % swap)
    page = 4096

    def avail():
        return os.statvfs(m.path).f_bavail * page

    # budget 2 MiB + swap 8 MiB less its 4 KiB header, far below size=
    assert avail() == 10 * MiB - page
    assert os.statvfs(m.path).f_bfree * page == 64 * MiB
    f = os.path.join(m.path, "f")
    write_random(f, 4 * MiB)
    assert avail() == 6 * MiB - page
    os.truncate(f, MiB)
    subprocess.run([SHMEMCTL_BIN, "swapoff", m.path], check=True)
    assert avail() == MiB
    fd = os.open(os.path.join(m.path, "g"), os.O_WRONLY | os.O_CREAT)
    written = 0
    try:
        with pytest.raises(OSError) as e:
            while written <= MiB:
                written += os.write(fd, b"\x01" * page)
        assert e.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    assert written == MiB
