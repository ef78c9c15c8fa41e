# SPDX-License-Identifier: MIT
"""The shmemfs daemon and shmemctl as programs: option checking, exit
codes, signals, daemonizing, stats, unprivileged mounts.  Most of these
are shmemfs-only; the few that make sense for kernel tmpfs run there too."""

import errno
import json
import os
import shutil
import signal
import stat
import subprocess

import pytest

from conftest import (NOBODY, SANITIZER_RE, SHMEMCTL_BIN, SHMEMFS_BIN,
                      WRAPPER, errno_of, is_mounted, make_mountpoint, run_as,
                      pids_with_arg, target_available, wait_for)

MiB = 1 << 20
STATS_KEYS = ["size_limit_bytes", "used_bytes", "inodes_limit",
              "inodes_used", "mem_limit_bytes", "resident_bytes",
              "swapped_bytes", "swap_total_bytes", "swap_used_bytes",
              "swapouts", "swapins", "huge_pages", "huge_splits",
              "huge_collapses", "huge_fallbacks", "uring_queues"]
CMD_TIMEOUT = 10        # seconds for any helper command or wait


@pytest.fixture
def mountpoint():
    """An empty directory for tests that run the daemon themselves; any
    mount left on it is removed afterwards."""
    base, mp = make_mountpoint()
    yield mp
    for cmd in (["fusermount3", "-u", mp], ["umount", mp],
                ["umount", "-l", mp]):
        if not is_mounted(mp):
            break
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=CMD_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass                        # the next, harder way may work
    shutil.rmtree(base, ignore_errors=True)


