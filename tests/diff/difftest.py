#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test: kernel tmpfs (the oracle) against shmemfs.

A seeded random sequence of file system operations over a small namespace
is run on two mounts with the same size=/nr_inodes= options.  After every
operation the results (return value or errno) are compared, and so are both
trees: for every path its type, mode, nlink, size, st_blocks, uid, gid,
sorted directory listing, file contents and SEEK_DATA/SEEK_HOLE map,
symlink target, device numbers, extended attributes, whether its mtime
was set by utime or is recent, and which of mtime and ctime the operation
changed (each mutating operation waits one tick of the coarse clock first,
so a stamp always shows; --no-times leaves this out); statvfs free blocks
and inodes; and for every open descriptor its fstat and file position.
(After read-only operations only the descriptors are compared.)  A tree
mismatch also says which side moved since the last matching snapshot.

With --full-every N (for long runs: about ten times faster) the trees
are compared whole only after every Nth op and the last; after each
other op only what it can have changed: its paths and their parent
directories (symlinks resolved before and after it), the files behind
the descriptor slots it names (read through /proc/self/fd), every
descriptor's fstat and position, and statvfs.  Which of mtime and
ctime changed is then compared for every 8th op, which first waits
until the coarse clock has passed the stamps of everything it touches.

On the first mismatch the operation sequence is shrunk (delta debugging:
drop chunks, then single operations, while some mismatch persists; every
candidate runs on mounts emptied and checked to have all blocks and
inodes back) and the minimal reproducer is printed as a numbered list of
operations, with a --replay command line that runs it again.

  python3 tests/diff/difftest.py --seed 1 --ops 300
  python3 tests/diff/difftest.py --seed 1 --ops 300 --time 60
  python3 tests/diff/difftest.py --ops 500 --full-every 25 --time 3600
  python3 tests/diff/difftest.py --seed 1 --ops 300 --against-tmpfs
  python3 tests/diff/difftest.py --against-tmpfs --inject-bug write
  python3 tests/diff/difftest.py --replay '[{"op": "mkdir", ...}]'
  python3 tests/diff/difftest.py --seed 1 --ops 40 --print-ops

--against-tmpfs puts a second kernel tmpfs where shmemfs would be: it must
report no mismatch for any seed (a check of the tester itself), and
--inject-bug then corrupts that side's writes or truncates on purpose, to
watch the shrinker.  --no-statvfs leaves out the free block/inode counts.

