# SPDX-License-Identifier: MIT
"""shmemctl for monitoring and long work: `stats --prometheus` (the
Prometheus text format, DESIGN.md "Stats"), `stats` without a mount
point (every fuse.shmemfs mount of /proc/self/mountinfo), and the
progress line of `swapoff` on a terminal (quiet otherwise)."""

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import ctypes
import ctypes.util

from conftest import (SHMEMCTL_BIN, SHMEMFS_BIN, WRAPPER, in_child,
                      is_mounted, target_available, wait_for)

pytestmark = pytest.mark.shmemfs_only

MiB = 1 << 20
PAGE = 4096
TIMEOUT = 60   # generous: valgrind on a loaded 2-core machine

# A Prometheus sample line: NAME{mountpoint="VALUE"} NUMBER, where VALUE
# has \\, \" and \n escaped.
SAMPLE_RE = re.compile(
    r'^(shmemfs_[a-z0-9_]+)\{mountpoint="((?:[^"\\\n]|\\[\\"n])*)"\} '
    r'([0-9]+)$')


def ctl(*args, check=True):
    if not os.access(SHMEMCTL_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMCTL_BIN)
    r = subprocess.run([SHMEMCTL_BIN] + list(args), capture_output=True,
                       text=True, timeout=TIMEOUT)
    if check:
        assert r.returncode == 0, "shmemctl %s: %s" % (args, r.stderr)
    return r


def json_stats(path):
    return json.loads(ctl("stats", path, "--json").stdout)


def prom_unescape(s):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1),
                                                      m.group(1)), s)


def parse_prometheus(text):
    """{(metric, mountpoint): value}, checking the exposition format:
    every metric has exactly one HELP and one TYPE line, before its
    samples, and its samples are contiguous."""
    samples = {}
    helped, typed, done = set(), {}, set()
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helped, "two HELP lines for " + name
            assert line.split(None, 3)[3:], "empty HELP for " + name
            helped.add(name)
            if current:
                done.add(current)
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name == current and name not in typed, line
            assert kind in ("gauge", "counter"), line
            typed[name] = kind
        else:
            m = SAMPLE_RE.match(line)
            assert m, "not a sample line: %r" % line
            name, mp, val = m.group(1), prom_unescape(m.group(2)), \
                int(m.group(3))
            assert name == current and name in typed, \
                "sample before its HELP/TYPE: %r" % line
            assert name not in done
            samples[(name, mp)] = val
    assert helped == set(typed)
    return samples, typed


class Daemon:
    """A shmemfs -f on a directory of our choosing (for odd names)."""

    def __init__(self, path, opts):
        target_available()
        self.path = path
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            WRAPPER + [SHMEMFS_BIN, "-f", "-o", opts, path],
            stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        assert wait_for(lambda: is_mounted(path) or
                        self.proc.poll() is not None, TIMEOUT)
        assert is_mounted(path), self.output()

    def output(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self):
        if is_mounted(self.path):
            subprocess.run(["fusermount3", "-u", self.path],
                           stderr=subprocess.DEVNULL)
        try:
            rc = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc


@pytest.fixture
def odd_mount():
    """A mount whose path has a space, a quote and a backslash."""
    base = tempfile.mkdtemp(prefix="shmemfs-ctl-")
    os.chmod(base, 0o755)
    path = os.path.join(base, 'a b"c\\d')
    os.mkdir(path)
    d = Daemon(path, "size=3m,nr_inodes=77")
    try:
        yield path
    finally:
        rc = d.stop()
        out = d.output()
        shutil.rmtree(base, ignore_errors=True)
        assert rc == 0 and out.strip() == "", out


# --- stats --prometheus --------------------------------------------------

def test_prometheus_one_mount(mount):
    m = mount("size=2m,nr_inodes=100")
    with open(os.path.join(m.path, "f"), "wb") as f:
        f.write(b"x" * 3 * PAGE)
    want = json_stats(m.path)
    r = ctl("stats", m.path, "--prometheus")
    assert r.stderr == ""
    samples, types = parse_prometheus(r.stdout)
    # the same keys as --json, each once, labelled with the mount point
    assert sorted(samples) == sorted(("shmemfs_" + k, m.path) for k in want)
    for k, v in want.items():
        if k in ("size_limit_bytes", "inodes_limit", "inodes_used",
                 "used_bytes", "swapouts", "swapins"):
            assert samples[("shmemfs_" + k, m.path)] == v, k
    assert samples[("shmemfs_size_limit_bytes", m.path)] == 2 * MiB
    assert samples[("shmemfs_inodes_limit", m.path)] == 100
    assert samples[("shmemfs_used_bytes", m.path)] == 3 * PAGE
    # counters only grow; the rest are gauges
    assert types["shmemfs_swapouts"] == "counter"
    assert types["shmemfs_swapins"] == "counter"
    assert types["shmemfs_used_bytes"] == "gauge"
    assert types["shmemfs_size_limit_bytes"] == "gauge"


