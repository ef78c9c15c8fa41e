# SPDX-License-Identifier: MIT
"""shmemctl remount, differentially: the same sequence of remounts on a
kernel tmpfs (mount -o remount,OPTS) and on the mount under test
(shmemctl remount MOUNTPOINT OPTS) must be allowed and refused alike,
and leave the same df numbers after each step.  Then what tmpfs has no
counterpart for: mem= lower brings residency down through swap,
swapsize= grows and shrinks the swap device, a refused remount changes
nothing, and only the mount's administrator may remount."""

import os
import subprocess
import time

import pytest

from conftest import NOBODY, run_shmemctl as shmemctl, wait_for
from oracle import mount_tmpfs, umount_tmpfs

pytestmark = pytest.mark.shmemfs_only

PAGE = 4096


def stats(path):
    out = shmemctl("stats", path)
    assert out.returncode == 0, out.stderr
    return dict((k, int(v)) for k, v in
                (l.split(": ") for l in out.stdout.splitlines()))


def df(path):
    s = os.statvfs(path)
    return (s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree)


def fill(path, pages, files):
    for i in range(files):
        with open(os.path.join(path, "f%d" % i), "wb") as f:
            f.write(b"x" * PAGE * (pages // files))


# (options, expected: True allowed / False refused), run in order
SEQUENCE = [
    ("size=100k", False),          # below the 200k in use
    ("size=300k", True),
    ("nr_blocks=60", True),
    ("nr_inodes=3", False),        # 10 files in use
    ("nr_inodes=40", True),
    ("huge=always", True),
    ("huge=never,mode=0700,uid=5", True),  # mode/uid ignored on remount
    ("inode64", True),
    ("inode32", True),
    ("size=0", True),              # a limit may go ...
    ("size=1m", False),            # ... but never come back
    ("nr_inodes=0", True),
    ("nr_inodes=100", False),
    ("noswap", False),
    ("huge=sometimes", False),
    ("size=1x", False),
]


def test_remount_sequence_matches_tmpfs(mount):
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a kernel tmpfs)")
    opts = "size=1m,nr_inodes=20"
    k = mount_tmpfs(opts)
    m = mount(opts)
    try:
        fill(k, 50, 10)
        fill(m.path, 50, 10)
        assert df(m.path) == df(k)
        for o, allowed in SEQUENCE:
            rk = subprocess.run(["mount", "-o", "remount," + o, k],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
            rm = shmemctl("remount", m.path, o)
            assert (rk.returncode == 0) == allowed, o
            assert (rm.returncode == 0) == allowed, (o, rm.stderr)
            if not allowed:
                lines = rm.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0], (o, rm.stderr)
            assert df(m.path) == df(k), o
        # stats agree with df
        st = stats(m.path)
        assert st["size_limit_bytes"] == 0 and st["inodes_limit"] == 0
    finally:
        umount_tmpfs(k)


def test_refused_remount_changes_nothing(mount):
    m = mount("size=1m,nr_inodes=20")
    fill(m.path, 50, 10)
    before = (df(m.path), stats(m.path))
    # the first options would be fine; the last one is refused
    r = shmemctl("remount", m.path, "size=2m,nr_inodes=50,size=100k")
    assert r.returncode == 1
    assert "Too small a size for current use" in r.stderr
    r = shmemctl("remount", m.path, "size=2m,swap=/tmp/x")
    assert r.returncode == 1 and "'swap'" in r.stderr
    assert (df(m.path), stats(m.path)) == before
    # and an accepted one shows at once
    assert shmemctl("remount", m.path, "size=2m,nr_inodes=50").returncode \
        == 0
    assert df(m.path)[0] == 2 * 1024 * 1024 // PAGE
    assert df(m.path)[3] == 50


def test_remount_permission(mount):
    m = mount("size=1m")
    os.chmod(m.path, 0o755)
    r = shmemctl("remount", m.path, "size=2m", user=NOBODY)
    assert r.returncode == 1 and "not permitted" in r.stderr
    assert df(m.path)[0] == 256


def test_mem_lower_reclaims(mount, swapdir):
    swap = os.path.join(swapdir, "swapfile")
    m = mount("size=64m,mem=32m,swap=%s,swapsize=64m" % swap)
    data = os.urandom(16 << 20)
    with open(os.path.join(m.path, "f"), "wb") as f:
        f.write(data)
    assert stats(m.path)["resident_bytes"] >= 16 << 20
    # mem= lower than resident, with swap to take the rest
    r = shmemctl("remount", m.path, "mem=4m")
    assert r.returncode == 0, r.stderr
    assert stats(m.path)["mem_limit_bytes"] == 4 << 20
    assert wait_for(lambda: stats(m.path)["resident_bytes"] <= 4 << 20,
                    timeout=20)
    assert stats(m.path)["swapped_bytes"] >= 12 << 20
    with open(os.path.join(m.path, "f"), "rb") as f:
        assert f.read() == data


def test_mem_and_swapsize_refusals(mount, swapdir):
    swap = os.path.join(swapdir, "swapfile")
    m = mount("size=64m,mem=32m,swap=%s,swapsize=8m" % swap)
    with open(os.path.join(m.path, "f"), "wb") as f:
        f.write(os.urandom(16 << 20))
    before = stats(m.path)
    # 16m resident, 8m of swap: mem=4m cannot be reached
    r = shmemctl("remount", m.path, "mem=4m")
    assert r.returncode == 1 and "mem=" in r.stderr
    assert stats(m.path) == before
    # with a bigger swap device in the same remount it can
    r = shmemctl("remount", m.path, "mem=4m,swapsize=32m")
    assert r.returncode == 0, r.stderr
    assert stats(m.path)["swap_total_bytes"] == (32 << 20) - PAGE
    assert wait_for(lambda: stats(m.path)["resident_bytes"] <= 4 << 20,
                    timeout=20)
    # not below what swap holds now
    r = shmemctl("remount", m.path, "swapsize=4m")
    assert r.returncode == 1 and "swapsize" in r.stderr
    # mem= below size= with swapping off is what a mount refuses too
    r = shmemctl("remount", m.path, "noswap")
    assert r.returncode == 1


def test_swapsize_without_swap_refused(mount):
    m = mount("size=1m")
    r = shmemctl("remount", m.path, "swapsize=8m")
    assert r.returncode == 1 and "swap" in r.stderr
