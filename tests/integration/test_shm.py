# SPDX-License-Identifier: MIT
"""Shared memory for unmodified programs: shmemfs-shm and libshmemfs-shm.so
(README "Shared memory"; DESIGN.md "Shared memory for unmodified programs").

The oracle is the kernel: tests/shm/shmtest.c runs one scenario of SysV,
POSIX and memfd calls and prints every result and errno; the scenario runs
natively in a private IPC and mount namespace (``unshare -i -m`` with a
kernel tmpfs on /dev/shm) and through shmemfs-shm on a fresh mount, and the
outputs must be identical.  Real programs nobody here wrote (Python's
multiprocessing.shared_memory and its locks) run unmodified.

The preload library, the wrapper and shmtest come from the plain build
($SHMEMFS_SHM_DIR, default <repo>/build): a library built with ASan cannot
be preloaded into programs that are not.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import NOBODY, REPO, SHMEMCTL_BIN, SHMEMFS_BIN, wait_for

pytestmark = [pytest.mark.shmemfs_only, pytest.mark.needs_root]

SHM_DIR = os.environ.get("SHMEMFS_SHM_DIR", os.path.join(REPO, "build"))
WRAPPER = os.path.join(SHM_DIR, "shmemfs-shm")
LIB = os.path.join(SHM_DIR, "libshmemfs-shm.so")
SHMTEST = os.path.join(SHM_DIR, "shmtest")
PYTHON = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def _built():
    for f in (WRAPPER, LIB, SHMTEST):
        if not os.path.exists(f):
            pytest.skip("%s is not built" % f)


def native(args, setup="", timeout=60, **kw):
    """Run args in a private IPC and mount namespace with a fresh kernel
    tmpfs on /dev/shm (and setup, shell commands, run first)."""
    script = ("mount -t tmpfs tmpfs /dev/shm && %s exec \"$@\"" % setup)
    return subprocess.run(["unshare", "-i", "-m", "sh", "-c", script, "sh"]
                          + args, capture_output=True, text=True,
                          timeout=timeout, cwd="/", **kw)


def served(mnt, args, timeout=60, env=None, **kw):
    """Run args through shmemfs-shm on the mount mnt."""
    return subprocess.run([WRAPPER, mnt] + args, capture_output=True,
                          text=True, timeout=timeout, cwd="/", env=env, **kw)


def check(p):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p.stdout


def ipcs(mnt):
    out = subprocess.run([SHMEMCTL_BIN, "ipcs", mnt, "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# ---------------------------------------------------------------------------
# Every result and errno as the kernel's

@pytest.mark.parametrize("scenario", ["posix", "sem", "sysv", "memfd",
                                      "nattch", "unmapped", "threads",
                                      "limits"])
def test_scenario_matches_kernel(mount, scenario):
    setup = ""
    opts = ""
    if scenario == "limits":
        setup = ("sysctl -q -w kernel.shmmax=8192 kernel.shmall=4 "
                 "kernel.shmmni=3 &&")
        opts = "shmmax=8192,shmall=4,shmmni=3"
    m = mount(opts)
    want = check(native([SHMTEST, scenario], setup=setup))
    got = check(served(m.path, [SHMTEST, scenario]))
    assert got == want
    assert os.listdir(m.path) == []  # every scenario cleans up its names


@pytest.mark.parametrize("scenario", ["posix", "sem", "sysv", "memfd"])
def test_scenario_as_unprivileged_user_matches_kernel(mount, scenario):
    """The same scenarios run by nobody on root's allow_other mount: owners,
    creators and permissions are the caller's, from the kernel's request."""
    m = mount()
    nobody = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
              "--clear-groups"]
    want = check(native(nobody + [SHMTEST, scenario]))
    got = check(served(m.path, nobody + [SHMTEST, scenario]))
    assert got == want
    assert os.listdir(m.path) == []


def test_other_user_errors_match_kernel(mount):
    """EACCES/EPERM for a user who is neither owner nor creator (allow_other
    mount): nobody against root's 0600 segment, as in the kernel."""
    m = mount()
    nobody = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
              "--clear-groups"]
    want = check(native(["sh", "-c",
                         'id=$(%s mkseg 4321 600) && exec %s %s sysvother '
                         '"$id"' % (SHMTEST, " ".join(nobody), SHMTEST)]))
    shmid = check(served(m.path, [SHMTEST, "mkseg", "4321", "600"])).strip()
    got = check(served(m.path, nobody + [SHMTEST, "sysvother", shmid]))
    assert got == want
    assert "attach rw: FAIL EACCES" in got
    assert "rmid: -1 EPERM" in got