def run_daemon(args, timeout=10, **kw):
    """Run shmemfs with args; return (exit status, output lines).  A daemon
    that does not exit in time is killed and the test fails.  Never blocks
    for long: a process outside the daemon's process group (a daemonized
    child) that keeps the output pipe open only costs a few seconds."""
    target_available()
    p = subprocess.Popen(WRAPPER + [SHMEMFS_BIN] + args,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True,
                         **kw)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            out, _ = p.communicate(timeout=CMD_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = e.output or b""       # what was read before giving up
            p.stdout.close()
            try:
                p.wait(timeout=CMD_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        pytest.fail("shmemfs %s did not exit within %d s; output:\n%s" %
                    (" ".join(args), timeout, out.decode(errors="replace")))
    lines = [l for l in out.decode(errors="replace").splitlines() if l.strip()]
    return p.returncode, lines


def no_sanitizer(lines):
    bad = [l for l in lines if SANITIZER_RE.search(l)]
    assert not bad, "sanitizer report:\n" + "\n".join(bad)


# --- option checking -----------------------------------------------------

@pytest.mark.shmemfs_only
@pytest.mark.parametrize("opt", ["size=-1", "size=99999999999g", "huge=maybe",
                                 "nr_inodes=12q", "foo=bar", "size=",
                                 "size=1x", "nr_inodes=-5", "mode=99999",
                                 "uid=notanumber", "mem=12q", "swapsize=-1",
                                 "nr_blocks=abc"])
def test_bad_option(mountpoint, opt):
    rc, lines = run_daemon(["-f", "-o", opt, mountpoint])
    no_sanitizer(lines)
    assert rc == 1, "exit status %d for -o %s" % (rc, opt)
    assert len(lines) == 1, "want exactly one line, got %r" % lines
    key = opt.split("=")[0]
    assert key in lines[0], "message does not name %r: %r" % (key, lines[0])
    assert not is_mounted(mountpoint)


@pytest.mark.shmemfs_only
def test_bad_option_among_good_ones(mountpoint):
    rc, lines = run_daemon(["-f", "-o", "size=1m,huge=maybe,nr_inodes=10",
                            mountpoint])
    assert rc == 1 and len(lines) == 1 and "huge" in lines[0]
    assert not is_mounted(mountpoint)


@pytest.mark.shmemfs_only
def test_mountpoint_missing(mountpoint):
    missing = os.path.join(mountpoint, "does", "not", "exist")
    rc, lines = run_daemon(["-f", missing])
    no_sanitizer(lines)
    assert rc == 1 and lines
    assert not is_mounted(missing) and not is_mounted(mountpoint)


@pytest.mark.shmemfs_only
def test_mountpoint_is_a_file(mountpoint):
    f = os.path.join(mountpoint, "regular")
    open(f, "w").close()
    rc, lines = run_daemon(["-f", f])
    no_sanitizer(lines)
    assert rc == 1 and lines
    assert not is_mounted(f)


@pytest.mark.shmemfs_only
def test_no_mountpoint_argument():
    rc, lines = run_daemon(["-f"])
    no_sanitizer(lines)
    assert rc != 0 and lines


@pytest.mark.mount_opts("size=0", "nr_inodes=0")
def test_zero_means_unlimited(mnt):
    sv = os.statvfs(mnt)
    assert (sv.f_blocks, sv.f_files) == (0, 0)
    fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"z" * (3 * MiB))
    os.close(fd)


@pytest.mark.parametrize("opts", ["huge=never", "huge=always",
                                  "huge=within_size", "huge=advise",
                                  "noswap", "size=1m,huge=always,noswap"])
def test_accepted_options(mount, opts):
    m = mount(opts).path
    with open(os.path.join(m, "f"), "wb") as f:
        f.write(b"h" * (4 * MiB if "size" not in opts else 100000))
    assert os.stat(os.path.join(m, "f")).st_size in (4 * MiB, 100000)


# --- ramfs -----------------------------------------------------------------

@pytest.mark.shmemfs_only
def test_size_limit_vs_ramfs(mount):
    limited = mount("size=1m").path
    fd = os.open(os.path.join(limited, "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    assert os.write(fd, b"a" * (2 * MiB)) == MiB
    assert errno_of(os.write, fd, b"a") == errno.ENOSPC
    os.close(fd)

    ram = mount("ramfs").path
    fd = os.open(os.path.join(ram, "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    total = 0
    while total < 2 * MiB:
        total += os.write(fd, b"a" * (2 * MiB - total))
    os.close(fd)
    assert os.stat(os.path.join(ram, "f")).st_size == 2 * MiB
    sv = os.statvfs(ram)
    assert (sv.f_blocks, sv.f_bfree, sv.f_bavail) == (0, 0, 0)   # no limit
    assert (sv.f_files, sv.f_ffree) == (0, 0)


@pytest.mark.shmemfs_only
def test_ramfs_overrides_size(mount):
    m = mount("size=1m,ramfs").path
    fd = os.open(os.path.join(m, "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"b" * (2 * MiB))
    os.close(fd)
    assert os.statvfs(m).f_blocks == 0


@pytest.mark.shmemfs_only
def test_swap_file_created_and_removed(mount, tmp_path):
    swap = str(tmp_path / "swapfile")
    m = mount("size=8m,mem=2m,swap=%s,swapsize=16m" % swap)
    with open(os.path.join(m.path, "f"), "wb") as f:
        f.write(b"s" * (4 * MiB))          # twice mem=: must swap
    with open(os.path.join(m.path, "f"), "rb") as f:
        assert f.read() == b"s" * (4 * MiB)
    assert wait_for(lambda: os.path.isfile(swap)), "no swap file created"
    m.finish()
    assert not m.problems, m.problems
    assert not os.path.exists(swap), "swap file we created was left behind"
    # an existing file is used and kept
    with open(swap, "wb") as f:
        f.truncate(16 * MiB)
    m = mount("size=8m,mem=2m,swap=%s,swapsize=16m" % swap)
    m.finish()
    assert not m.problems, m.problems
    assert os.path.exists(swap)
    os.unlink(swap)


# --- lifecycle ----------------------------------------------------------

def test_two_mounts_are_independent(mount):
    a = mount("size=1m").path
    b = mount("size=2m,nr_inodes=50").path
    open(os.path.join(a, "only-a"), "w").close()
    assert os.listdir(b) == []
    assert os.statvfs(a).f_blocks == 256
    assert os.statvfs(b).f_blocks == 512
    assert os.statvfs(b).f_files == 50
    assert os.stat(a).st_dev != os.stat(b).st_dev


@pytest.mark.shmemfs_only
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts_cleanly(mount, sig):
    m = mount("size=4m")
    with open(os.path.join(m.path, "f"), "wb") as f:
        f.write(b"x" * 100000)
    m.proc.send_signal(sig)
    rc = m.wait_exit()
    assert rc == 0, "shmemfs exited with %r after %s" % (rc, sig.name)
    assert wait_for(lambda: not is_mounted(m.path), 2), \
        "still mounted after %s" % sig.name
    assert not os.path.exists(os.path.join(m.path, "f"))


@pytest.mark.shmemfs_only
def test_unmount_exits_zero(mount):
    m = mount()
    open(os.path.join(m.path, "f"), "w").close()
    r = subprocess.run(["fusermount3", "-u", m.path], capture_output=True,
                       text=True, timeout=CMD_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert m.wait_exit() == 0
    assert not is_mounted(m.path)


@pytest.mark.shmemfs_only
def test_daemonizes_without_f(mountpoint):
    if WRAPPER:
        # The forked daemon runs under the wrapper too, and valgrind keeps
        # its own duplicate of stderr: the output pipe stays open after
        # the parent exits, so "exits 0 with no output" cannot be told
        # apart from a daemon that never detached.
        pytest.skip("daemonizing cannot be checked under SHMEMFS_WRAPPER "
                    "(the wrapper keeps the output pipe open after the fork)")
    rc, lines = run_daemon(["-o", "size=1m", mountpoint])
    try:
        assert rc == 0 and lines == []
        assert is_mounted(mountpoint)
        assert os.statvfs(mountpoint).f_blocks == 256
        pids = pids_with_arg(mountpoint)
        assert pids, "no daemon process left running"
        subprocess.run(["fusermount3", "-u", mountpoint], check=True,
                       timeout=CMD_TIMEOUT)
        assert wait_for(lambda: not any(
            os.path.exists("/proc/%d" % p) and
            open("/proc/%d/stat" % p).read().split()[2] != "Z"
            for p in pids), 10), "daemon did not exit after unmount"
    finally:
        for p in pids_with_arg(mountpoint):
            os.kill(p, signal.SIGKILL)


# --- shmemctl ---------------------------------------------------------------

def shmemctl(*args):
    if not os.access(SHMEMCTL_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMCTL_BIN)
    r = subprocess.run([SHMEMCTL_BIN] + list(args), capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, "shmemctl %s: %s" % (" ".join(args), r.stderr)
    assert r.stderr == "", r.stderr
    return r.stdout


def stats(path):
    out = {}
    for line in shmemctl("stats", path).splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(": ")
        assert sep, "not a 'key: value' line: %r" % line
        assert key not in out, "duplicate key %s" % key
        out[key] = value.strip()
    return out


@pytest.mark.shmemfs_only
@pytest.mark.mount_opts("size=64m,nr_inodes=1000")
def test_shmemctl_stats(mnt):
    s0 = stats(mnt)
    for k in STATS_KEYS:
        assert k in s0, "missing key %s" % k
        int(s0[k])
    assert int(s0["size_limit_bytes"]) == 64 * MiB
    assert int(s0["inodes_limit"]) == 1000
    assert int(s0["inodes_used"]) >= 1             # the root
    fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"m" * MiB)
    os.close(fd)
    s1 = stats(mnt)
    assert int(s1["used_bytes"]) - int(s0["used_bytes"]) >= MiB
    assert int(s1["inodes_used"]) == int(s0["inodes_used"]) + 1
    assert int(s1["resident_bytes"]) >= MiB
    # JSON form carries the same keys with numeric values
    j = json.loads(shmemctl("stats", mnt, "--json"))
    assert isinstance(j, dict)
    for k in STATS_KEYS:
        assert isinstance(j[k], int), k
    assert j["used_bytes"] == int(s1["used_bytes"])
    assert j["size_limit_bytes"] == 64 * MiB
    os.unlink(os.path.join(mnt, "f"))
    assert wait_for(lambda: int(stats(mnt)["used_bytes"]) ==
                    int(s0["used_bytes"]))


@pytest.mark.shmemfs_only
def test_shmemctl_not_a_shmemfs(tmp_path):
    if not os.access(SHMEMCTL_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMCTL_BIN)
    r = subprocess.run([SHMEMCTL_BIN, "stats", str(tmp_path)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and r.stderr.strip()


# --- unprivileged mount via fusermount3 ------------------------------------

def _fusermount_setuid():
    fm = shutil.which("fusermount3")
    if not fm:
        return False
    st = os.stat(fm)
    return st.st_uid == 0 and bool(st.st_mode & stat.S_ISUID)


def _user_allow_other():
    try:
        with open("/etc/fuse.conf") as f:
            return any(l.strip() == "user_allow_other" for l in f)
    except OSError:
        return False


@pytest.mark.shmemfs_only
@pytest.mark.needs_root
def test_unprivileged_mount(mountpoint):
    """A plain user mounts through the setuid fusermount3.  Without
    user_allow_other in /etc/fuse.conf the mount is private to that user,
    so every check runs as the user too."""
    target_available()
    if not _fusermount_setuid():
        pytest.skip("fusermount3 is not setuid root")
    if os.stat("/dev/fuse").st_mode & 0o006 != 0o006:
        # libfuse opens /dev/fuse itself first and gives up on EACCES
        pytest.skip("/dev/fuse is not read/writable by other users")
    os.chown(mountpoint, NOBODY, NOBODY)
    opts = "size=2m" + (",allow_other" if _user_allow_other() else "")
    log = os.path.join(os.path.dirname(mountpoint), "daemon.log")

    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    env = dict(os.environ, HOME="/nonexistent")
    with open(log, "wb") as logf:
        proc = subprocess.Popen(WRAPPER + [SHMEMFS_BIN, "-f", "-o", opts,
                                           mountpoint],
                                stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, preexec_fn=drop,
                                env=env, start_new_session=True)
    try:
        ok = wait_for(lambda: is_mounted(mountpoint) or
                      proc.poll() is not None, 10)
        output = open(log, errors="replace").read()
        assert ok and is_mounted(mountpoint), \
            "unprivileged mount failed (status %r):\n%s" % (proc.poll(),
                                                             output)

        def work():
            p = os.path.join(mountpoint, "userfile")
            with open(p, "wb") as f:
                f.write(b"u" * 1000)
            st = os.stat(p)
            root = os.stat(mountpoint)
            return [st.st_uid, st.st_gid, st.st_size, root.st_uid,
                    os.statvfs(mountpoint).f_blocks]
        assert run_as(NOBODY, NOBODY, work) == \
            [NOBODY, NOBODY, 1000, NOBODY, 512]
        r = subprocess.run(["fusermount3", "-u", mountpoint],
                           preexec_fn=drop, capture_output=True, text=True,
                           timeout=CMD_TIMEOUT)
        assert r.returncode == 0, r.stderr
        assert proc.wait(timeout=CMD_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            try:
                subprocess.run(["umount", "-l", mountpoint],
                               timeout=CMD_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            try:
                proc.wait(timeout=CMD_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=CMD_TIMEOUT)
    output = [l for l in open(log, errors="replace").read().splitlines()
              if l.strip()]
    assert output == [], "daemon output:\n" + "\n".join(output)
