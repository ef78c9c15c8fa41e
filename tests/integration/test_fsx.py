# SPDX-License-Identifier: MIT
"""Run the fsx random file-operation exerciser (tests/fsx/fsx.c) against a
kernel tmpfs, the oracle, and against a shmemfs mount.

Self-contained on purpose: it uses none of conftest.py's fixtures, so it
mounts both targets itself whatever SHMEMFS_TEST_TARGET says.

Environment:
  FSX_BIN       the fsx binary (default <repo>/build/fsx, then
                <repo>/build/tests/fsx/fsx, where meson puts it)
  SHMEMFS_BIN   the daemon (default <repo>/build/shmemfs)
  FSX_SEEDS     comma-separated seeds (default 1,2,3)
  FSX_OPS       operations per run (default 20000)

A failing run prints fsx's report: the last operations, the first bad
byte and a hex dump.  Re-run the "reproduce with:" line by hand against a
mount of your own to debug it.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _default_fsx():
    for rel in (("build", "fsx"), ("build", "tests", "fsx", "fsx")):
        path = os.path.join(REPO, *rel)
        if os.access(path, os.X_OK):
            return path
    return os.path.join(REPO, "build", "fsx")


FSX_BIN = os.environ.get("FSX_BIN") or _default_fsx()
SHMEMFS_BIN = os.environ.get("SHMEMFS_BIN",
                             os.path.join(REPO, "build", "shmemfs"))
SEEDS = [int(s) for s in os.environ.get("FSX_SEEDS", "1,2,3").split(",")]
NUMOPS = int(os.environ.get("FSX_OPS", "20000"))
NFILES = 3
MOUNT_TIMEOUT = 10.0
RUN_TIMEOUT = 300.0


def _mounted(path):
    """Whether path is a mount point, from /proc/self/mountinfo: reading
    the table never blocks on a hung FUSE daemon, unlike stat()."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                         line.split()[4])
            if mnt == path:
                return True
    return False


@pytest.fixture
def tmpfs_dir():
    if os.geteuid() != 0:
        pytest.skip("mounting a kernel tmpfs needs root")
    path = tempfile.mkdtemp(prefix="fsx-tmpfs-")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs",
                        path], check=True, capture_output=True)
        try:
            yield path
        finally:
            if subprocess.run(["umount", path]).returncode:
                subprocess.run(["umount", "-l", path])
    finally:
        os.rmdir(path)


def _shmemfs(opts):
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing")
    if not os.access(SHMEMFS_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMFS_BIN)
    if not shutil.which("fusermount3"):
        pytest.skip("fusermount3 is missing")
    path = tempfile.mkdtemp(prefix="fsx-shmemfs-")
    os.chmod(path, 0o755)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([SHMEMFS_BIN, "-f", "-o",
                             ",".join(["allow_other"] + opts), path],
                            stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log)

    def output():
        log.seek(0)
        return log.read().decode(errors="replace")

    try:
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not _mounted(path):
            if proc.poll() is not None:
                pytest.fail("shmemfs exited with %d before mounting:\n%s"
                            % (proc.returncode, output()))
            if time.monotonic() > deadline:
                pytest.fail("shmemfs did not mount %s within %gs:\n%s"
                            % (path, MOUNT_TIMEOUT, output()))
            time.sleep(0.02)
        yield path
    finally:
        if _mounted(path):
            subprocess.run(["fusermount3", "-u", path])
        try:
            proc.wait(timeout=MOUNT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            subprocess.run(["fusermount3", "-u", "-z", path])
        out = output()
        log.close()
        os.rmdir(path)
    assert proc.returncode == 0, \
        "shmemfs exited with %d:\n%s" % (proc.returncode, out)
    assert out == "", "shmemfs wrote to stdout/stderr:\n" + out


@pytest.fixture
def shmemfs_dir():
    yield from _shmemfs([])


@pytest.fixture
def shmemfs_swap_dir():
    """A budget far smaller than fsx's files (3 x 256 KiB): most
    operations hit swapped pages."""
    swapdir = tempfile.mkdtemp(prefix="fsx-swap-")
    try:
        yield from _shmemfs(["size=64m", "mem=256k",
                             "swap=%s/swap" % swapdir, "swapsize=64m"])
    finally:
        shutil.rmtree(swapdir)


def _shmemfs_huge(policy, mem):
    """huge= folios: split by fsx's truncates and punches, grown by its
    writes past end of file, shrunk when size= fills; with a 256 KiB
    budget every folio is also split to be swapped."""
    if not mem:
        yield from _shmemfs(["size=64m", "huge=" + policy])
        return
    swapdir = tempfile.mkdtemp(prefix="fsx-swap-")
    try:
        yield from _shmemfs(["size=64m", "mem=256k", "huge=" + policy,
                             "swap=%s/swap" % swapdir, "swapsize=64m"])
    finally:
        shutil.rmtree(swapdir)


@pytest.fixture
def shmemfs_huge_always_dir():
    yield from _shmemfs_huge("always", False)


@pytest.fixture
def shmemfs_huge_within_size_dir():
    yield from _shmemfs_huge("within_size", False)


@pytest.fixture
def shmemfs_huge_always_swap_dir():
    yield from _shmemfs_huge("always", True)


@pytest.fixture
def shmemfs_huge_within_size_swap_dir():
    yield from _shmemfs_huge("within_size", True)


@pytest.fixture(params=["tmpfs", "shmemfs", "shmemfs_swap",
                        "shmemfs_huge_always", "shmemfs_huge_within_size",
                        "shmemfs_huge_always_swap",
                        "shmemfs_huge_within_size_swap"])
def target(request):
    """A mounted directory of each kind; the tmpfs one is the oracle that
    shows a failure is in shmemfs and not in fsx."""
    if not os.access(FSX_BIN, os.X_OK):
        pytest.skip("%s is not built (set FSX_BIN)" % FSX_BIN)
    return request.getfixturevalue(request.param + "_dir")


def run_fsx(args):
    proc = subprocess.run([FSX_BIN] + args, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("seed", SEEDS)
def test_fsx(target, seed):
    # Odd seeds also drop the page cache before reads, so that more of them
    # reach the filesystem (for FUSE: the daemon) instead of the kernel's
    # cached copy.
    args = ["-q", "-N", str(NUMOPS), "-S", str(seed), "-f", str(NFILES)]
    if seed % 2:
        args.append("-d")
    rc, out, err = run_fsx(args + [target])
    assert rc == 0, "fsx failed (exit %d):\n%s%s" % (rc, out, err)
    assert "ops OK" in out
    # Every operation must have run: nothing may be turned off as
    # unsupported (tmpfs supports them all, so must shmemfs).
    assert "disabled" not in out, out
    assert os.listdir(target) == []


def test_fsx_detects_errors(target):
    """fsx itself must be able to fail: drop one write from its model and
    it must report the difference and exit 1."""
    rc, out, err = run_fsx(["-q", "-N", "3000", "-S", "7", "-f", "2",
                            "-I", "1000", target])
    assert rc == 1, "fsx missed an injected error:\n%s%s" % (out, err)
    assert re.search(r"FAILED at op 10\d\d", err), err
    assert "MISMATCH" in err or "st_size" in err, err
    assert "last 50 operations" in err and "reproduce with:" in err, err
