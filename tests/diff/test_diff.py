# SPDX-License-Identifier: MIT
"""Differential test, pytest form: a fixed set of seeds, each a random
sequence of operations run on kernel tmpfs and on shmemfs (or, with
SHMEMFS_TEST_TARGET=tmpfs, on a second kernel tmpfs, which checks the
tester itself).  A mismatch fails the seed with a shrunk reproducer.

Environment: SHMEMFS_TEST_TARGET (shmemfs|tmpfs), SHMEMFS_BIN,
SHMEMFS_WRAPPER, DIFFTEST_SEEDS (count, default 20), DIFFTEST_OPS (default
300), DIFFTEST_OPTS (mount options, default size=64m,nr_inodes=4096),
DIFFTEST_STATVFS=0 (do not compare statvfs free blocks/inodes),
DIFFTEST_SHRINK_BUDGET (seconds of shrinking for the whole module, 40),
DIFFTEST_LOCAL_SEEDS (seeds of 1000 ops in the --full-every 25 mode, 4),
DIFFTEST_HUGE_SEEDS (seeds per huge= policy, each with and without a
small mem= on the shmemfs side, 4).
"""

import os
import re
import shlex
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest  # noqa: E402

TARGET = os.environ.get("SHMEMFS_TEST_TARGET", "shmemfs")
BIN = os.environ.get("SHMEMFS_BIN", difftest.DEFAULT_BIN)
SEEDS = int(os.environ.get("DIFFTEST_SEEDS", "20"))
OPS = int(os.environ.get("DIFFTEST_OPS", "300"))
OPTS = os.environ.get("DIFFTEST_OPTS", difftest.DEFAULT_OPTS)
STATVFS = os.environ.get("DIFFTEST_STATVFS", "1") != "0"
# Shrinking is the slow part; all failing seeds together get this much, so
# a badly broken build still finishes quickly (later reports come
# unshrunk, as the prefix up to the mismatch).
SHRINK_BUDGET = [float(os.environ.get("DIFFTEST_SHRINK_BUDGET", "40"))]


def _need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a kernel tmpfs)")


@pytest.fixture(scope="module")
def cfg():
    _need_root()
    if TARGET == "tmpfs":
        return difftest.Config(OPTS, against_tmpfs=True, statvfs=STATVFS)
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing")
    if not os.access(BIN, os.X_OK):
        pytest.skip("%s is not built" % BIN)
    return difftest.Config(OPTS, shmemfs=BIN, wrapper=shlex.split(
        os.environ.get("SHMEMFS_WRAPPER", "")), statvfs=STATVFS)


@pytest.fixture(scope="module")
def pair(cfg):
    p = difftest.Pair(cfg)
    yield p
    problems = p.close()
    if problems:
        pytest.fail("while stopping the mounts:\n" + "\n".join(problems),
                    pytrace=False)


def run_seed_or_fail(seed, cfg, pair):
    """difftest.run_seed for @seed, shrinking a failure within what is
    left of SHRINK_BUDGET (20 s at most), which its time is taken from;
    the test fails with the report."""
    t0 = time.monotonic()
    ok, report = difftest.run_seed(seed, OPS, cfg, pair,
                                   shrink_budget=min(20, SHRINK_BUDGET[0]))
    if not ok:
        SHRINK_BUDGET[0] = max(0.0, SHRINK_BUDGET[0] -
                               (time.monotonic() - t0))
        pytest.fail(report, pytrace=False)


@pytest.mark.parametrize("seed", range(1, SEEDS + 1))
def test_seed(cfg, pair, seed):
    run_seed_or_fail(seed, cfg, pair)


def test_generator_is_deterministic():
    assert difftest.generate(7, 200) == difftest.generate(7, 200)
    assert difftest.generate(7, 200) != difftest.generate(8, 200)
    # a prefix does not depend on how many ops follow
    assert difftest.generate(7, 50) == difftest.generate(7, 200)[:50]


def test_generator_covers_every_operation():
    ops = difftest.generate(1, 3000)
    kinds = {op["op"] for op in ops}
    for k in ("open", "close", "write", "pwrite", "read", "pread", "lseek",
              "ftruncate", "truncate", "fallocate", "mkdir", "rmdir",
              "unlink", "rename", "link", "symlink", "readlink", "chmod",
              "chown", "utime", "setxattr", "getxattr", "listxattr",
              "removexattr", "mkfifo", "listdir", "stat", "fstat"):
        assert k in kinds, k
    assert {op["flags"] for op in ops if op["op"] == "rename"} == \
        {"0", "NOREPLACE", "EXCHANGE"}
    assert {op["mode"] for op in ops if op["op"] == "fallocate"} == \
        set(difftest.FALLOC_MODES)
    assert {op["whence"] for op in ops if op["op"] == "lseek"} >= \
        {"DATA", "HOLE"}
    flags = "|".join(op["flags"] for op in ops if op["op"] == "open")
    for f in ("CREAT", "EXCL", "TRUNC", "APPEND"):
        assert f in flags


