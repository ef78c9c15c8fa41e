# SPDX-License-Identifier: MIT
"""Fixtures and helpers for the shmemfs integration tests.

The tests run against any mount.  Which one is chosen by the environment:

  SHMEMFS_TEST_TARGET=shmemfs (default)
      start $SHMEMFS_BIN (default <repo>/build/shmemfs) as
      ``shmemfs -f -o allow_other,<opts> DIR``, wait for the mount, and at
      teardown unmount it, wait for the daemon to exit and fail the test if
      the daemon exited non-zero or wrote anything to stdout/stderr that the
      test did not declare acceptable (sanitizer reports, valgrind, ...).
  SHMEMFS_TEST_TARGET=tmpfs
      mount a kernel tmpfs with the same options.  This is the oracle: every
      assertion in these files has been checked against kernel tmpfs, and the
      shmemfs target has to give the same answers.

Other knobs:
  SHMEMFS_BIN        path of the daemon (shmemfs target)
  SHMEMCTL_BIN       path of shmemctl (default <repo>/build/shmemctl)
  SHMEMFS_WRAPPER    command prefix for the daemon, e.g.
                     "valgrind -q --error-exitcode=99"
  SHMEMFS_MOUNT_TIMEOUT  seconds to wait for the mount to appear (10)
  SHMEMFS_TRANSPORT  "uring" or "nouring": added to every daemon's -o
                     (scripts/run-tests.sh runs the suite on both FUSE
                     transports); a test's own uring/nouring wins

Fixtures:
  mnt      a mounted directory (str).  Options come from
           ``@pytest.mark.mount_opts("size=1m", ...)`` or indirect
           parametrization (``@pytest.mark.parametrize("mnt", ["size=1m"],
           indirect=True)``).
  mount    factory: ``m = mount("size=1m,nr_inodes=10")`` returns a Mount
           (``m.path``; ``m.proc`` is the daemon's Popen; ``m.finish()``
           unmounts early and returns the problems seen); everything is
           unmounted and checked at teardown.  ``mount(opts,
           allowed_stderr=[regex], expect_exit=status)`` relaxes the
           checks for one mount.

Markers:
  shmemfs_only        skipped on the tmpfs target
  allowed_stderr(re)  daemon output lines matching these regexes are fine
  needs_root          skipped unless running as root

Helper functions (``from conftest import ...``): errno_of, in_child,
run_as, errno_as, wait_for, pids_with_arg, renameat2, utimensat,
fallocate.
"""

import ctypes
import ctypes.util
import hashlib
import os
import pickle
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TARGET = os.environ.get("SHMEMFS_TEST_TARGET", "shmemfs")
SHMEMFS_BIN = os.environ.get("SHMEMFS_BIN",
                             os.path.join(REPO, "build", "shmemfs"))
SHMEMCTL_BIN = os.environ.get("SHMEMCTL_BIN",
                              os.path.join(REPO, "build", "shmemctl"))
WRAPPER = shlex.split(os.environ.get("SHMEMFS_WRAPPER", ""))
MOUNT_TIMEOUT = float(os.environ.get("SHMEMFS_MOUNT_TIMEOUT", "10"))
TRANSPORT = os.environ.get("SHMEMFS_TRANSPORT", "")
EXIT_TIMEOUT = 10.0

NOBODY = 65534          # uid/gid used for the unprivileged checks
PAGE = os.sysconf("SC_PAGE_SIZE")

if TARGET not in ("shmemfs", "tmpfs"):
    raise pytest.UsageError(
        "SHMEMFS_TEST_TARGET must be 'shmemfs' or 'tmpfs', not %r" % TARGET)

# Lines a sanitizer or leak checker prints; listed only to make the failure
# message say what kind of problem it is.  Any line not declared acceptable
# fails the test anyway.
SANITIZER_RE = re.compile(
    r"AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer|"
    r"UndefinedBehaviorSanitizer|runtime error:|==\d+==|Assertion .* failed")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mount_opts(*opts): mount options for the mnt fixture")
    config.addinivalue_line(
        "markers", "shmemfs_only: only meaningful for the shmemfs daemon")
    config.addinivalue_line(
        "markers", "allowed_stderr(*regex): acceptable daemon output lines")
    config.addinivalue_line(
        "markers", "needs_root: needs uid 0 (setuid helpers, mknod, chown)")


def pytest_report_header(config):
    if TARGET == "tmpfs":
        return "shmemfs integration target: kernel tmpfs (oracle mode)"
    return "shmemfs integration target: %s" % " ".join(WRAPPER + [SHMEMFS_BIN])


def pytest_runtest_setup(item):
    if item.get_closest_marker("shmemfs_only") and TARGET != "shmemfs":
        pytest.skip("shmemfs-only test (target is kernel tmpfs)")
    if item.get_closest_marker("needs_root") and os.geteuid() != 0:
        pytest.skip("needs root")