Needs root (it mounts a kernel tmpfs).  Standard library only.
"""

import argparse
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_BIN = os.path.join(REPO, "build", "shmemfs")
DEFAULT_OPTS = "size=64m,nr_inodes=4096"
PAGE = os.sysconf("SC_PAGE_SIZE")
NSLOTS = 8
Y2K_NS = 946684800 * 10**9

# ---------------------------------------------------------------------------
# syscalls the os module lacks

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                            ctypes.c_int64]
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_ZERO_RANGE = 0x08, 0x10
FALLOC_FL_INSERT_RANGE = 0x20
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
AT_SYMLINK_NOFOLLOW = 0x100
_SYS_renameat2 = {"x86_64": 316, "aarch64": 276}.get(os.uname().machine)


def _check(ret):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def renameat2(old, new, flags):
    o, n = os.fsencode(old), os.fsencode(new)
    if hasattr(_libc, "renameat2"):
        f = _libc.renameat2
        f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                      ctypes.c_char_p, ctypes.c_uint]
        return _check(f(AT_FDCWD, o, AT_FDCWD, n, flags))
    f = _libc.syscall
    f.restype = ctypes.c_long
    return _check(f(ctypes.c_long(_SYS_renameat2), ctypes.c_int(AT_FDCWD), o,
                    ctypes.c_int(AT_FDCWD), n, ctypes.c_uint(flags)))


def fallocate(fd, mode, off, length):
    return _check(_libc.fallocate(fd, mode, off, length))


class _timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _timespecs(atime, mtime):
    """struct timespec[2]; each time is "NOW", "OMIT" or nanoseconds."""
    def ts(v):
        if v in ("NOW", "OMIT"):
            return _timespec(0, UTIME_NOW if v == "NOW" else UTIME_OMIT)
        return _timespec(v // 10**9, v % 10**9)
    return (_timespec * 2)(ts(atime), ts(mtime))


def utimensat(path, atime, mtime, follow):
    f = _libc.utimensat
    f.argtypes = [ctypes.c_int, ctypes.c_char_p,
                  ctypes.POINTER(_timespec), ctypes.c_int]
    return _check(f(AT_FDCWD, os.fsencode(path), _timespecs(atime, mtime),
                    0 if follow else AT_SYMLINK_NOFOLLOW))


def futimens(fd, atime, mtime):
    f = _libc.futimens
    f.argtypes = [ctypes.c_int, ctypes.POINTER(_timespec)]
    return _check(f(fd, _timespecs(atime, mtime)))


# ---------------------------------------------------------------------------
# Mounts

def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def is_mounted(path):
    # resolve only the parent: a stat of a hung mount's root would hang
    path = os.path.join(os.path.realpath(os.path.dirname(path)),
                        os.path.basename(path))
    with open("/proc/self/mountinfo") as f:
        return any(_unescape(l.split()[4]) == path for l in f)


class Side:
    """One mounted file system the operations run on."""
    name = "?"

    def __init__(self, opts):
        self.opts = opts
        self.base = tempfile.mkdtemp(prefix="difftest-")
        os.chmod(self.base, 0o755)
        self.root = os.path.join(self.base, "mnt")
        os.mkdir(self.root)

    def problems(self):
        """Anything wrong seen while stopping (daemon output, status)."""
        return []

    def poll_problems(self):
        """Anything wrong seen so far while running (daemon output)."""
        return []

    def _rmdirs(self):
        try:
            os.rmdir(self.root)
            os.rmdir(self.base)
        except OSError:
            pass

    def _unmount(self, cmds):
        for cmd in cmds:
            if not is_mounted(self.root):
                return True
            subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if is_mounted(self.root):
            subprocess.run(["umount", "-l", self.root],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            return False
        return True


class TmpfsSide(Side):
    name = "tmpfs"

    def __init__(self, opts):
        super().__init__(opts)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs",
                            self.root], capture_output=True, text=True)
        if r.returncode:
            self._rmdirs()
            raise RuntimeError("mount -t tmpfs -o %s: %s" % (opts, r.stderr))

    def stop(self):
        self._unmount([["umount", self.root]])
        self._rmdirs()


class ShmemfsSide(Side):
    name = "shmemfs"

    def __init__(self, opts, binary=DEFAULT_BIN, wrapper=(), extra=""):
        super().__init__(opts)
        if extra:
            opts += "," + extra.replace("{dir}", self.base)
        self.log_path = os.path.join(self.base, "daemon.log")
        self._problems = []
        self._seen = 0
        self._died = False
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            list(wrapper) + [binary, "-f", "-o", "allow_other," + opts,
                             self.root],
            stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while not is_mounted(self.root):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self._output()
                self.stop()
                raise RuntimeError("shmemfs did not mount: %s" % out)
            time.sleep(0.01)

    def _output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def poll_problems(self):
        if self.proc.poll() is not None and not self._died:
            self._died = True
            self._problems.append("daemon died with status %r" %
                                  self.proc.returncode)
        out = self._output()
        new, self._seen = out[self._seen:], len(out)
        lines = [l for l in new.splitlines() if l.strip()]
        found = list(self._problems)
        self._problems = []
        if lines:
            found.append("daemon output:\n    " + "\n    ".join(lines))
        return found

    def stop(self):
        clean = self._unmount([["fusermount3", "-u", self.root],
                               ["umount", self.root]])
        try:
            rc = self.proc.wait(timeout=10 if clean else 2)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            rc = None
        self.log.close()
        if not clean:
            self._problems.append("mount was busy at stop; detached lazily")
        if rc is None:
            self._problems.append("daemon did not exit; killed")
        elif rc != 0:
            self._problems.append("daemon exited with status %d" % rc)
        out = [l for l in self._output()[self._seen:].splitlines()
               if l.strip()]
        if out:
            self._problems.append("daemon output:\n    " + "\n    ".join(out))
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
        self._rmdirs()

    def problems(self):
        return self._problems


# ---------------------------------------------------------------------------
# Operations.  An op is a plain dict (JSON-able); generation never looks at
# results, so any subsequence of ops is again a valid program.

NAMES = ["a", "b", "c", "d", "e"]
FILE_NAMES = ["a", "b", "c"]     # preferred for files ...
DIR_NAMES = ["d", "e"]           # ... and for directories
LONG_NAMES = ["n" * 255, "m" * 256]
XATTR_NAMES = ["user.a", "user.b", "trusted.t", "security.s", "user." +
               "x" * 250, "user.", "bogus.x"]
O_FLAGS = {"RDONLY": os.O_RDONLY, "WRONLY": os.O_WRONLY, "RDWR": os.O_RDWR,
           "CREAT": os.O_CREAT, "EXCL": os.O_EXCL, "TRUNC": os.O_TRUNC,
           "APPEND": os.O_APPEND, "DIRECTORY": os.O_DIRECTORY,
           "NOFOLLOW": os.O_NOFOLLOW}
FALLOC_MODES = {"0": 0, "KEEP_SIZE": FALLOC_FL_KEEP_SIZE,
                "PUNCH_HOLE|KEEP_SIZE": FALLOC_FL_PUNCH_HOLE |
                FALLOC_FL_KEEP_SIZE,
                "PUNCH_HOLE": FALLOC_FL_PUNCH_HOLE,
                "ZERO_RANGE": FALLOC_FL_ZERO_RANGE,
                "COLLAPSE_RANGE": FALLOC_FL_COLLAPSE_RANGE,
                "INSERT_RANGE": FALLOC_FL_INSERT_RANGE}
WHENCE = {"SET": os.SEEK_SET, "CUR": os.SEEK_CUR, "END": os.SEEK_END,
          "DATA": os.SEEK_DATA, "HOLE": os.SEEK_HOLE}
RENAME_FLAGS = {"0": 0, "NOREPLACE": RENAME_NOREPLACE,
                "EXCHANGE": RENAME_EXCHANGE}
# mknod: file type -> (mode bits, device numbers to pick from).  Device
# nodes are never opened (see Runner): on tmpfs that would reach a real
# driver, on a FUSE mount (nodev) it is refused.
MKNOD_TYPES = {"reg": (stat.S_IFREG, [0]),
               "chr": (stat.S_IFCHR, [os.makedev(1, 3), os.makedev(0, 0),
                                      os.makedev(4095, 1048575)]),
               "blk": (stat.S_IFBLK, [os.makedev(7, 0), os.makedev(1, 0)]),
               "sock": (stat.S_IFSOCK, [0]),
               "fifo": (stat.S_IFIFO, [0])}


class Gen:
    """Seeded generator of operations.

    It keeps a rough guess of what exists (which names were created as
    files or directories, which descriptor slots were opened) to steer
    towards operations that do something; the guess never looks at real
    results, so every subsequence of the ops is again a valid program
    (which the shrinker relies on)."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.files = set()
        self.dirs = set()
        self.slots = {}          # slot -> opened for writing?

    # -- choosing arguments ---------------------------------------------
    def _name(self, pool):
        return self.r.choice(pool if self.r.random() < 0.85 else NAMES)

    def new_path(self, kind="file"):
        """A path for something to be created (kind "file" or "dir"):
        mostly inside a directory that probably exists."""
        r = self.r
        if r.random() < 0.02:
            return r.choice(LONG_NAMES)
        last = self._name(FILE_NAMES if kind == "file" else DIR_NAMES)
        if self.dirs and r.random() < 0.6:
            parent = r.choice(sorted(self.dirs))
            if parent.count("/") < 2:
                return parent + "/" + last
        depth = r.choices([1, 2, 3], [75, 20, 5])[0]
        return "/".join([self._name(DIR_NAMES) for _ in range(depth - 1)] +
                        [last])

    def path(self, prefer=None):
        """An existing-looking path (files, dirs or either) most of the
        time, any path otherwise."""
        r = self.r
        pool = {"file": self.files, "dir": self.dirs,
                None: self.files | self.dirs}[prefer]
        if pool and r.random() < 0.7:
            return r.choice(sorted(pool))
        return self.new_path()

    def slot(self, write=False):
        pool = sorted(s for s, w in self.slots.items() if w or not write)
        if pool and self.r.random() < 0.85:
            return self.r.choice(pool)
        return self.r.randrange(NSLOTS)

    def offset(self):
        r = self.r
        k = r.choices(["small", "edge", "medium", "far", "huge"],
                      [40, 25, 20, 10, 5])[0]
        if k == "small":
            return r.randrange(0, 3 * PAGE)
        if k == "edge":
            return max(0, r.randrange(0, 16) * PAGE + r.choice([-1, 0, 1]))
        if k == "medium":
            return r.randrange(0, 2 << 20)
        if k == "far":
            return r.randrange(0, 256 << 20)
        return r.choice([1 << 32, (1 << 40) + 3, 1 << 44])

    def length(self, big=200000):
        r = self.r
        k = r.choices(["tiny", "page", "big"], [50, 30, 20])[0]
        if k == "tiny":
            return r.randrange(0, 64)
        if k == "page":
            return r.choice([PAGE - 1, PAGE, PAGE + 1, 2 * PAGE])
        return r.randrange(1, big)

    def mode(self):
        return self.r.choice([0o644, 0o600, 0o755, 0o000, 0o4755, 0o2711,
                              0o1777, 0o444])

    def symlink_target(self):
        r = self.r
        k = r.choices(["path", "long", "dot", "dangling"], [60, 20, 5, 15])[0]
        if k == "path":
            return self.path()
        if k == "long":
            return "x" * r.choice([100, 127, 128, 129, 300, 4095])
        if k == "dot":
            return "."
        return "nowhere/" + r.choice(NAMES)

    # -- the model ----------------------------------------------------------
    def _forget(self, path):
        self.files.discard(path)
        self.dirs = {d for d in self.dirs
                     if d != path and not d.startswith(path + "/")}
        self.files = {f for f in self.files if not f.startswith(path + "/")}

    def _move(self, src, dst):
        was_dir = src in self.dirs
        self._forget(dst)
        self._forget(src)
        (self.dirs if was_dir else self.files).add(dst)

    def op(self):
        op = self._op()
        k = op["op"]
        if op.get("path") in LONG_NAMES or op.get("dst") in LONG_NAMES:
            return op
        if k == "open":
            self.slots[op["slot"]] = not op["flags"].startswith("RDONLY")
            if "CREAT" in op["flags"]:
                self.files.add(op["path"])
        elif k == "close":
            self.slots.pop(op["slot"], None)
        elif k == "mkdir":
            self.dirs.add(op["path"])
        elif k in ("symlink", "mkfifo", "mknod"):
            self.files.add(op["path"])
        elif k == "link":
            self.files.add(op["dst"])
        elif k in ("unlink", "rmdir"):
            self._forget(op["path"])
        elif k == "rename" and op["flags"] != "EXCHANGE":
            self._move(op["src"], op["dst"])
        return op

    def _op(self):
        r = self.r
        kinds = [("open", 12), ("close", 4), ("write", 8), ("pwrite", 10),
                 ("read", 4), ("pread", 5), ("lseek", 5), ("ftruncate", 4),
                 ("truncate", 2), ("fallocate", 6), ("mkdir", 7),
                 ("rmdir", 3), ("unlink", 4), ("rename", 6), ("link", 3),
                 ("symlink", 4), ("readlink", 2), ("chmod", 2), ("chown", 2),
                 ("utime", 3), ("setxattr", 4), ("getxattr", 2),
                 ("listxattr", 1), ("removexattr", 2), ("mkfifo", 1),
                 ("listdir", 2), ("stat", 2), ("fstat", 2), ("mknod", 2),
                 ("utimens", 3), ("fchmod", 2), ("fchown", 2),
                 ("futimens", 2), ("fsetxattr", 2), ("copy_range", 4)]
        kind = r.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        if kind == "open":
            acc = r.choices(["RDONLY", "WRONLY", "RDWR"], [1, 1, 4])[0]
            extra = [f for f, p in (("CREAT", 0.75), ("EXCL", 0.1),
                                    ("TRUNC", 0.15), ("APPEND", 0.15),
                                    ("DIRECTORY", 0.03), ("NOFOLLOW", 0.03))
                     if r.random() < p]
            path = self.path("file") if r.random() < 0.6 else self.new_path()
            free = [i for i in range(NSLOTS) if i not in self.slots]
            slot = r.choice(free) if free and r.random() < 0.7 else \
                r.randrange(NSLOTS)
            return dict(op="open", slot=slot, path=path,
                        flags="|".join([acc] + extra), mode=self.mode())
        if kind == "close":
            return dict(op="close", slot=self.slot())
        if kind == "write":
            return dict(op="write", slot=self.slot(True), len=self.length(),
                        seed=r.randrange(1 << 30))
        if kind == "pwrite":
            return dict(op="pwrite", slot=self.slot(True), off=self.offset(),
                        len=self.length(), seed=r.randrange(1 << 30))
        if kind == "read":
            return dict(op="read", slot=self.slot(), len=self.length(1 << 20))
        if kind == "pread":
            return dict(op="pread", slot=self.slot(), off=self.offset(),
                        len=self.length(1 << 20))
        if kind == "lseek":
            return dict(op="lseek", slot=self.slot(), off=self.offset(),
                        whence=r.choice(list(WHENCE)))
        if kind == "ftruncate":
            return dict(op="ftruncate", slot=self.slot(True),
                        len=self.offset())
        if kind == "truncate":
            return dict(op="truncate", path=self.path("file"),
                        len=self.offset())
        if kind == "fallocate":
            mode = r.choices(list(FALLOC_MODES), [35, 25, 30, 5, 5, 3, 3])[0]
            return dict(op="fallocate", slot=self.slot(True), mode=mode,
                        off=self.offset(),
                        len=r.choice([1, PAGE, 3 * PAGE + 7,
                                      r.randrange(1, 1 << 20)]))
        if kind == "mkdir":
            return dict(op="mkdir", path=self.new_path("dir"), mode=r.choice(
                [0o755, 0o700, 0o777]))
        if kind == "rmdir":
            return dict(op=kind, path=self.path("dir"))
        if kind in ("unlink", "readlink", "mkfifo"):
            return dict(op=kind, path=self.path("file") if kind != "mkfifo"
                        else self.new_path())
        if kind in ("listdir",):
            return dict(op=kind, path=self.path("dir"))
        if kind in ("stat", "listxattr"):
            return dict(op=kind, path=self.path())
        if kind == "rename":
            return dict(op="rename", src=self.path(), dst=self.path()
                        if r.random() < 0.5 else self.new_path(),
                        flags=r.choices(list(RENAME_FLAGS), [60, 20, 20])[0])
        if kind == "link":
            return dict(op="link", src=self.path("file"), dst=self.new_path())
        if kind == "symlink":
            return dict(op="symlink", target=self.symlink_target(),
                        path=self.new_path())
        if kind == "chmod":
            return dict(op="chmod", path=self.path(), mode=self.mode())
        if kind == "chown":
            return dict(op="chown", path=self.path(),
                        uid=r.choice([-1, 0, 1000, 65534]),
                        gid=r.choice([-1, 0, 100, 65534]))
        if kind == "utime":
            if r.random() < 0.3:
                return dict(op="utime", path=self.path(), now=True)
            return dict(op="utime", path=self.path(),
                        atime=r.randrange(10**18), mtime=r.randrange(10**18))
        if kind == "setxattr":
            return dict(op="setxattr", path=self.path(),
                        name=r.choice(XATTR_NAMES),
                        len=r.choice([0, 1, 10, 100, 3000, 65536, 65537]),
                        seed=r.randrange(1 << 30),
                        flags=r.choice(["0", "0", "CREATE", "REPLACE"]))
        if kind in ("getxattr", "removexattr"):
            return dict(op=kind, path=self.path(), name=r.choice(XATTR_NAMES))
        if kind == "fstat":
            return dict(op="fstat", slot=self.slot())
        if kind == "mknod":
            t = r.choice(sorted(MKNOD_TYPES))
            return dict(op="mknod", path=self.new_path(), type=t,
                        perm=r.choice([0o644, 0o600, 0o4755, 0o2755]),
                        dev=r.choice(MKNOD_TYPES[t][1]))
        if kind in ("utimens", "futimens"):
            def t():
                k = r.choices(["NOW", "OMIT", "old", "future"],
                              [25, 25, 40, 10])[0]
                if k == "old":
                    return r.randrange(10**18)
                if k == "future":       # well past Y2K: compared as "recent"
                    return r.randrange(Y2K_NS, 4 * 10**18)
                return k
            op = dict(op=kind, atime=t(), mtime=t())
            if kind == "futimens":
                op["slot"] = self.slot()
            else:
                op["path"] = self.path()
                op["follow"] = r.random() < 0.5
            return op
        if kind == "fchmod":
            return dict(op="fchmod", slot=self.slot(), mode=self.mode())
        if kind == "fchown":
            return dict(op="fchown", slot=self.slot(),
                        uid=r.choice([-1, 0, 1000, 65534]),
                        gid=r.choice([-1, 0, 100, 65534]))
        if kind == "fsetxattr":
            return dict(op="fsetxattr", slot=self.slot(),
                        name=r.choice(XATTR_NAMES),
                        len=r.choice([0, 1, 10, 3000]),
                        seed=r.randrange(1 << 30),
                        flags=r.choice(["0", "CREATE", "REPLACE"]))
        if kind == "copy_range":
            return dict(op="copy_range", src=self.slot(), dst=self.slot(True),
                        len=self.length(), off_src=self.offset(),
                        off_dst=self.offset())
        raise AssertionError(kind)