def test_creators_race_exactly_one_wins(mount):
    m = mount()
    for key in range(100, 106):
        out = check(served(m.path, [SHMTEST, "race", str(key)]))
        assert out == "winners: 1\n"
    assert ipcs(m.path) == []


# ---------------------------------------------------------------------------
# The daemon decides: a client that skips the library gets nowhere

def test_handles_check_access_in_the_daemon(mount):
    m = mount()
    shmid = check(served(m.path, [SHMTEST, "mkseg", "99", "600",
                                  "8192"])).strip()
    handle = os.path.join(m.path, "#shmemfs:shm:%s" % shmid)

    def open_as_nobody(flags):
        pid = os.fork()
        if pid == 0:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                os.close(os.open(handle, flags))
                os._exit(0)
            except OSError as e:
                os._exit(e.errno)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    import errno
    assert open_as_nobody(os.O_RDWR) == errno.EACCES
    assert open_as_nobody(os.O_RDONLY) == errno.EACCES
    # The owner may open it, but a segment's size is for life.
    fd = os.open(handle, os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            os.ftruncate(fd, 4096)
        assert e.value.errno == errno.EPERM
    finally:
        os.close(fd)
    # Handles are not in the tree and cannot be made in it.
    assert os.listdir(m.path) == []
    for bad in (lambda p: os.close(os.open(p, os.O_CREAT | os.O_WRONLY)),
                os.mkdir, lambda p: os.symlink("x", p)):
        with pytest.raises(OSError) as e:
            bad(os.path.join(m.path, "#shmemfs:mine"))
        assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        os.open(os.path.join(m.path, "#shmemfs:shm:12345"), os.O_RDONLY)
    assert e.value.errno == errno.ENOENT


def test_seals_are_enforced_for_processes_without_the_library(mount):
    """F_SEAL_WRITE stops a writer that reaches the memfd through
    /proc/PID/fd without the preload library: the daemon refuses it."""
    m = mount()
    script = r"""
import fcntl, os, sys
fd = os.memfd_create("sealme", os.MFD_ALLOW_SEALING)
os.write(fd, b"data")
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
print(os.readlink("/proc/self/fd/%d" % fd), flush=True)
env = {"PATH": os.environ["PATH"]}
w = os.system("%s -c 'import os; fd = os.open(\"/proc/%d/fd/%d\", os.O_WRONLY)\n"
              "try:\n os.write(fd, b\"x\")\nexcept OSError as e:\n print(e.errno)'"
              % (sys.executable, os.getpid(), fd))
"""
    out = check(subprocess.run(
        [WRAPPER, m.path, PYTHON, "-c", script], capture_output=True,
        text=True, timeout=60))
    link, err = out.split("\n")[:2]
    assert link.startswith(os.path.join(m.path, "#shmemfs:memfd:"))
    assert link.endswith(":sealme")
    assert err == "1"  # EPERM


# ---------------------------------------------------------------------------
# Real programs

PY_MULTIPROCESSING = r"""
import os, sys
from multiprocessing import Process, Lock, Semaphore, shared_memory

def child(name, lock, sem):
    s = shared_memory.SharedMemory(name=name)
    with lock:
        s.buf[0] += 1
    sem.release()
    s.close()

if __name__ == "__main__":
    mnt = os.environ["SHMEMFS_SHM"]
    shm = shared_memory.SharedMemory(create=True, size=1 << 20,
                                     name="mp_test_seg")
    shm.buf[0] = 0
    lock, sem = Lock(), Semaphore(0)
    print("listed:", sorted(os.listdir(mnt)))
    ps = [Process(target=child, args=(shm.name, lock, sem)) for _ in range(4)]
    for p in ps: p.start()
    for _ in ps: sem.acquire()
    for p in ps: p.join()
    print("count:", shm.buf[0], "exit:", [p.exitcode for p in ps])
    shm.close(); shm.unlink()
    print("after:", sorted(os.listdir(mnt)))
"""


def test_python_multiprocessing_unmodified(mount):
    m = mount()
    out = check(served(m.path, [PYTHON, "-c", PY_MULTIPROCESSING]))
    assert "listed: ['mp_test_seg']" in out
    assert "count: 4 exit: [0, 0, 0, 0]" in out
    assert "after: []" in out


def test_dev_shm_served_without_preload():
    """shmemfs mounted over /dev/shm in a private mount namespace serves
    every program's POSIX shm and semaphores with no preload at all."""
    if not os.access(SHMEMFS_BIN, os.X_OK):
        pytest.skip("no daemon")
    script = r"""
set -e
%(daemon)s -f /dev/shm & pid=$!
i=0; until grep -q ' /dev/shm fuse.shmemfs ' /proc/self/mounts; do
  i=$((i+1)); [ $i -lt 500 ] || exit 9; sleep 0.02; done
%(py)s -c '%(prog)s'
%(ctl)s stats /dev/shm | grep -q used_bytes
fusermount3 -u /dev/shm
wait $pid
""" % {"daemon": SHMEMFS_BIN, "py": PYTHON, "ctl": SHMEMCTL_BIN,
       "prog": PY_MULTIPROCESSING.replace('os.environ["SHMEMFS_SHM"]',
                                          '"/dev/shm"')}
    p = subprocess.run(["unshare", "-m", "sh", "-c", script],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "listed: ['mp_test_seg']" in p.stdout
    assert "count: 4" in p.stdout


def test_no_shm_syscall_reaches_the_kernel(mount):
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    m = mount()
    calls = "shmget,shmat,shmdt,shmctl,memfd_create"
    for scenario in ("sysv", "memfd", "nattch"):
        with tempfile.NamedTemporaryFile("r") as log:
            check(subprocess.run(
                ["strace", "-f", "-qq", "-o", log.name, "-e",
                 "trace=" + calls, "-E", "LD_PRELOAD=" + LIB,
                 "-E", "SHMEMFS_SHM=" + m.path, SHMTEST, scenario],
                capture_output=True, text=True, timeout=120, cwd="/"))
            traced = log.read()
        assert not re.search(r"\b(%s)\(" % calls.replace(",", "|"),
                             traced), traced
    # and the check sees them when they do reach the kernel
    with tempfile.NamedTemporaryFile("r") as log:
        check(native(["strace", "-f", "-qq", "-o", log.name, "-e",
                      "trace=" + calls, SHMTEST, "sysv"]))
        assert "shmget(" in log.read()


def test_without_shmemfs_shm_the_library_falls_through():
    env = dict(os.environ, LD_PRELOAD=LIB)
    env.pop("SHMEMFS_SHM", None)
    for scenario in ("sysv", "posix", "memfd"):
        want = check(native([SHMTEST, scenario]))
        got = check(native([SHMTEST, scenario], env=env))
        assert got == want


# ---------------------------------------------------------------------------
# The mount's side: ipcs/ipcrm, accounting, SHM_LOCK

def test_ipcs_and_ipcrm(mount):
    m = mount()
    shmid = int(check(served(m.path, [SHMTEST, "mkseg", "4660", "640",
                                      "10000"])))
    segs = ipcs(m.path)
    assert len(segs) == 1
    s = segs[0]
    assert (s["key"], s["shmid"], s["perms"], s["bytes"], s["nattch"],
            s["status"], s["owner"]) == (4660, shmid, "640", 10000, 0, "",
                                         "root")
    text = check(subprocess.run([SHMEMCTL_BIN, "ipcs", m.path],
                                capture_output=True, text=True))
    assert re.search(r"^0x00001234 +%d +root +640 +10000 +0 *$" % shmid,
                     text, re.M), text
    bad = subprocess.run([SHMEMCTL_BIN, "ipcrm", m.path, "-m",
                          str(shmid + 1)], capture_output=True, text=True)
    assert bad.returncode == 1 and "invalid id" in bad.stderr
    check(subprocess.run([SHMEMCTL_BIN, "ipcrm", m.path, "-M", "0x1234"],
                         capture_output=True, text=True))
    assert ipcs(m.path) == []
    shmid = int(check(served(m.path, [SHMTEST, "mkseg", "1", "600"])))
    check(subprocess.run([SHMEMCTL_BIN, "ipcrm", m.path, "-m", str(shmid)],
                         capture_output=True, text=True))
    assert ipcs(m.path) == []


def stats(mnt):
    out = subprocess.run([SHMEMCTL_BIN, "stats", mnt], capture_output=True,
                         text=True, check=True).stdout
    return {k: int(v) for k, v in (l.split(": ") for l in out.splitlines())}


def test_segments_are_hidden_and_counted(mount):
    m = mount("size=8m")
    before = stats(m.path)
    shmid = int(check(served(m.path, [SHMTEST, "fill", "7", str(4 << 20)])))
    after = stats(m.path)
    assert os.listdir(m.path) == []
    assert after["used_bytes"] - before["used_bytes"] == 4 << 20
    assert after["inodes_used"] == before["inodes_used"] + 1
    # size= holds for segments as for files
    p = served(m.path, [SHMTEST, "fill", "8", str(6 << 20)])
    assert p.returncode != 0
    subprocess.run([SHMEMCTL_BIN, "ipcrm", m.path, "-m", str(shmid)],
                   check=True)
    subprocess.run([SHMEMCTL_BIN, "ipcrm", m.path, "-M", "8"])
    assert wait_for(lambda: stats(m.path)["used_bytes"] ==
                    before["used_bytes"])


def test_shm_lock_keeps_a_segment_resident(mount, tmp_path):
    """mem= forces everything else to swap; the SHM_LOCKed segment stays."""
    swap = str(tmp_path / "swap")
    m = mount("size=64m,mem=4m,swap=%s,swapsize=64m" % swap)
    locked = int(check(served(m.path, [SHMTEST, "fill", "11", str(2 << 20),
                                       "lock"])))
    free = int(check(served(m.path, [SHMTEST, "fill", "12", str(2 << 20)])))
    with open(os.path.join(m.path, "big"), "wb") as f:
        for _ in range(16):
            f.write(os.urandom(1 << 20))
    segs = {s["shmid"]: s for s in ipcs(m.path)}
    assert segs[locked]["status"] == "locked"
    assert segs[locked]["resident_bytes"] == 2 << 20
    assert segs[locked]["swapped_bytes"] == 0
    assert segs[free]["swapped_bytes"] > 0  # the test can fail
    assert stats(m.path)["swapped_bytes"] > 0


# ---------------------------------------------------------------------------
# A database server nobody here wrote, its shared buffers in SysV shm

def _postgres_bin():
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return os.path.dirname(found[-1]) if found else None


def test_postgresql_sysv_under_pgbench(mount):
    pg = _postgres_bin()
    if not pg or not os.path.exists(os.path.join(pg, "pgbench")):
        pytest.skip("postgresql is not installed")
    import pwd
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user")
    m = mount()
    import pathlib
    top = tempfile.mkdtemp(prefix="shmemfs-pg-")
    os.chmod(top, 0o755)
    base = pathlib.Path(top) / "pg"
    base.mkdir()
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    os.chown(base, pw.pw_uid, pw.pw_gid)
    os.chown(sock, pw.pw_uid, pw.pw_gid)
    as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres",
             "--init-groups", "env", "HOME=" + str(base)]
    check(subprocess.run(as_pg + [os.path.join(pg, "initdb"), "-D",
                                  str(data), "-A", "trust"],
                         capture_output=True, text=True, timeout=120))
    log = open(base / "log", "w")
    server = subprocess.Popen(
        as_pg + [WRAPPER, m.path, os.path.join(pg, "postgres"), "-D",
                 str(data), "-k", str(sock), "-c", "listen_addresses=",
                 "-c", "shared_memory_type=sysv", "-c",
                 "dynamic_shared_memory_type=posix", "-c",
                 "shared_buffers=32MB"], stdout=log, stderr=log)
    try:
        bench = as_pg + [os.path.join(pg, "pgbench"), "-h", str(sock)]
        assert wait_for(lambda: "ready to accept connections" in
                        open(base / "log").read(), timeout=60)
        check(subprocess.run(bench + ["-i", "-s", "2", "postgres"],
                             capture_output=True, text=True, timeout=120))
        out = check(subprocess.run(bench + ["-c", "4", "-j", "2", "-T", "3",
                                            "postgres"],
                                   capture_output=True, text=True,
                                   timeout=120))
        assert re.search(r"tps = [0-9.]+", out), out
        assert "number of failed transactions: 0" in out
        segs = ipcs(m.path)
        assert len(segs) == 1, segs
        seg = segs[0]
        assert seg["owner"] == "postgres"
        assert seg["bytes"] > 32 << 20
        # one attach per server process, none left by pgbench's backends
        procs = lambda: len(subprocess.run(
            ["pgrep", "-u", "postgres", "-f", str(data) + "|postgres:"],
            capture_output=True, text=True).stdout.split())
        assert wait_for(lambda: ipcs(m.path)[0]["nattch"] == procs(),
                        timeout=10), (ipcs(m.path), procs())
        # the kernel's table does not have it
        kernel = subprocess.run(["ipcs", "-m"], capture_output=True,
                                text=True).stdout
        assert "0x%08x" % (seg["key"] & 0xffffffff) not in kernel
    finally:
        server.send_signal(2)  # fast shutdown
        server.wait(timeout=60)
        log.close()
    text = open(base / "log").read()
    shutil.rmtree(top)
    assert server.returncode == 0, text
    assert ipcs(m.path) == []  # removed at shutdown
    assert os.listdir(m.path) == []