LOCAL_SEEDS = int(os.environ.get("DIFFTEST_LOCAL_SEEDS", "4"))


@pytest.mark.parametrize("seed", range(1001, 1001 + LOCAL_SEEDS))
def test_seed_local_checks(cfg, seed):
    """The long-run mode (--full-every): 1000 ops per seed, the whole
    trees compared after every 25th op, only what each op can change
    after the others."""
    local = difftest.Config(cfg.opts, cfg.against_tmpfs, cfg.shmemfs,
                            cfg.wrapper, statvfs=cfg.statvfs,
                            full_every=25)
    p = difftest.Pair(local)
    try:
        ok, report = difftest.run_seed(seed, 1000, local, p,
                                       shrink_budget=min(20, SHRINK_BUDGET[0]))
    finally:
        problems = p.close()
    assert ok, report
    assert problems == []


@pytest.mark.parametrize("full_every", [1, 25])
@pytest.mark.parametrize("bug", ["write", "truncate"])
def test_shrinker_finds_injected_bug(bug, full_every):
    """With tmpfs on both sides and one side's writes (or truncates)
    deliberately corrupted, the tester must report a mismatch at the
    corrupted call itself (also when the whole trees are compared only
    every 25 ops) and shrink it to the few ops that matter."""
    _need_root()
    cfg = difftest.Config(OPTS, against_tmpfs=True, inject=bug,
                          full_every=full_every)
    p = difftest.Pair(cfg)
    try:
        for seed in range(1, 20):
            ok, report = difftest.run_seed(seed, 200, cfg, p,
                                           shrink_budget=30)
            if not ok:
                break
    finally:
        assert p.close() == []
    assert not ok, "injected bug was not detected"
    m = re.search(r"minimal reproducer \((\d+) ops", report)
    assert m, report
    # an open, the corrupted call, and at most the mkdirs of its parents
    assert int(m.group(1)) <= 4, report
    last = re.search(r"mismatch at step \d+ (\w+)\(", report).group(1)
    assert last in {"write": ("write", "pwrite"),
                    "truncate": ("ftruncate",)}[bug], report
    assert "--replay" in report


HUGE_SEEDS = int(os.environ.get("DIFFTEST_HUGE_SEEDS", "4"))
HUGE_POLICIES = ["never", "always", "within_size", "advise"]


@pytest.fixture(scope="module", params=[
    (pol, mem) for pol in HUGE_POLICIES for mem in ("", "mem=256k")],
    ids=lambda p: p[0] + ("-" + p[1] if p[1] else ""))
def huge_pair(request):
    """Both sides mounted with the same huge=; with mem=, shmemfs keeps
    256 KiB resident and swaps the rest (tmpfs keeps it all), so huge
    folios are split and swapped and come back as small pages."""
    _need_root()
    pol, mem = request.param
    opts = OPTS + ",huge=" + pol
    if TARGET == "tmpfs":
        if mem:
            pytest.skip("mem= is shmemfs's own")
        c = difftest.Config(opts, against_tmpfs=True, statvfs=STATVFS)
    else:
        if not os.path.exists("/dev/fuse") or not os.access(BIN, os.X_OK):
            pytest.skip("no /dev/fuse or no shmemfs binary")
        c = difftest.Config(opts, shmemfs=BIN, wrapper=shlex.split(
            os.environ.get("SHMEMFS_WRAPPER", "")), statvfs=STATVFS,
            extra=(mem + ",swap={dir}/swap") if mem else "")
    p = difftest.Pair(c)
    yield c, p
    problems = p.close()
    if problems:
        pytest.fail("while stopping the mounts:\n" + "\n".join(problems),
                    pytrace=False)


@pytest.mark.parametrize("seed", range(2001, 2001 + HUGE_SEEDS))
def test_seed_huge(huge_pair, seed):
    """Every huge= policy against a kernel tmpfs mounted with the same
    one: st_blocks (a folio is charged whole), st_blksize (2 MiB where
    the file is eligible), statvfs and SEEK_DATA/SEEK_HOLE after each
    op, including the ENOSPC path of a full size=."""
    c, p = huge_pair
    run_seed_or_fail(seed, c, p)