def generate(seed, count):
    g = Gen(seed)
    return [g.op() for _ in range(count)]


def fmt_op(op):
    """Readable one-line form of an op."""
    args = []
    for k, v in op.items():
        if k == "op":
            continue
        if k in ("mode",) and isinstance(v, int):
            v = oct(v)
        elif isinstance(v, str) and len(v) > 40:
            v = "%r*%d" % (v[0], len(v)) if len(set(v)) == 1 else \
                repr(v[:37] + "...")
        else:
            v = repr(v)
        args.append("%s=%s" % (k, v))
    return "%s(%s)" % (op["op"], ", ".join(args))


# ---------------------------------------------------------------------------
# Running ops

def _data(seed, n):
    return random.Random(seed).randbytes(n)


FTYPES = {stat.S_IFREG: "reg", stat.S_IFDIR: "dir", stat.S_IFLNK: "lnk",
          stat.S_IFIFO: "fifo", stat.S_IFSOCK: "sock", stat.S_IFCHR: "chr",
          stat.S_IFBLK: "blk"}


def _stat_tuple(st):
    return (FTYPES.get(stat.S_IFMT(st.st_mode), stat.S_IFMT(st.st_mode)),
            oct(stat.S_IMODE(st.st_mode)),
            st.st_nlink, st.st_size, st.st_blocks, st.st_uid, st.st_gid,
            st.st_blksize)