def target_available():
    """Skip (not fail) when the target cannot be mounted on this machine."""
    if TARGET == "tmpfs":
        if os.geteuid() != 0:
            pytest.skip("mounting a kernel tmpfs needs root")
        return
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing")
    if not os.access(SHMEMFS_BIN, os.X_OK):
        pytest.skip("%s is not built" % SHMEMFS_BIN)


# ---------------------------------------------------------------------------
# Mount table

def _unescape_mountinfo(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mountinfo_entry(path):
    """The /proc/self/mountinfo fields of the topmost mount at path, or None.
    Reading the table never touches the (possibly hung) filesystem itself.
    """
    # resolve only the parent: a stat of a hung mount's root would hang
    path = os.path.join(os.path.realpath(os.path.dirname(path)),
                        os.path.basename(path))
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if _unescape_mountinfo(fields[4]) == path:
                sep = fields.index("-")
                found = {"mountpoint": path, "fstype": fields[sep + 1],
                         "source": fields[sep + 2],
                         "options": fields[5] + "," + fields[sep + 3]}
    return found


def is_mounted(path):
    return mountinfo_entry(path) is not None


def make_mountpoint(prefix="shmemfs-test-"):
    """A fresh empty directory that other users can reach (permission tests
    run as nobody, so the path to the mount must be searchable)."""
    base = tempfile.mkdtemp(prefix=prefix)
    os.chmod(base, 0o755)
    mp = os.path.join(base, "mnt")
    os.mkdir(mp)
    return base, mp


def fuse_allow_other_ok():
    if os.geteuid() == 0:
        return True
    try:
        with open("/etc/fuse.conf") as f:
            return any(l.strip() == "user_allow_other" for l in f)
    except OSError:
        return False


def normalize_opts(opts):
    """Accept "a,b", ["a", "b"], None -> list of option strings."""
    if opts is None:
        return []
    if isinstance(opts, str):
        return [o for o in opts.split(",") if o]
    out = []
    for o in opts:
        out += normalize_opts(o)
    return out


class Mount:
    """One mounted filesystem (kernel tmpfs or a shmemfs daemon)."""

    def __init__(self, opts=(), allowed_stderr=(), expect_exit=0):
        target_available()
        self.opts = normalize_opts(opts)
        self.allowed = [re.compile(r) for r in allowed_stderr]
        self.expect_exit = expect_exit
        self.proc = None
        self.log_path = None
        self.log_file = None
        self.base, self.path = make_mountpoint()
        self.finished = False
        self.problems = []
        try:
            if TARGET == "tmpfs":
                self._mount_tmpfs()
            else:
                self._start_daemon()
        except BaseException:
            self.finish(check=False)
            raise

    def __repr__(self):
        return "<Mount %s %s>" % (self.path, ",".join(self.opts))

    # -- kernel tmpfs ------------------------------------------------------
    def _mount_tmpfs(self):
        cmd = ["mount", "-t", "tmpfs"]
        if self.opts:
            cmd += ["-o", ",".join(self.opts)]
        cmd += ["tmpfs", self.path]
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stdout))

    # -- shmemfs daemon ----------------------------------------------------
    def daemon_cmd(self):
        opts = (["allow_other"] if fuse_allow_other_ok() else []) + self.opts
        if TRANSPORT and "uring" not in opts and "nouring" not in opts:
            opts.append(TRANSPORT)
        return WRAPPER + [SHMEMFS_BIN, "-f", "-o", ",".join(opts), self.path]

    def _start_daemon(self):
        self.log_path = os.path.join(self.base, "daemon.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.daemon_cmd(),
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log_file,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not is_mounted(self.path):
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(
                    "shmemfs exited with %d before mounting %s:\n%s" %
                    (rc, self.path, self.log()))
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not appear within %.0f s:\n%s" %
                                   (self.path, MOUNT_TIMEOUT, self.log()))
            time.sleep(0.01)

    def log(self):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def unexpected_output(self):
        bad = []
        for line in self.log().splitlines():
            if not line.strip():
                continue
            if any(r.search(line) for r in self.allowed):
                continue
            bad.append(line)
        return bad

    # -- teardown ----------------------------------------------------------
    def close_leaked_fds(self):
        """Close descriptors of this process that still point into the
        mount (left open by a failed test); they would keep it busy.
        Only the kernel's fd table is consulted, never the filesystem."""
        prefix = self.path + "/"
        closed = 0
        for name in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink("/proc/self/fd/" + name)
            except OSError:
                continue
            if target == self.path or target.startswith(prefix):
                try:
                    os.close(int(name))
                    closed += 1
                except OSError:
                    pass
        return closed

    def unmount(self):
        """Unmount: fusermount3 -u for FUSE, else umount; if the mount is
        busy, detach it lazily (umount -l).  Returns "clean", "lazy" or
        "failed"."""
        tries = []
        if TARGET == "shmemfs" and shutil.which("fusermount3"):
            tries.append(["fusermount3", "-u", self.path])
        tries.append(["umount", self.path])
        for cmd in tries:
            if not is_mounted(self.path):
                return "clean"
            subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if not is_mounted(self.path):
            return "clean"
        subprocess.run(["umount", "-l", self.path], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return "lazy" if not is_mounted(self.path) else "failed"

    def wait_exit(self, timeout=EXIT_TIMEOUT):
        """Wait for the daemon to exit; after timeout send SIGTERM, then
        SIGKILL.  Returns its exit status, or None if it had to be
        stopped."""
        if self.proc is None:
            return 0
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, None)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        return None

    def finish(self, check=True, test_failed=False):
        """Unmount, reap the daemon, remove the mountpoint.  Returns a list
        of problems (empty when everything was clean).  When the test has
        already failed, consequences of that failure (files left open, a
        busy mount) are not reported again; sanitizer output always is."""
        if self.finished:
            return self.problems
        self.finished = True
        problems = []
        if self.close_leaked_fds() and not test_failed:
            problems.append("the test left files open in the mount")
        how = self.unmount()
        if how == "failed":
            problems.append("could not unmount %s" % self.path)
        elif how == "lazy" and not test_failed:
            problems.append("mount was busy at teardown (open files or "
                            "mappings?); detached lazily")
        if self.proc is not None:
            rc = self.wait_exit(EXIT_TIMEOUT if how == "clean" else 2)
            if rc is None:
                if how == "clean":
                    problems.append("shmemfs did not exit within %.0f s "
                                    "after unmount; killed" % EXIT_TIMEOUT)
            elif self.expect_exit is not None and rc != self.expect_exit:
                problems.append("shmemfs exited with status %d" % rc)
            if self.log_file:
                self.log_file.close()
            bad = self.unexpected_output()
            if how != "clean" or rc is None:
                # it was stopped the hard way: only sanitizer reports count
                bad = [l for l in bad if SANITIZER_RE.search(l)]
            if bad:
                kind = ("sanitizer/assertion report"
                        if any(SANITIZER_RE.search(l) for l in bad)
                        else "unexpected daemon output")
                problems.append("%s:\n    %s" % (kind, "\n    ".join(bad)))
        try:
            os.rmdir(self.path)
            if self.log_path and os.path.exists(self.log_path):
                os.unlink(self.log_path)
            os.rmdir(self.base)
        except OSError:
            pass
        self.problems = problems if check else []
        return self.problems


