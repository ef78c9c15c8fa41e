#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/snapshot.py - saving and restoring a mount, against the usual way
of keeping a kernel tmpfs (tar to disk, untar back), in the same run.

    bench/snapshot.py [--mib N] [--files N] [--dir DIR]

Fills a kernel tmpfs and a shmemfs (build/shmemfs) with the same tree
(N MiB in 4 MiB files plus many small files), then measures on each:

  save      tmpfs: tar -cf DIR/x.tar + sync     shmemfs: shmemctl save (fsyncs)
  restore   tmpfs: mount + tar -xf              shmemfs: mount -o restore=
  stall     the longest a 4 KiB pwrite loop on the mount waited while the
            save ran (the image is point in time because the save holds
            the mount's lock: this is the pause it costs)

and prints each time, and the ratio tmpfs/shmemfs (higher is better for
shmemfs; 1.0 is parity).  Needs root; DIR (default /var/tmp) must be on
a disk, not on a tmpfs.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHMEMFS = os.path.join(REPO, "build", "shmemfs")
SHMEMCTL = os.path.join(REPO, "build", "shmemctl")


def mounted(path):
    with open("/proc/self/mountinfo") as fh:
        return any(l.split()[4] == path for l in fh)


def mount_shmemfs(path, opts):
    subprocess.run([SHMEMFS, "-o", opts, path], check=True)
    while not mounted(path):
        time.sleep(0.01)


def fill(root, mib, files):
    blob = os.urandom(4 << 20)
    for i in range(mib // 4):
        with open(os.path.join(root, "big%d" % i), "wb") as fh:
            fh.write(blob)
    d = os.path.join(root, "small")
    os.mkdir(d)
    for i in range(files):
        with open(os.path.join(d, "f%d" % i), "wb") as fh:
            fh.write(b"x" * (i % 3000))


def stall_during(root, fn):
    """Run fn() while a thread rewrites one page in a loop; the longest
    single pwrite (s) during fn()."""
    stop = threading.Event()
    worst = [0.0]
    fd = os.open(os.path.join(root, "writer"), os.O_RDWR | os.O_CREAT)
    page = b"w" * 4096

    def loop():
        while not stop.is_set():
            t = time.monotonic()
            os.pwrite(fd, page, 0)
            worst[0] = max(worst[0], time.monotonic() - t)
            time.sleep(0.0005)
    t = threading.Thread(target=loop)
    t.start()
    time.sleep(0.05)
    worst[0] = 0.0
    t0 = time.monotonic()
    fn()
    dt = time.monotonic() - t0
    stop.set()
    t.join()
    os.close(fd)
    os.unlink(os.path.join(root, "writer"))
    return dt, worst[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--dir", default="/var/tmp")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/snapshot.py: needs root (mount)")
    base = tempfile.mkdtemp(prefix="shmemfs-bench-snap.")
    work = tempfile.mkdtemp(prefix="shmemfs-bench-snap.", dir=a.dir)
    tm, sm, tm2, sm2 = (os.path.join(base, n) for n in
                        ("tmpfs", "shmemfs", "tmpfs2", "shmemfs2"))
    for p in (tm, sm, tm2, sm2):
        os.mkdir(p)
    opts = "size=%dm" % (2 * a.mib + 64)
    tar, img = os.path.join(work, "x.tar"), os.path.join(work, "x.img")
    rows = []
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", tm],
                       check=True)
        mount_shmemfs(sm, opts)
        fill(tm, a.mib, a.files)
        fill(sm, a.mib, a.files)
        subprocess.run(["sync"])

        def tar_save():
            subprocess.run(["tar", "-cf", tar, "-C", tm, "big0", "small"] +
                           ["big%d" % i for i in range(1, a.mib // 4)],
                           check=True)
            subprocess.run(["sync", tar], check=True)
        t_save, t_stall = stall_during(tm, tar_save)
        s_save, s_stall = stall_during(sm, lambda: subprocess.run(
            [SHMEMCTL, "save", sm, img], check=True))
        rows.append(("save %d MiB + %d files (s)" % (a.mib, a.files),
                     t_save, s_save))
        rows.append(("longest writer stall during save (ms)",
                     t_stall * 1000, s_stall * 1000))

        t0 = time.monotonic()
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", tm2],
                       check=True)
        subprocess.run(["tar", "-xf", tar, "-C", tm2], check=True)
        t_res = time.monotonic() - t0
        t0 = time.monotonic()
        mount_shmemfs(sm2, opts + ",restore=" + img)
        s_res = time.monotonic() - t0
        rows.append(("restore (s)", t_res, s_res))
    finally:
        for p in (tm, sm, tm2, sm2):
            if mounted(p):
                subprocess.run(["umount", p])
        time.sleep(0.3)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print("%-42s %10s %10s %8s" % ("", "tmpfs+tar", "shmemfs", "ratio"))
    for name, t, s in rows:
        print("%-42s %10.3f %10.3f %8.2f" % (name, t, s, t / s if s else 0))
    print("(ratio = tmpfs/shmemfs: higher is better for shmemfs)")


if __name__ == "__main__":
    main()