def _short(v):
    if isinstance(v, bytes) and len(v) > 32:
        return "<%d bytes sha1 %s>" % (len(v), hashlib.sha1(v).hexdigest()[:12])
    return v


class Runner:
    """Executes ops against one side; keeps the descriptor table."""

    def __init__(self, side, inject=None, statvfs=True, times=True):
        self.side = side
        self.times = times
        self.root = side.root
        self.fds = [None] * NSLOTS
        self.inject = inject
        self.statvfs = statvfs
        # (mtime, ctime) of every path at the last full snapshot, to see
        # which of them the operation since then changed
        self._times = {}
        self._pending = None

    def p(self, rel):
        return os.path.join(self.root, rel)

    def close_all(self):
        for i, fd in enumerate(self.fds):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                self.fds[i] = None

    def run(self, op):
        """Result of op: ("ok", value) or ("err", errno name)."""
        try:
            return ("ok", self._run(op))
        except OSError as e:
            return ("err", errno.errorcode.get(e.errno, str(e.errno)))
        except (ValueError, OverflowError) as e:
            return ("exc", type(e).__name__)

    def _fd(self, op):
        fd = self.fds[op["slot"]]
        if fd is None:
            raise OSError(errno.EBADF, "empty slot")
        return fd

    def _run(self, op):
        k = op["op"]
        if k == "open":
            flags = os.O_NONBLOCK      # fifos must never block
            for f in op["flags"].split("|"):
                flags |= O_FLAGS[f]
            try:
                st = os.stat(self.p(op["path"]))
            except OSError:
                st = None
            if st is not None and (stat.S_ISCHR(st.st_mode) or
                                   stat.S_ISBLK(st.st_mode)):
                # a real driver on tmpfs, EACCES on a nodev FUSE mount
                return "device: not opened"
            fd = os.open(self.p(op["path"]), flags, op["mode"])
            if self.fds[op["slot"]] is not None:
                os.close(self.fds[op["slot"]])
            self.fds[op["slot"]] = fd
            return None
        if k == "close":
            fd = self._fd(op)
            self.fds[op["slot"]] = None
            os.close(fd)
            return None
        if k in ("write", "pwrite"):
            data = _data(op["seed"], op["len"])
            if self.inject == "write" and data:
                data = b"\xff" + data[1:]          # deliberately wrong
            if k == "write":
                return os.write(self._fd(op), data)
            return os.pwrite(self._fd(op), data, op["off"])
        if k == "read":
            return os.read(self._fd(op), op["len"])
        if k == "pread":
            return os.pread(self._fd(op), op["len"], op["off"])
        if k == "lseek":
            fd = self._fd(op)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                # FUSE directories seek like files (SEEK_END works), tmpfs
                # ones do not; nothing a FUSE daemon can change.
                return "directory: not compared"
            return os.lseek(fd, op["off"], WHENCE[op["whence"]])
        if k == "ftruncate":
            n = op["len"]
            if self.inject == "truncate" and n:
                n += 1
            return os.ftruncate(self._fd(op), n)
        if k == "truncate":
            return os.truncate(self.p(op["path"]), op["len"])
        if k == "fallocate":
            return fallocate(self._fd(op), FALLOC_MODES[op["mode"]],
                             op["off"], op["len"])
        if k == "mkdir":
            return os.mkdir(self.p(op["path"]), op["mode"])
        if k == "rmdir":
            return os.rmdir(self.p(op["path"]))
        if k == "unlink":
            return os.unlink(self.p(op["path"]))
        if k == "rename":
            return renameat2(self.p(op["src"]), self.p(op["dst"]),
                             RENAME_FLAGS[op["flags"]])
        if k == "link":
            return os.link(self.p(op["src"]), self.p(op["dst"]),
                           follow_symlinks=False)
        if k == "symlink":
            return os.symlink(op["target"], self.p(op["path"]))
        if k == "readlink":
            return os.readlink(self.p(op["path"]))
        if k == "chmod":
            return os.chmod(self.p(op["path"]), op["mode"])
        if k == "chown":
            return os.chown(self.p(op["path"]), op["uid"], op["gid"],
                            follow_symlinks=False)
        if k == "utime":
            if op.get("now"):
                return os.utime(self.p(op["path"]), follow_symlinks=False)
            return os.utime(self.p(op["path"]),
                            ns=(op["atime"], op["mtime"]),
                            follow_symlinks=False)
        if k == "setxattr":
            flags = {"0": 0, "CREATE": os.XATTR_CREATE,
                     "REPLACE": os.XATTR_REPLACE}[op["flags"]]
            return os.setxattr(self.p(op["path"]), op["name"],
                               _data(op["seed"], op["len"]), flags,
                               follow_symlinks=False)
        if k == "getxattr":
            return os.getxattr(self.p(op["path"]), op["name"],
                               follow_symlinks=False)
        if k == "listxattr":
            return sorted(os.listxattr(self.p(op["path"]),
                                       follow_symlinks=False))
        if k == "removexattr":
            return os.removexattr(self.p(op["path"]), op["name"],
                                  follow_symlinks=False)
        if k == "mkfifo":
            return os.mkfifo(self.p(op["path"]), 0o640)
        if k == "mknod":
            return os.mknod(self.p(op["path"]),
                            MKNOD_TYPES[op["type"]][0] | op["perm"],
                            op["dev"])
        if k == "utimens":
            return utimensat(self.p(op["path"]), op["atime"], op["mtime"],
                             op["follow"])
        if k == "futimens":
            return futimens(self._fd(op), op["atime"], op["mtime"])
        if k == "fchmod":
            return os.chmod(self._fd(op), op["mode"])
        if k == "fchown":
            return os.chown(self._fd(op), op["uid"], op["gid"])
        if k == "fsetxattr":
            flags = {"0": 0, "CREATE": os.XATTR_CREATE,
                     "REPLACE": os.XATTR_REPLACE}[op["flags"]]
            return os.setxattr(self._fd(op), op["name"],
                               _data(op["seed"], op["len"]), flags)
        if k == "copy_range":
            fi = self.fds[op["src"]]
            fo = self.fds[op["dst"]]
            if fi is None or fo is None:
                raise OSError(errno.EBADF, "empty slot")
            return os.copy_file_range(fi, fo, op["len"], op["off_src"],
                                      op["off_dst"])
        if k == "listdir":
            return sorted(os.listdir(self.p(op["path"])))
        if k == "stat":
            return _stat_tuple(os.stat(self.p(op["path"])))
        if k == "fstat":
            return _stat_tuple(os.fstat(self._fd(op)))
        raise AssertionError("unknown op %r" % k)

    # -- state --------------------------------------------------------------
    def snapshot(self, tree=True):
        """Everything comparable about the tree (unless tree=False) and
        the open descriptors.  A failing walk (a dead daemon, an entry
        vanishing) is recorded, not raised, so it shows as a mismatch."""
        try:
            return self._snapshot(tree)
        except OSError as e:
            return {"tree": None, "fds": {}, "statvfs": None,
                    "error": "%s: %s" % (errno.errorcode.get(e.errno, e.errno),
                                         e.filename)}

    def commit(self):
        """The last full snapshot becomes the base for "changed"."""
        if self._pending is not None:
            self._times, self._pending = self._pending, None

    def _changed(self, tree):
        """Mark, per path, whether mtime and ctime moved since the last
        committed full snapshot (times near "now" are otherwise not
        compared); fifos and sockets are left out (see _entry())."""
        times = {}
        for rel, ent in tree.items():
            t = ent.pop("_times")
            times[rel] = t
            if self.times != "tree" or ent["mtime"] == "not compared":
                continue
            old = self._times.get(rel)
            ent["changed"] = "new" if old is None else \
                (("m" if t[0] != old[0] else "") +
                 ("c" if t[1] != old[1] else "")) or "-"
        self._pending = times

    def _statvfs(self):
        """Free blocks and inodes (None when they are not compared)."""
        if not self.statvfs:
            return None
        sv = os.statvfs(self.root)
        return {"f_bfree": sv.f_bfree, "f_ffree": sv.f_ffree,
                "f_bavail": sv.f_bavail, "f_blocks": sv.f_blocks,
                "f_bsize": sv.f_bsize}

    def _snapshot(self, tree):
        out = {"tree": None, "fds": {},
               "statvfs": self._statvfs() if tree else None}
        if tree:
            out["tree"] = {}
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                self._walk_dir(fd, "", os.fstat(fd), out["tree"])
            finally:
                os.close(fd)
            self._changed(out["tree"])
        for i, fd in enumerate(self.fds):
            if fd is None:
                continue
            try:
                st = os.fstat(fd)
                st_t = _stat_tuple(st)
            except OSError as e:
                st, st_t = None, errno.errorcode.get(e.errno)
            if st is not None and stat.S_ISDIR(st.st_mode):
                pos = "dir"     # directory offsets are opaque cookies
            else:
                try:
                    pos = os.lseek(fd, 0, os.SEEK_CUR)
                except OSError as e:
                    pos = errno.errorcode.get(e.errno)
            out["fds"][i] = (st_t, pos)
        return out

    @staticmethod
    def _entry(st, xattr_of):
        ent = {"stat": _stat_tuple(st),
               "mtime": st.st_mtime_ns if st.st_mtime_ns < Y2K_NS
               else "recent",
               "_times": (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)}
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            ent["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            # pipe I/O stamps the kernel's inode; a FUSE daemon never hears
            # of it, so these times cannot match tmpfs
            ent["mtime"] = "not compared"
        kw = {} if isinstance(xattr_of, int) else {"follow_symlinks": False}
        try:
            ent["xattrs"] = sorted(
                (n, hashlib.sha1(os.getxattr(xattr_of, n, **kw)).hexdigest())
                for n in os.listxattr(xattr_of, **kw))
        except OSError as e:
            ent["xattrs"] = errno.errorcode.get(e.errno)
        return ent

    def _walk_dir(self, dfd, rel, st, tree):
        """Record directory rel (open as dfd) and everything below it.
        Names are resolved relative to their directory's descriptor, so
        each costs one lookup however deep it is."""
        ent = self._entry(st, dfd)
        names = sorted(os.listdir(dfd))
        ent["list"] = names
        tree[rel] = ent
        for n in names:
            crel = rel + "/" + n if rel else n
            cst = os.stat(n, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISDIR(cst.st_mode):
                cfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY |
                              os.O_NOFOLLOW, dir_fd=dfd)
                try:
                    self._walk_dir(cfd, crel, cst, tree)
                finally:
                    os.close(cfd)
            else:
                tree[crel] = self._leaf(n, dfd, cst, crel)

    def _leaf(self, name, dfd, st, rel):
        """Entry of the non-directory rel, which is name in directory dfd
        (or the path itself when dfd is None)."""
        if stat.S_ISREG(st.st_mode):
            return self._file_entry(st, os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK,
                dir_fd=dfd))
        ent = self._entry(st, self.p(rel))
        if stat.S_ISLNK(st.st_mode):
            ent["target"] = os.readlink(name, dir_fd=dfd)
        return ent

    def _file_entry(self, st, fd):
        """Entry of the regular file open for reading as fd (closed)."""
        try:
            ent = self._entry(st, fd)
            ent["data"] = file_digest(fd, st.st_size)
        finally:
            os.close(fd)
        return ent

    # -- local state: only what one op can have changed ------------------
    def resolve(self, rel):
        """rel with its symlinks resolved, if that stays inside the
        mount, else None."""
        real = os.path.realpath(self.p(rel))
        if real == self.root:
            return ""
        if real.startswith(self.root + "/"):
            return real[len(self.root) + 1:]
        return None

    def times_of(self, paths, slots):
        """(mtime, ctime, inode number) of the given paths (not following
        symlinks) and descriptor slots."""
        out = {}
        for rel in paths:
            try:
                st = os.lstat(self.p(rel))
                out[rel] = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            except OSError:
                pass
        for i in slots:
            if self.fds[i] is not None:
                try:
                    st = os.fstat(self.fds[i])
                    out[i] = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                except OSError:
                    pass
        return out

    def path_entry(self, rel):
        try:
            st = os.lstat(self.p(rel))
            if not stat.S_ISDIR(st.st_mode):
                return self._leaf(self.p(rel), None, st, rel)
            dfd = os.open(self.p(rel), os.O_RDONLY | os.O_DIRECTORY |
                          os.O_NOFOLLOW)
            try:
                ent = self._entry(st, dfd)
                ent["list"] = sorted(os.listdir(dfd))
            finally:
                os.close(dfd)
            return ent
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))

    def slot_entry(self, i):
        """The file behind descriptor slot i, read through a second
        descriptor (the slot's may be write-only)."""
        fd = self.fds[i]
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return self._entry(st, fd)
            return self._file_entry(st, os.open(
                "/proc/self/fd/%d" % fd, os.O_RDONLY | os.O_NONBLOCK))
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))

    def local_snapshot(self, paths, slots, pre):
        """The given paths and slots (with which of mtime and ctime moved
        since pre, when pre is not None), every descriptor's fstat and
        position, and statvfs."""
        snap = self._snapshot(False)
        snap["statvfs"] = self._statvfs()
        snap["tree"] = {rel: self.path_entry(rel) for rel in paths}
        snap["slots"] = {i: self.slot_entry(i) for i in slots}
        for key, ent in list(snap["tree"].items()) + \
                list(snap["slots"].items()):
            if not isinstance(ent, dict):
                continue
            t = ent.pop("_times")
            if pre is None or ent["mtime"] == "not compared":
                continue
            old = pre.get(key)
            ent["changed"] = "new" if old is None else \
                "replaced" if t[2] != old[2] else \
                (("m" if t[0] != old[0] else "") +
                 ("c" if t[1] != old[1] else "")) or "-"
        return snap