class MountFactory:
    def __init__(self, allowed_stderr=()):
        self.mounts = []
        self.allowed_stderr = list(allowed_stderr)

    def __call__(self, opts=(), allowed_stderr=(), expect_exit=0):
        m = Mount(opts, self.allowed_stderr + list(allowed_stderr),
                  expect_exit)
        self.mounts.append(m)
        return m

    def finish(self, test_failed=False):
        problems = []
        for m in reversed(self.mounts):
            for p in m.finish(test_failed=test_failed):
                problems.append("%s: %s" % (m.path, p))
        return problems


@pytest.fixture(autouse=True)
def _umask():
    """Modes asserted by the tests assume the common umask 022."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _marker_allowed(request):
    allowed = []
    for mk in request.node.iter_markers("allowed_stderr"):
        allowed += list(mk.args)
    return allowed


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # remember each phase's outcome so fixtures can see if the test failed
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _test_failed(request):
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.fixture
def mount(request):
    factory = MountFactory(_marker_allowed(request))
    try:
        yield factory
    finally:
        problems = factory.finish(_test_failed(request))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def mnt(request, mount):
    opts = []
    for mk in request.node.iter_markers("mount_opts"):
        opts += normalize_opts(list(mk.args))
    if hasattr(request, "param"):
        opts += normalize_opts(request.param)
    yield mount(opts).path


# ---------------------------------------------------------------------------
# Helpers used by the test files

def errno_of(fn, *args, **kwargs):
    """Run fn; return 0 on success or the errno it raised (OSError only)."""
    try:
        fn(*args, **kwargs)
    except OSError as e:
        return e.errno
    return 0


def pids_with_arg(arg):
    """The processes with @arg among their command-line arguments (a
    daemon, found by its mount point)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.fsencode(arg) in argv:
            pids.append(int(d))
    return pids


