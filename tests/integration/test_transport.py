# SPDX-License-Identifier: MIT
"""The FUSE transports (src/daemon/transport*.c): /dev/fuse, and FUSE over
io_uring when the kernel offers it (module parameter fuse.enable_uring,
set here and restored).  -o uring / -o nouring choose, the default is the
ring when offered, and asking for the ring where it is missing falls back
to /dev/fuse with one line on stderr.  shmemfs-only: kernel tmpfs has no
transport.  The rest of the suite runs on both transports through
SHMEMFS_TRANSPORT (scripts/run-tests.sh)."""

import hashlib
import os
import shutil
import signal
import subprocess
import threading

import pytest

import conftest
from conftest import (SHMEMCTL_BIN, SHMEMFS_BIN, WRAPPER, is_mounted,
                      make_mountpoint, wait_for)

pytestmark = [pytest.mark.shmemfs_only, pytest.mark.needs_root]

PARAM = "/sys/module/fuse/parameters/enable_uring"
FALLBACK_RE = r"^shmemfs: -o uring: this kernel does not offer FUSE over "
MiB = 1 << 20


@pytest.fixture
def uring_param():
    """set(True/False) writes fuse.enable_uring; restored afterwards."""
    if not os.path.exists(PARAM):
        pytest.skip("this kernel has no FUSE over io_uring (%s missing)"
                    % PARAM)
    with open(PARAM) as f:
        old = f.read().strip()

    def set_param(on):
        with open(PARAM, "w") as f:
            f.write("Y" if on else "N")
    yield set_param
    with open(PARAM, "w") as f:
        f.write(old)


@pytest.fixture
def no_env_transport(monkeypatch):
    """Mount with exactly the options a test gives (no SHMEMFS_TRANSPORT)."""
    monkeypatch.setattr(conftest, "TRANSPORT", "")


def uring_queues(path):
    out = subprocess.run([SHMEMCTL_BIN, "stats", path], check=True,
                         capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        key, _, value = line.partition(": ")
        if key == "uring_queues":
            return int(value)
    raise AssertionError("no uring_queues in stats:\n" + out)


def ncpus():
    return os.sysconf("SC_NPROCESSORS_CONF")


def roundtrip(path):
    """Data, names, attributes and errors through the transport."""
    data = os.urandom(3 * MiB + 12345)
    p = os.path.join(path, "f")
    with open(p, "wb") as f:
        f.write(data[:MiB + 1])             # larger than one request
        f.write(data[MiB + 1:])
    with open(p, "rb") as f:
        got = f.read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    os.mkdir(os.path.join(path, "d"))
    for i in range(300):
        os.close(os.open(os.path.join(path, "d", "n%03d" % i),
                         os.O_CREAT | os.O_WRONLY, 0o600))
    assert sorted(os.listdir(os.path.join(path, "d"))) == \
        ["n%03d" % i for i in range(300)]
    os.setxattr(p, "user.k", b"v" * 100)
    assert os.getxattr(p, "user.k") == b"v" * 100
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(path, "missing"))
    with pytest.raises(OSError) as e:
        os.rmdir(os.path.join(path, "d"))
    assert e.value.errno == 39              # ENOTEMPTY, error replies
    assert os.stat(p).st_size == len(data)


def test_nouring_serves_dev_fuse(mount, uring_param):
    uring_param(True)
    m = mount("nouring")
    roundtrip(m.path)
    assert uring_queues(m.path) == 0


def test_uring_one_queue_per_cpu(mount, uring_param):
    uring_param(True)
    m = mount("uring")
    roundtrip(m.path)
    assert uring_queues(m.path) == ncpus()


def test_default_takes_the_ring_when_offered(mount, uring_param,
                                             no_env_transport):
    uring_param(True)
    m = mount("size=64m")
    roundtrip(m.path)
    assert uring_queues(m.path) == ncpus()


def test_default_without_ring_is_silent(mount, uring_param,
                                        no_env_transport):
    uring_param(False)
    m = mount("size=64m")       # the fixture fails on any daemon output
    roundtrip(m.path)
    assert uring_queues(m.path) == 0


def test_uring_asked_without_ring_falls_back(mount, uring_param):
    uring_param(False)
    m = mount("uring", allowed_stderr=[FALLBACK_RE])
    roundtrip(m.path)
    assert uring_queues(m.path) == 0
    lines = [ln for ln in m.log().splitlines() if "-o uring" in ln]
    assert len(lines) == 1, m.log()


def test_uring_both_queues_in_parallel(mount, uring_param):
    """Callers on every CPU: each queue serves its CPU's requests, at the
    same time, and nothing is lost or answered twice."""
    uring_param(True)
    m = mount("uring")
    errors = []

    def worker(cpu):
        try:
            os.sched_setaffinity(0, {cpu})
            d = os.path.join(m.path, "c%d" % cpu)
            os.mkdir(d)
            for i in range(500):
                p = os.path.join(d, str(i))
                with open(p, "wb") as f:
                    f.write(bytes([i % 256]) * (i * 37))
                assert os.stat(p).st_size == i * 37
            for i in range(0, 500, 2):
                os.unlink(os.path.join(d, str(i)))
            assert len(os.listdir(d)) == 250
        except BaseException as e:      # reported below
            errors.append(e)

    cpus = sorted(os.sched_getaffinity(0))
    threads = [threading.Thread(target=worker, args=(c,)) for c in cpus]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert uring_queues(m.path) == ncpus()


def test_uring_sigterm_unmounts(mount, uring_param):
    uring_param(True)
    m = mount("uring")
    roundtrip(m.path)
    m.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: m.proc.poll() is not None, 10)
    assert m.proc.returncode == 0, m.log()
    assert wait_for(lambda: not is_mounted(m.path), 10)


def test_uring_unmount_ends_the_daemon(mount, uring_param):
    uring_param(True)
    m = mount("uring")
    roundtrip(m.path)
    subprocess.run(["fusermount3", "-u", m.path], check=True, timeout=10)
    assert wait_for(lambda: m.proc.poll() is not None, 10)
    assert m.proc.returncode == 0, m.log()


@pytest.mark.parametrize("opts,queues", [("size=64m", 0),
                                         ("size=64m,uring", None)])
def test_single_thread_means_dev_fuse(uring_param, opts, queues):
    """-s is one thread: no queue threads unless -o uring says so."""
    uring_param(True)
    base, mp = make_mountpoint()
    p = subprocess.Popen(WRAPPER + [SHMEMFS_BIN, "-f", "-s", "-o", opts, mp],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: is_mounted(mp), 10)
        os.mkdir(os.path.join(mp, "d"))
        assert uring_queues(mp) == (ncpus() if queues is None else queues)
    finally:
        subprocess.run(["fusermount3", "-u", mp], timeout=10)
        out, _ = p.communicate(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
    assert p.returncode == 0 and out == b"", out