FULL_READ_LIMIT = 4 << 20


def file_digest(fd, size):
    """(data extents by SEEK_DATA/SEEK_HOLE, crc32 of the contents) of the
    open regular file fd.  Files up to FULL_READ_LIMIT are read whole;
    for larger (sparse) ones the checksum covers every data extent and a
    sample of every hole."""
    crc = 0
    whole = size <= FULL_READ_LIMIT
    if whole:
        off = 0
        while off < size:
            chunk = os.pread(fd, size - off, off)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            off += len(chunk)
        crc = zlib.crc32(b"read %d" % off, crc)
    extents = []
    pos = 0
    while pos < size:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            d = size
        if d > pos and not whole:       # hole [pos, d): sample it
            crc = zlib.crc32(os.pread(fd, min(64, d - pos), pos), crc)
            crc = zlib.crc32(os.pread(fd, 64, max(pos, d - 64)), crc)
        if d >= size:
            break
        e_ = os.lseek(fd, d, os.SEEK_HOLE)
        extents.append((d, e_))
        off = d
        while off < e_ and not whole:
            chunk = os.pread(fd, min(1 << 20, e_ - off), off)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            off += len(chunk)
        pos = e_
    return (tuple(extents), "%08x" % crc)


def _brief(ent, keys=None):
    """An entry (or only its given keys) for a mismatch report."""
    if isinstance(ent, dict) and keys:
        return {k: ent.get(k) for k in keys}
    return ent