def wait_for(cond, timeout=5.0, interval=0.01):
    """Poll cond() until true.  FUSE delivers RELEASE and FORGET
    asynchronously, so effects of close() (space freed by an unlinked file)
    may be visible slightly later than on tmpfs; on tmpfs this returns at
    once."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def in_child(fn, *args, prologue=None):
    """Run fn(*args) in a forked child and return its (picklable) result.
    An OSError raised in the child is re-raised here with the same errno;
    any other exception becomes an AssertionError.  prologue() runs first
    in the child (e.g. to change credentials)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            try:
                if prologue:
                    prologue()
                res = ("ok", fn(*args))
            except OSError as e:
                res = ("oserror", e.errno, str(e))
            except BaseException as e:
                res = ("exc", "%s: %s" % (type(e).__name__, e))
            data = pickle.dumps(res)
            while data:
                data = data[os.write(w, data):]
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    if not chunks:
        raise AssertionError("child died without a result")
    res = pickle.loads(b"".join(chunks))
    if res[0] == "ok":
        return res[1]
    if res[0] == "oserror":
        raise OSError(res[1], res[2])
    raise AssertionError("child raised " + res[1])


def run_as(uid, gid, fn, *args, groups=()):
    """in_child(fn, *args) with the credentials uid/gid/groups (needs
    root)."""
    def become():
        os.setgroups(list(groups))
        os.setgid(gid)
        os.setuid(uid)
    return in_child(fn, *args, prologue=become)


def errno_as(uid, gid, fn, *args):
    """errno_of(fn, *args) evaluated as uid/gid in a child process."""
    def call():
        return errno_of(fn, *args)
    return run_as(uid, gid, call)


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_SYMLINK_NOFOLLOW = 0x100
_SYS_renameat2 = {"x86_64": 316, "aarch64": 276}.get(os.uname().machine)


def _check(ret, what):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))
    return ret


def renameat2(old, new, flags=0):
    """renameat2(2) on two paths (relative to the cwd)."""
    o, n = os.fsencode(old), os.fsencode(new)
    if hasattr(_libc, "renameat2"):
        f = _libc.renameat2
        f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                      ctypes.c_char_p, ctypes.c_uint]
        return _check(f(AT_FDCWD, o, AT_FDCWD, n, flags), "renameat2")
    f = _libc.syscall
    f.restype = ctypes.c_long
    return _check(f(ctypes.c_long(_SYS_renameat2), ctypes.c_int(AT_FDCWD), o,
                    ctypes.c_int(AT_FDCWD), n, ctypes.c_uint(flags)),
                  "renameat2")


def fallocate(fd, mode, offset, length):
    f = _libc.fallocate
    f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    return _check(f(fd, mode, offset, length), "fallocate")


class _timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path, atime, mtime, follow=True):
    """utimensat(2); atime/mtime are (sec, nsec) tuples or UTIME_NOW /
    UTIME_OMIT."""
    def ts(v):
        if v in (UTIME_NOW, UTIME_OMIT):
            return _timespec(0, v)
        return _timespec(v[0], v[1])
    times = (_timespec * 2)(ts(atime), ts(mtime))
    f = _libc.utimensat
    f.argtypes = [ctypes.c_int, ctypes.c_char_p,
                  ctypes.POINTER(_timespec), ctypes.c_int]
    return _check(f(AT_FDCWD, os.fsencode(path), times,
                    0 if follow else AT_SYMLINK_NOFOLLOW), "utimensat")


def dir_size(entries):
    """st_size of a tmpfs directory with that many entries (BOGO_DIRENT_SIZE
    = 20 bytes per entry, 40 for "." and "..")."""
    return 40 + 20 * entries


def file_type(path):
    m = os.lstat(path).st_mode
    return stat.S_IFMT(m)


def run_shmemctl(*args, user=None):
    """shmemctl ARGS, as uid and gid @user (no groups) if given; the
    CompletedProcess with text stdout and stderr, whatever it exits with."""
    argv = [SHMEMCTL_BIN] + list(args)
    if user is not None:
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
                "--clear-groups"] + argv
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def sha_of(path, chunk=1 << 20):
    """SHA-256 hex digest of the file at @path, read @chunk bytes at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


@pytest.fixture
def swapdir():
    """A fresh directory for swap files; must hold only files at the end."""
    d = tempfile.mkdtemp(prefix="shmemfs-swap-")
    yield d
    for n in os.listdir(d):
        os.unlink(os.path.join(d, n))
    os.rmdir(d)


def assert_scenario_matches_tmpfs(mnt, ktmpfs, steps):
    """oracle.run_scenario(@steps) on the kernel tmpfs @ktmpfs, then on
    @mnt (made mode 1777 first, as the kernel tmpfs is): each step's
    transcript must be the kernel's."""
    from oracle import run_scenario

    os.chmod(mnt, 0o1777)
    want = run_scenario(ktmpfs, steps)
    got = run_scenario(mnt, steps)
    for w, g in zip(want, got):
        assert g == w