def test_prometheus_label_escaping(odd_mount):
    r = ctl("stats", odd_mount, "--prometheus")
    assert 'mountpoint="%s"' % odd_mount.replace("\\", "\\\\").replace(
        '"', '\\"') in r.stdout
    samples, _ = parse_prometheus(r.stdout)
    assert samples[("shmemfs_inodes_limit", odd_mount)] == 77


def test_json_and_prometheus_exclusive(mount):
    m = mount("size=1m")
    r = ctl("stats", m.path, "--json", "--prometheus", check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert "exclude" in r.stderr.splitlines()[0]


def test_prometheus_not_a_shmemfs(tmp_path):
    r = ctl("stats", str(tmp_path), "--prometheus", check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert "not a shmemfs mount" in r.stderr


# --- stats of every mount -------------------------------------------------

def _ours_only(stderr, paths):
    """Other shmemfs mounts of the machine (other users' private mounts,
    daemons of concurrent runs) may fail; ours must not."""
    for line in stderr.splitlines():
        for p in paths:
            assert p not in line, stderr


def test_stats_every_mount(mount, odd_mount):
    a = mount("size=1m")
    b = mount("size=2m,nr_inodes=50")
    ours = [a.path, b.path, odd_mount]
    # plain: "mountpoint: PATH" then that mount's keys, mounts apart by
    # an empty line
    r = ctl("stats", check=False)
    _ours_only(r.stderr, ours)
    blocks = {}
    for block in r.stdout.strip("\n").split("\n\n"):
        lines = block.split("\n")
        assert lines[0].startswith("mountpoint: "), block
        kv = dict(l.split(": ", 1) for l in lines[1:])
        blocks[lines[0][len("mountpoint: "):]] = kv
    for p in ours:
        assert p in blocks, (p, sorted(blocks))
        assert blocks[p].keys() == json_stats(p).keys()
    assert blocks[a.path]["size_limit_bytes"] == str(MiB)
    assert blocks[b.path]["inodes_limit"] == "50"
    assert blocks[odd_mount]["inodes_limit"] == "77"
    # --json: an array of objects with "mountpoint" first
    r = ctl("stats", "--json", check=False)
    _ours_only(r.stderr, ours)
    arr = json.loads(r.stdout)
    by = {o["mountpoint"]: o for o in arr}
    assert list(arr[0])[0] == "mountpoint"
    for p in ours:
        o = dict(by[p])
        del o["mountpoint"]
        assert o.keys() == json_stats(p).keys()
    assert by[b.path]["size_limit_bytes"] == 2 * MiB
    # --prometheus: one HELP/TYPE block per key, a sample per mount
    r = ctl("stats", "--prometheus", check=False)
    _ours_only(r.stderr, ours)
    samples, _ = parse_prometheus(r.stdout)
    for p in ours:
        for k in json_stats(p):
            assert ("shmemfs_" + k, p) in samples
    assert samples[("shmemfs_size_limit_bytes", a.path)] == MiB
    # only shmemfs mounts: not the kernel tmpfs of /dev/shm, not /
    assert not [p for (_, p) in samples if p in ("/", "/dev/shm")]


def test_stats_every_mount_gone_after_unmount(mount):
    m = mount("size=1m")
    assert m.path in json.dumps(json.loads(ctl("stats", "--json",
                                               check=False).stdout))
    assert m.finish() == []
    r = ctl("stats", "--json", check=False)
    assert m.path not in [o["mountpoint"] for o in json.loads(r.stdout)]
    _ours_only(r.stderr, [m.path])


def test_stats_every_mount_one_daemon_stopped(mount):
    """A daemon that does not answer (here SIGSTOPped) costs the listing
    a bounded wait, is reported, and the other mounts are still printed:
    `stats` without a mount point asks each mount from a child process
    of its own and gives up on it after 5 s."""
    if not os.access(SHMEMCTL_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMCTL_BIN)
    a = mount("size=1m")
    b = mount("size=2m")
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = subprocess.run([SHMEMCTL_BIN, "stats", "--json"],
                           capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    assert took < 30, took
    assert r.returncode == 1
    assert "%s: no answer from its daemon within 5 s" % b.path in r.stderr
    by = {o["mountpoint"]: o for o in json.loads(r.stdout)}
    assert b.path not in by
    assert by[a.path]["size_limit_bytes"] == MiB
    # answered again once it runs
    assert json_stats(b.path)["size_limit_bytes"] == 2 * MiB


CLONE_NEWNS = 0x00020000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _without_shmemfs_mounts():
    """In a private mount namespace: detach every fuse.shmemfs mount
    (this namespace's copies only), then run stats in each format."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare(CLONE_NEWNS)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    with open("/proc/self/mountinfo") as f:
        mps = [l.split()[4] for l in f
               if l.split(" - ")[1].split()[0] == "fuse.shmemfs"]
    for mp in reversed(mps):
        mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                    mp)
        subprocess.run(["umount", "-l", mp], check=True)
    return [(lambda r: (r.returncode, r.stdout, r.stderr))(
        subprocess.run([SHMEMCTL_BIN, "stats"] + fmt, capture_output=True,
                       text=True, timeout=TIMEOUT))
        for fmt in ([], ["--json"], ["--prometheus"])]


@pytest.mark.needs_root
def test_stats_without_any_mount(mount):
    """No shmemfs mount at all: nothing (an empty JSON array), status 0."""
    if not os.access(SHMEMCTL_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMCTL_BIN)
    m = mount("size=1m")        # at least one to detach
    plain, js, prom = in_child(_without_shmemfs_mounts)
    assert plain == (0, "", "")
    assert js[0] == 0 and json.loads(js[1]) == [] and js[2] == ""
    assert prom == (0, "", "")
    assert is_mounted(m.path)   # outside the namespace, still there


# --- swapoff progress -----------------------------------------------------

def _swapped_mount(mount, swapdir):
    """A mount with about 10 MiB in swap that fits back into mem=."""
    m = mount("size=128m,mem=24m,swap=%s/swap,swapsize=64m" % swapdir)
    block = os.urandom(MiB)
    for name in ("a", "b"):
        with open(os.path.join(m.path, name), "wb") as f:
            for i in range(20):
                f.write(i.to_bytes(8, "little") + block[8:])
    os.unlink(os.path.join(m.path, "b"))
    # the daemon frees b's pages once the kernel forgets the inode
    assert wait_for(lambda: json_stats(m.path)["used_bytes"] <= 21 * MiB,
                    TIMEOUT)
    st = json_stats(m.path)
    assert st["swapped_bytes"] > 0
    assert st["swapped_bytes"] + st["resident_bytes"] <= 24 * MiB
    return m


@pytest.fixture
def swapdir():
    d = tempfile.mkdtemp(prefix="shmemfs-ctl-swap-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _run_on_pty(args):
    """Run with stdout and stderr on a pseudo-terminal; returns
    (status, everything it wrote)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if not r:
            if p.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 4096)
        except OSError:          # EIO: the slave side is closed
            break
        if not data:
            break
        out += data
    os.close(master)
    return p.wait(timeout=TIMEOUT), out.decode()


PROGRESS_RE = re.compile(
    r"swapoff (.*): (\d+) of (\d+) pages \((\d+)%\), (\d+) pages/s, "
    r"(?:(\d+) s left|time left unknown|done in [0-9.]+ s|"
    r"failed after [0-9.]+ s)")


def test_swapoff_progress_on_terminal(mount, swapdir):
    if not os.access(SHMEMCTL_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMCTL_BIN)
    m = _swapped_mount(mount, swapdir)
    total = json_stats(m.path)["swapped_bytes"] // PAGE
    rc, out = _run_on_pty([SHMEMCTL_BIN, "swapoff", m.path])
    assert rc == 0, out
    assert json_stats(m.path)["swapped_bytes"] == 0
    # one line rewritten in place with \r, ended by a newline
    updates = [u for u in re.split(r"[\r\n]+", out) if u.strip()]
    assert len(updates) >= 2, out
    seen = []
    for u in updates:
        mm = PROGRESS_RE.search(u)
        assert mm, "not a progress line: %r" % u
        assert mm.group(1) == m.path
        assert int(mm.group(3)) == total
        seen.append(int(mm.group(2)))
    assert seen[0] == 0 and seen == sorted(seen), seen
    assert seen[-1] == total
    assert "done in" in updates[-1] and "(100%)" in updates[-1]
    assert out.rstrip(" \r").endswith("\n")
    # swap is off: nothing more to show
    rc, out = _run_on_pty([SHMEMCTL_BIN, "swapoff", m.path])
    assert rc == 0 and out == ""


def test_swapoff_quiet_when_not_a_terminal(mount, swapdir):
    m = _swapped_mount(mount, swapdir)
    r = ctl("swapoff", m.path)
    assert r.stdout == "" and r.stderr == ""
    assert json_stats(m.path)["swapped_bytes"] == 0


def test_swapoff_failure_on_terminal(mount, swapdir):
    """ENOMEM (the pages do not fit in mem=) still ends the progress
    line and reports the error."""
    if not os.access(SHMEMCTL_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMCTL_BIN)
    m = mount("size=128m,mem=8m,swap=%s/swap,swapsize=64m" % swapdir)
    with open(os.path.join(m.path, "f"), "wb") as f:
        f.write(os.urandom(24 * MiB))
    assert json_stats(m.path)["swapped_bytes"] > 0
    rc, out = _run_on_pty([SHMEMCTL_BIN, "swapoff", m.path])
    assert rc == 1
    assert "Cannot allocate memory" in out
    before = out.split("shmemctl: ")[0]
    assert "failed after" in before and before.endswith("\n"), out