def diff_snapshots(a, b, na, nb, limit=6):
    """Human-readable differences between two snapshots."""
    out = []
    ta, tb = a["tree"] or {}, b["tree"] or {}
    for path in sorted(set(ta) | set(tb)):
        ea, eb = ta.get(path), tb.get(path)
        shown = "/" + path
        if ea is None or eb is None:
            out.append("%s: only on %s" % (shown, na if eb is None else nb))
            continue
        if not isinstance(ea, dict) or not isinstance(eb, dict):
            if ea != eb:
                out.append("%s: %s=%r %s=%r" % (shown, na, _brief(ea), nb,
                                                _brief(eb)))
            continue
        for key in sorted(set(ea) | set(eb)):
            if ea.get(key) != eb.get(key):
                va, vb = ea.get(key), eb.get(key)
                if key == "stat":
                    fields = ["type", "mode", "nlink", "size", "blocks",
                              "uid", "gid"]
                    sa, sb = va, vb
                    va = {f: x for f, x, y in zip(fields, sa, sb) if x != y}
                    vb = {f: y for f, x, y in zip(fields, sa, sb) if x != y}
                out.append("%s %s: %s=%r %s=%r" % (shown, key, na, va, nb, vb))
    sa, sb = a.get("slots") or {}, b.get("slots") or {}
    for slot in sorted(set(sa) | set(sb)):
        ea, eb = sa.get(slot), sb.get(slot)
        if ea != eb:
            keys = sorted(k for k in set(ea if isinstance(ea, dict) else {}) |
                          set(eb if isinstance(eb, dict) else {})
                          if not isinstance(ea, dict) or
                          not isinstance(eb, dict) or ea.get(k) != eb.get(k))
            out.append("file behind fd slot %d: %s=%r %s=%r" % (
                slot, na, _brief(ea, keys), nb, _brief(eb, keys)))
    for slot in sorted(set(a["fds"]) | set(b["fds"])):
        if a["fds"].get(slot) != b["fds"].get(slot):
            out.append("fd slot %d (fstat, position): %s=%r %s=%r" % (
                slot, na, a["fds"].get(slot), nb, b["fds"].get(slot)))
    for side, snap in ((na, a), (nb, b)):
        if snap.get("error"):
            out.append("%s: walking the tree failed: %s" % (side,
                                                            snap["error"]))
    if a.get("statvfs") != b.get("statvfs"):
        out.append("statvfs: %s=%r %s=%r" % (na, a.get("statvfs"), nb,
                                             b.get("statvfs")))
    if len(out) > limit:
        out = out[:limit] + ["... %d more" % (len(out) - limit)]
    return out


def moved_since(last, a, b, na, nb):
    """For the paths that differ: which side's entry changed since the
    last full snapshot on which both sides agreed.  When the op cannot
    have touched the path, the side that moved is the suspect (kernel
    background work on tmpfs, a stray request in the daemon)."""
    if last is None:
        return []
    step, prev = last
    ta, tb, tp = a["tree"] or {}, b["tree"] or {}, prev["tree"] or {}
    out = []
    for path in sorted(set(ta) & set(tb) & set(tp)):
        if ta[path] == tb[path]:
            continue
        keys = sorted(k for k in set(ta[path]) | set(tb[path])
                      if k != "changed" and
                      ta[path].get(k) != tb[path].get(k))
        moved = [n for n, t in ((na, ta), (nb, tb))
                 if any(t[path].get(k) != tp[path].get(k) for k in keys)]
        if keys:
            out.append("(/%s %s: since step %d, changed on %s)" % (
                path, ",".join(keys), step + 1,
                " and ".join(moved) if moved else "neither"))
    return out[:4]


# ---------------------------------------------------------------------------
# Driving two sides

class Mismatch:
    def __init__(self, step, op, what):
        self.step, self.op, self.what = step, op, what

    def __str__(self):
        return "step %d %s:\n  %s" % (self.step + 1, fmt_op(self.op),
                                      "\n  ".join(self.what))


class Config:
    def __init__(self, opts=DEFAULT_OPTS, against_tmpfs=False,
                 shmemfs=DEFAULT_BIN, wrapper=(), inject=None,
                 statvfs=True, times=True, full_every=1, extra=""):
        self.extra = extra
        self.statvfs = statvfs
        self.full_every = full_every
        self.times = times
        self.opts = opts
        self.against_tmpfs = against_tmpfs
        self.shmemfs = shmemfs
        self.wrapper = list(wrapper)
        self.inject = inject

    def side_b_name(self):
        return "tmpfs2" if self.against_tmpfs else "shmemfs"

    def make_side(self, which):
        if which == "a":
            return TmpfsSide(self.opts)
        if self.against_tmpfs:
            s = TmpfsSide(self.opts)
            s.name = "tmpfs2"
            return s
        return ShmemfsSide(self.opts, self.shmemfs, self.wrapper,
                           self.extra)


class Pair:
    """The two mounted sides, reused from run to run: reset() empties them
    and checks that all blocks and inodes came back (else that side is
    mounted afresh, and the leak reported)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.sides = {}
        self.base = {}
        self.problems = []

    def _start(self, which):
        side = self.cfg.make_side(which)
        sv = os.statvfs(side.root)
        st = os.stat(side.root)
        self.base[which] = ((sv.f_bfree, sv.f_ffree),
                            (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
        self.sides[which] = side

    def _stop(self, which):
        side = self.sides.pop(which, None)
        if side is not None:
            side.stop()
            self.problems += ["%s: %s" % (side.name, p)
                              for p in side.problems()]

    def _clean(self, which):
        side = self.sides[which]
        root = side.root
        if not is_mounted(root):
            self.problems.append("%s is no longer mounted" % side.name)
            return False
        for n in os.listdir(root):
            p = os.path.join(root, n)
            if stat.S_ISDIR(os.lstat(p).st_mode):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        for n in os.listxattr(root):
            os.removexattr(root, n)
        counts, (mode, uid, gid) = self.base[which]
        os.chmod(root, mode)
        os.chown(root, uid, gid)
        deadline = time.monotonic() + 3
        while True:
            sv = os.statvfs(root)
            now = (sv.f_bfree, sv.f_ffree)
            if now == counts:
                return True
            if time.monotonic() > deadline:
                self.problems.append(
                    "%s: after removing everything (f_bfree, f_ffree) = %r, "
                    "at mount time %r" % (side.name, now, counts))
                return False
            time.sleep(0.005)

    def reset(self):
        for which in ("a", "b"):
            if which not in self.sides:
                self._start(which)
                continue
            try:
                ok = self._clean(which)
            except OSError as e:
                self.problems.append("%s: cleaning failed: %s" % (
                    self.sides[which].name, e))
                ok = False
            if not ok:
                self._stop(which)
                self._start(which)
        return self.sides["a"], self.sides["b"]

    def take_problems(self):
        """Problems seen so far, including new daemon output."""
        for side in self.sides.values():
            self.problems += ["%s: %s" % (side.name, p)
                              for p in side.poll_problems()]
        p, self.problems = self.problems, []
        return p

    def close(self):
        for which in list(self.sides):
            self._stop(which)
        return self.take_problems()


# Ops that change nothing compared in the tree (atime is not compared):
# after these only the descriptor table is compared.
READ_ONLY = {"read", "pread", "lseek", "readlink", "getxattr", "listxattr",
             "listdir", "stat", "fstat"}
# more than the coarse clock's tick (CLOCK_REALTIME_COARSE resolution)
CLOCK_REALTIME_COARSE = getattr(time, "CLOCK_REALTIME_COARSE", 5)
TIME_STEP = 0.001 + time.clock_getres(CLOCK_REALTIME_COARSE)
# with --full-every > 1, which of mtime and ctime changed is compared
# after every TIMED_EVERY-th op (each may wait for the clock to tick)
TIMED_EVERY = 8


def touched(op, resolve):
    """The paths (with their parents, and with symlinks resolved before
    and after the op by resolve()) and descriptor slots op may change."""
    paths, slots = set(), set()
    if op["op"] == "copy_range":
        slots = {op["src"], op["dst"]}
    else:
        for k in ("path", "src", "dst"):
            if k in op:
                paths.add(op[k])
                paths.add(os.path.dirname(op[k]))
        if "slot" in op:
            slots.add(op["slot"])
    for rel in list(paths):
        real = resolve(rel)
        if real is not None:
            paths.add(real)
            paths.add(os.path.dirname(real))
    return paths, slots


# A drop_caches anywhere on the machine (bench/ does it; so does memory
# pressure) runs tmpfs's huge-page shrinker, which splits every huge
# folio reaching past end of file and frees the pages there: a tmpfs
# mounted with huge= changes on its own.  When /proc/vmstat says it ran,
# the tester runs it to the end (drop_caches again) and has shmemfs do
# the same (SHMEMFS_IOC_HUGE_SHRINK) before comparing.
SHMEMFS_IOC_HUGE_SHRINK = (0xE5 << 8) | 11


def _drop_slab_count():
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("drop_slab "):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class HugeShrinkSync:
    def __init__(self, cfg, b):
        self.on = re.search(r"(^|,)huge=(always|within_size|advise)",
                            cfg.opts) is not None
        self.b = None if cfg.against_tmpfs else b
        self.seen = _drop_slab_count()

    def __call__(self):
        """True if both sides were shrunk because tmpfs's was."""
        if not self.on or _drop_slab_count() == self.seen:
            return False
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2")
        if self.b is not None:
            fd = os.open(self.b.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.ioctl(fd, SHMEMFS_IOC_HUGE_SHRINK)
            finally:
                os.close(fd)
        self.seen = _drop_slab_count()
        return True


def compare(i, op, take, na, nb, last, resync=None):
    """(Mismatch or None, side A's snapshot) for the snapshots take()
    returns after step i."""
    if resync is not None:
        resync()
    sa, sb = take()
    # FUSE delivers RELEASE and FORGET asynchronously, so freeing an
    # unlinked inode may lag a moment: look again before calling it a
    # mismatch.  (A drop_caches that split tmpfs's huge folios while
    # the snapshot was taken is counted in /proc/vmstat only when it
    # ends: resync() each time, and wait longer for it.)
    deadline = time.monotonic() + (3 if resync is not None and resync.on
                                   else 0.5)
    while sa != sb and time.monotonic() < deadline and \
            sa["statvfs"] != sb["statvfs"]:
        time.sleep(0.02)
        if resync is not None:
            resync()
        sa, sb = take()
    if sa != sb:
        return Mismatch(i, op, diff_snapshots(sa, sb, na, nb) +
                        moved_since(last, sa, sb, na, nb)), sa
    return None, sa


def execute(ops, cfg, pair, check_every=True):
    """Run ops on the (reset) pair; return the first Mismatch or None.
    With cfg.full_every == 1 the trees are compared whole after every op
    that may change them (after every op at all with check_every="all").
    With cfg.full_every = N > 1 only what an op can have changed is
    compared after it (its paths and their parents, symlinks resolved,
    the files behind the slots it names, every descriptor, statvfs), and
    the trees whole after every Nth op and the last."""
    a, b = pair.reset()
    local = cfg.full_every > 1
    times = cfg.times and ("local" if local else "tree")
    ra = Runner(a, statvfs=cfg.statvfs, times=times)
    rb = Runner(b, cfg.inject, cfg.statvfs, times)
    resync = HugeShrinkSync(cfg, b)
    last = None             # (step, snapshot) of the last full match
    try:
        for i, op in enumerate(ops):
            mutating = op["op"] not in READ_ONLY
            if times == "tree" and mutating:
                # let the coarse clock pass every timestamp handed out so
                # far, so that an op that stamps a time visibly changes it
                time.sleep(TIME_STEP)
            if local and mutating:
                paths, slots = touched(op, ra.resolve)
                pre = (None, None)
                if times and i % TIMED_EVERY == 0:
                    pre = (ra.times_of(paths, slots),
                           rb.times_of(paths, slots))
                    # until the coarse clock has passed the stamps of
                    # every inode the op may stamp (side A is the kernel)
                    now = time.time_ns()    # (later times were set)
                    hi = max((t for v in pre[0].values() for t in v[:2]
                              if t <= now), default=0)
                    while time.clock_gettime_ns(CLOCK_REALTIME_COARSE) <= hi:
                        time.sleep(0.0005)
            res_a, res_b = ra.run(op), rb.run(op)
            if res_a != res_b:
                return Mismatch(i, op, ["result: %s=%r %s=%r" % (
                    a.name, tuple(_short(x) for x in res_a),
                    b.name, tuple(_short(x) for x in res_b))])
            if not check_every:
                continue
            if local:
                full = (i + 1) % cfg.full_every == 0 or i == len(ops) - 1
                if mutating:
                    paths |= touched(op, ra.resolve)[0]
                    take = lambda: (
                        ra.local_snapshot(paths, slots, pre[0]),
                        rb.local_snapshot(paths, slots, pre[1]))
                else:
                    take = lambda: (ra.snapshot(False), rb.snapshot(False))
                m, _ = compare(i, op, take, a.name, b.name, None, resync)
                if m is not None:
                    return m
                if not full:
                    continue
            else:
                full = check_every == "all" or mutating or i == len(ops) - 1
            m, snap = compare(i, op, lambda: (ra.snapshot(full),
                                              rb.snapshot(full)),
                              a.name, b.name, last, resync)
            if m is not None:
                return m
            ra.commit()
            rb.commit()
            if full:
                last = (i, snap)
        return None
    finally:
        ra.close_all()
        rb.close_all()


def shrink(ops, cfg, pair, budget_s=120, log=None):
    """Delta-debug ops down to a short sequence that still mismatches
    (not necessarily in the same way).  Returns (ops, mismatch)."""
    deadline = time.monotonic() + budget_s
    runs = [0]

    def fails(cand):
        runs[0] += 1
        return execute(cand, cfg, pair)

    m = fails(ops)
    if m is None:
        return ops, None          # did not reproduce
    ops = ops[:m.step + 1]
    n = 2
    while len(ops) > 1 and time.monotonic() < deadline:
        chunk = max(1, (len(ops) + n - 1) // n)
        reduced = False
        for start in range(0, len(ops), chunk):
            cand = ops[:start] + ops[start + chunk:]
            if not cand:
                continue
            mm = fails(cand)
            if mm is not None:
                ops, m = cand[:mm.step + 1], mm
                n = max(n - 1, 2)
                reduced = True
                break
            if time.monotonic() > deadline:
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(ops), n * 2)
    if log:
        log("shrunk to %d ops in %d runs" % (len(ops), runs[0]))
    return ops, m


def reproducer(ops, m, cfg):
    lines = ["minimal reproducer (%d ops; side A = tmpfs, side B = %s; "
             "mount options %s%s):" % (
                 len(ops), cfg.side_b_name(), cfg.opts,
                 ", shmemfs also " + cfg.extra if cfg.extra else "")]
    for i, op in enumerate(ops):
        lines.append("  %3d. %s" % (i + 1, fmt_op(op)))
    lines.append("mismatch at " + str(m))
    lines.append("replay with: difftest.py --replay '%s'%s%s%s" % (
        json.dumps(ops), " --against-tmpfs" if cfg.against_tmpfs else "",
        " --opts " + cfg.opts if cfg.opts != DEFAULT_OPTS else "",
        " --shmemfs-opts '%s'" % cfg.extra if cfg.extra else ""))
    return "\n".join(lines)


def host_swap_active():
    try:
        with open("/proc/swaps") as f:
            return len(f.read().splitlines()) > 1
    except OSError:
        return False


def run_ops(ops, cfg, pair, shrink_budget=120, log=None, label="ops"):
    """Run ops; on a mismatch shrink it.  Returns (ok, report text)."""
    m = execute(ops, cfg, pair)
    problems = pair.take_problems()
    if m is None:
        if problems:
            return False, "%s: no mismatch, but: %s" % (
                label, "\n  ".join(problems))
        return True, "%s: %d ops, no mismatch" % (label, len(ops))
    text = ["%s: MISMATCH at %s" % (label, m)]
    if shrink_budget > 0:
        small, sm = shrink(ops, cfg, pair, shrink_budget, log)
    else:
        text.append("(shrinking budget used up)")
        small, sm = ops[:m.step + 1], m
    if sm is None:
        text.append("(did not reproduce on a second run; the full sequence "
                    "of %d ops follows)" % (m.step + 1))
        small, sm = ops[:m.step + 1], m
    text.append(reproducer(small, sm, cfg))
    if host_swap_active():
        text.append("note: the host has swap on; reclaim that pushes "
                    "fallocated tmpfs pages to swap turns them into data "
                    "(README, Differences from tmpfs)")
    problems += pair.take_problems()
    if problems:
        text.append("also: " + "\n  ".join(problems))
    return False, "\n".join(text)


def run_seed(seed, nops, cfg, pair, shrink_budget=120, log=None):
    return run_ops(generate(seed, nops), cfg, pair, shrink_budget, log,
                   "seed %d" % seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--time", type=float, default=0,
                    help="keep running seeds seed, seed+1, ... for this "
                         "many seconds")
    ap.add_argument("--shmemfs", default=os.environ.get("SHMEMFS_BIN",
                                                        DEFAULT_BIN))
    ap.add_argument("--wrapper", default=os.environ.get("SHMEMFS_WRAPPER", ""),
                    help="command prefix for the daemon (e.g. valgrind)")
    ap.add_argument("--opts", default=DEFAULT_OPTS,
                    help="mount options for both sides (%(default)s)")
    ap.add_argument("--shmemfs-opts", default="", metavar="OPTS",
                    help="more mount options for shmemfs only, {dir} "
                         "standing for a private directory (e.g. "
                         "mem=256k,swap={dir}/swap)")
    ap.add_argument("--against-tmpfs", action="store_true",
                    help="second side is a kernel tmpfs too (self-check)")
    ap.add_argument("--no-statvfs", action="store_true",
                    help="do not compare statvfs free blocks/inodes")
    ap.add_argument("--no-times", action="store_true",
                    help="do not compare which mtimes/ctimes an operation "
                         "changed (saves a clock tick of sleep per op)")
    ap.add_argument("--full-every", type=int, default=1, metavar="N",
                    help="compare the whole trees after every Nth op only; "
                         "after the others only what the op can have "
                         "changed (much faster for long runs; default 1)")
    ap.add_argument("--inject-bug", choices=["write", "truncate"],
                    help="corrupt the second side's writes/truncates, to "
                         "see the shrinker at work")
    ap.add_argument("--replay", metavar="JSON",
                    help="run the op list in this file (or a literal JSON "
                         "list) instead of generating one")
    ap.add_argument("--shrink-budget", type=float, default=120)
    ap.add_argument("--print-ops", action="store_true",
                    help="only print the generated ops")
    args = ap.parse_args(argv)

    if args.print_ops:
        for i, op in enumerate(generate(args.seed, args.ops)):
            print("%4d. %s" % (i + 1, fmt_op(op)))
        return 0
    if os.geteuid() != 0:
        print("difftest: needs root (mounts a kernel tmpfs)", file=sys.stderr)
        return 2
    if not args.against_tmpfs and not os.access(args.shmemfs, os.X_OK):
        print("difftest: %s not found (use --shmemfs or --against-tmpfs)" %
              args.shmemfs, file=sys.stderr)
        return 2
    cfg = Config(args.opts, args.against_tmpfs, args.shmemfs,
                 shlex.split(args.wrapper), args.inject_bug,
                 not args.no_statvfs, not args.no_times, args.full_every,
                 args.shmemfs_opts)
    log = lambda s: print(s, file=sys.stderr, flush=True)
    # SIGTERM (and SIGINT, which a background job ignores) unmount and
    # remove both sides on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + 15))
    pair = Pair(cfg)
    try:
        if args.replay:
            src = args.replay
            ops = json.loads(open(src).read() if os.path.exists(src)
                             else src)
            ok, text = run_ops(ops, cfg, pair, args.shrink_budget, log,
                               "replay")
            print(text)
            return 0 if ok else 1
        start = time.monotonic()
        seed, bad, done, nops = args.seed, 0, 0, 0
        while True:
            ok, text = run_seed(seed, args.ops, cfg, pair,
                                args.shrink_budget, log)
            print(text, flush=True)
            done += 1
            nops += args.ops
            bad += not ok
            seed += 1
            if not args.time or time.monotonic() - start >= args.time:
                break
    finally:
        problems = pair.close()
    for p in problems:
        print("problem: " + p)
    if not args.replay:
        print("%d ops in %d seeds (%d to %d), %.0f ops/s" % (
            nops, done, args.seed, seed - 1,
            nops / max(1e-9, time.monotonic() - start)))
    print("%d passed, %d failed" % (done - bad, bad + bool(problems)))
    return 1 if bad or problems else 0


if __name__ == "__main__":
    sys.exit(main())
