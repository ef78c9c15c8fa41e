#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-corpus.py - write the seed corpora of the fuzz targets.

The core seeds are small programs for fuzz_core.c, written here with the
same opcodes and argument encodings so that a seed (or a reproducer)
can be read.  Keep OPS and the encoders in step with fuzz_core.c.

    tests/fuzz/gen-corpus.py            # rewrite corpus/core, corpus/options
    tests/fuzz/gen-corpus.py --print X  # hex of seed X, for a bug report

Files the fuzzer found (crash reproducers) live beside these seeds under
names that do not start with "seed-"; this script leaves them alone.
"""
import os
import struct
import sys

OPS = ["mknod", "mkdir", "symlink", "link", "unlink", "rmdir", "rename",
       "lookup", "write", "read", "truncate", "fallocate", "lseek",
       "setxattr", "getxattr", "removexattr", "listxattr", "readdir",
       "open", "release", "forget", "getattr", "copy_file_range", "stats",
       "swapctl", "bulk", "fault"]
OP = {n: i for i, n in enumerate(OPS)}

# in_name(): the byte selects names[b % 16]; 0x0f is the 255-byte name,
# 0x1f the 256-byte one.
NAMES = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5, "ab": 6, "ba": 7,
         ".": 11, "..": 12, "": 13, "x/y": 14, "long255": 0x0f,
         "long256": 0x1f}
# op_mknod() modes[]
MODES = {"reg": 0, "0": 1, "fifo": 2, "sock": 3, "chr": 4, "blk": 5,
         "dir": 6, "lnk": 7, "bad": 8, "suid": 9}
# op_rename() flags_tab[]
RENAME = {"": 0, "noreplace": 2, "exchange": 3, "both": 5, "bad": 6}
# op_fallocate() modes[]
FALLOC = {"alloc": 0, "keep": 2, "punch": 3, "punch_nokeep": 5, "bad4": 6,
          "bad8": 7, "bad16": 8}
# in_xname(): the modelled names, then invalid ones
XNAMES = {"security.s": 0, "trusted.t": 1, "user.a": 2, "user.b": 3,
          "user.long255": 4, "user.": 5, "foo.bar": 6, "": 7,
          "user.long256": 0x78}
XFLAGS = {"": 0, "create": 2, "replace": 3, "both": 4, "bad": 5}
SWAPCTL = {"fail_write": 0, "fail_read": 1, "corrupt_read": 2, "rot": 3,
           "heal": 4, "swapoff": 5, "swapon": 7}


def slot(s):
    """An inode argument: the inode held in slot s (0 is the root)."""
    return bytes([s])


def new_slot(s):
    """The slot-selector byte that makes take_ref() use slot s (1..15)."""
    assert 1 <= s <= 15
    return bytes([s - 1])


def name(n):
    return bytes([NAMES[n]])


def off(v):
    """in_off(): 0..65535 directly; a few special values."""
    # k >= 200 selects case k % 12 of in_off()
    special = {"max": (209, 0), "max-1": (208, 1), "-1": (210, 0),
               "1T": (207, 0), "64k+": (206, 0)}
    if isinstance(v, str):
        k, x = special[v]
        return bytes([k]) + struct.pack("<H", x)
    if isinstance(v, tuple):
        assert v[0] == "page"   # ("page", n): byte offset n * 4096
        return bytes([213]) + struct.pack("<H", v[1])
    assert 0 <= v < 65536
    return bytes([0]) + struct.pack("<H", v)


def iolen(v):
    """in_iolen(): below 600 directly, else up to 16 KiB."""
    if v < 600:
        return bytes([0]) + struct.pack("<H", v)
    assert v < 4 * 4096 + 2
    return bytes([128]) + struct.pack("<H", v)


def len64(v):
    if v == "huge":
        return bytes([162]) + struct.pack("<H", 0)
    if v == "-1":
        return bytes([161]) + struct.pack("<H", 0)
    assert 0 <= v < 8 * 4096
    return bytes([0]) + struct.pack("<H", v)


def header(size_pages=32, nr_inodes=0, sgid=False, mem_pages=0,
           swap_slots=None):
    """The four header bytes of fuzz_core.c."""
    b0 = {256: 0xf0, 2048: 0xff}.get(size_pages, size_pages - 4)
    assert 0 <= b0 < 64 or b0 in (0xf0, 0xff)
    b3 = 0
    if mem_pages:
        assert 1 <= mem_pages <= 4
        b3 |= 1 | ((mem_pages - 1) << 2)
    if swap_slots is not None:
        assert swap_slots % 4 == 0 and swap_slots <= 60
        b3 |= 2 | ((swap_slots // 4) << 4)
    return bytes([b0, nr_inodes, 1 if sgid else 0, b3])


class Prog:
    def __init__(self, **hdr):
        self.b = bytearray(header(**hdr))

    def op(self, o, *args):
        self.b.append(OP[o])
        for a in args:
            self.b += a if isinstance(a, (bytes, bytearray)) else bytes(a)
        return self

    def mkdir(self, d, n, into):
        return self.op("mkdir", slot(d), name(n), new_slot(into))

    def mknod(self, d, n, into, mode="reg"):
        return self.op("mknod", slot(d), name(n), bytes([MODES[mode]]),
                       new_slot(into))

    def symlink(self, d, n, into, tlen_sel=10, seed=7):
        return self.op("symlink", slot(d), name(n), bytes([tlen_sel]),
                       bytes([seed]), new_slot(into))

    def link(self, ino, d, n, into):
        return self.op("link", slot(ino), slot(d), name(n), new_slot(into))

    def unlink(self, d, n):
        return self.op("unlink", slot(d), name(n))

    def rmdir(self, d, n):
        return self.op("rmdir", slot(d), name(n))

    def rename(self, d, n, nd, nn, flags=""):
        return self.op("rename", slot(d), name(n), slot(nd), name(nn),
                       bytes([RENAME[flags]]))

    def lookup(self, d, n, into):
        return self.op("lookup", slot(d), name(n), new_slot(into))

    def write(self, ino, o, n, seed=1):
        return self.op("write", slot(ino), off(o), iolen(n), bytes([seed]))

    def read(self, ino, o, n):
        return self.op("read", slot(ino), off(o), iolen(n))

    def truncate(self, ino, size, k=0):
        return self.op("truncate", slot(ino), off(size), bytes([k]))

    def fallocate(self, ino, mode, o, n):
        return self.op("fallocate", slot(ino), bytes([FALLOC[mode]]),
                       off(o), len64(n))

    def lseek(self, ino, o, hole=False):
        return self.op("lseek", slot(ino), off(o), bytes([1 if hole else 0]))

    def setxattr(self, ino, x, size=10, seed=3, flags=""):
        return self.op("setxattr", slot(ino), bytes([XNAMES[x]]),
                       bytes([size]), bytes([seed]), bytes([XFLAGS[flags]]))

    def getxattr(self, ino, x, k=2):
        return self.op("getxattr", slot(ino), bytes([XNAMES[x]]), bytes([k]))

    def removexattr(self, ino, x):
        return self.op("removexattr", slot(ino), bytes([XNAMES[x]]))

    def listxattr(self, ino, k=0):
        return self.op("listxattr", slot(ino), bytes([k]))

    def readdir(self, d, plus=False, batch=1):
        return self.op("readdir", slot(d),
                       bytes([(1 if plus else 0) | ((batch - 1) << 1)]))

    def open(self, s):
        return self.op("open", bytes([s]))

    def release(self, s):
        return self.op("release", bytes([s]))

    def forget(self, s, k=255):
        return self.op("forget", bytes([s]), bytes([k]))

    def getattr(self, ino, k=0):
        return self.op("getattr", slot(ino), bytes([k]))

    def copy(self, i, oi, o, oo, n):
        return self.op("copy_file_range", slot(i), slot(o), off(oi),
                       off(oo), iolen(n))

    def stats(self):
        return self.op("stats")

    def swapctl(self, what, arg=0):
        return self.op("swapctl", bytes([SWAPCTL[what] | (arg << 3)]))

    def bulk(self, d, ino, n, kind):
        """kind: 0 links of ino, 1 unlinks, 2 new files; n names."""
        return self.op("bulk", slot(d), slot(ino), bytes([n - 1]),
                       bytes([kind]))

    def fault(self, after):
        return self.op("fault", bytes([after - 1]))

    def bytes(self):
        return bytes(self.b)


def core_seeds():
    s = {}
    # A small tree, data, a walk.
    s["basic"] = (Prog().mkdir(0, "a", 1).mknod(1, "b", 2).write(2, 0, 100)
                  .read(2, 0, 200).readdir(0).readdir(1, plus=True)
                  .getattr(2).stats())
    # Every mknod type, and the invalid ones.
    p = Prog()
    for i, m in enumerate(["reg", "0", "fifo", "sock", "chr", "blk", "dir",
                           "lnk", "bad", "suid"]):
        p.mknod(0, "abcdef"[i % 6] if i < 6 else "ab", 1 + i % 15, m)
    s["mknod-types"] = p.readdir(0, batch=3)
    # Names: ".", "..", "", "x/y", too long.
    p = Prog()
    for n in [".", "..", "", "x/y", "long255", "long256"]:
        p.mkdir(0, n, 1).lookup(0, n, 2).unlink(0, n).rmdir(0, n)
    s["names"] = p.readdir(0)
    # A removed directory we still hold, whose parent is gone too.
    s["rmdir-held"] = (Prog().mkdir(0, "a", 1).mkdir(1, "b", 2)
                       .rmdir(1, "b").rmdir(0, "a").forget(1)
                       .readdir(2).lookup(2, "..", 3).mknod(2, "c", 4))
    # Directories renamed into each other.
    s["rename-dirs"] = (Prog().mkdir(0, "a", 1).mkdir(1, "b", 2)
                        .mkdir(0, "c", 3).rename(0, "a", 2, "d")
                        .rename(0, "a", 3, "a").rename(0, "c", 1, "c")
                        .rename(1, "b", 0, "c", "exchange")
                        .rename(0, "c", 0, "a", "exchange")
                        .rename(0, "c", 0, "c").readdir(0).readdir(1))
    # Exchange and noreplace across directories, files over files.
    s["rename-files"] = (Prog().mkdir(0, "a", 1).mknod(0, "b", 2)
                         .mknod(1, "c", 3).write(3, 0, 10)
                         .rename(0, "b", 1, "c", "noreplace")
                         .rename(0, "b", 1, "c", "exchange")
                         .rename(1, "c", 0, "b").rename(0, "b", 0, "b")
                         .rename(0, "a", 1, "x/y").rename(0, "b", 1, "d",
                                                          "both")
                         .read(3, 0, 20))
    # Hard links, unlink while open, forget, release.
    s["links-open"] = (Prog().mknod(0, "a", 1).write(1, 0, 5000)
                       .link(1, 0, "b", 2).open(1).unlink(0, "a")
                       .unlink(0, "b").read(1, 4000, 2000).forget(1)
                       .getattr(1).read(1, 0, 10).release(1).getattr(1))
    # A hard link onto itself and over a hard link: rename is a no-op.
    s["rename-hardlink"] = (Prog().mknod(0, "a", 1).link(1, 0, "b", 2)
                            .rename(0, "a", 0, "b").readdir(0)
                            .rename(0, "a", 0, "b", "exchange"))
    # Sparse data, fallocate, SEEK_DATA/HOLE, punch, truncate.
    s["sparse"] = (Prog().mknod(0, "a", 1).write(1, 9000, 100)
                   .fallocate(1, "keep", 20000, 9000)
                   .fallocate(1, "alloc", 0, 4096).lseek(1, 0)
                   .lseek(1, 0, hole=True).lseek(1, 8192)
                   .lseek(1, 9050, hole=True)
                   .fallocate(1, "punch", 8500, 600).read(1, 8000, 2000)
                   .truncate(1, 9010).read(1, 9000, 100)
                   .truncate(1, 30000).lseek(1, 9500).getattr(1))
    # Invalid fallocate modes and ranges.
    p = Prog().mknod(0, "a", 1).write(1, 0, 10)
    for m in FALLOC:
        p.fallocate(1, m, 0, 4096)
    p.fallocate(1, "alloc", 0, 0).fallocate(1, "alloc", 0, "-1")
    p.fallocate(1, "alloc", "-1", 10).fallocate(1, "alloc", 1, "huge")
    p.fallocate(0, "alloc", 0, 10).mknod(0, "b", 2, "fifo")
    s["falloc-modes"] = p.fallocate(2, "alloc", 0, 10)
    # Filling size= (ENOSPC), then freeing.
    p = Prog(size_pages=8).mknod(0, "a", 1)
    for i in range(6):
        p.write(1, i * 8000, 8000, seed=i + 1)
    p.fallocate(1, "alloc", 0, 8 * 4096 - 1).truncate(1, 4000)
    s["enospc"] = p.fallocate(1, "alloc", 0, 7 * 4096).write(1, 40000, 100)
    # nr_inodes= exhausted.
    p = Prog(nr_inodes=4)
    for i, n in enumerate("abcdef"):
        p.mknod(0, n, 1 + i)
    s["nr-inodes"] = (p.mkdir(0, "ab", 9).symlink(0, "ba", 10)
                      .unlink(0, "a").forget(1).mknod(0, "a", 1))
    # Offsets at the edge of the file size limit.
    s["huge-offsets"] = (Prog().mknod(0, "a", 1).write(1, "max-1", 100)
                         .write(1, "max", 10).read(1, "max-1", 100)
                         .lseek(1, "1T").lseek(1, "1T", hole=True)
                         .truncate(1, 0).getattr(1).write(1, "1T", 10)
                         .fallocate(1, "punch", 0, "huge")
                         .truncate(1, 10, k=0xf0).stats())
    # Symlinks: inline, in a page, too long, empty.
    p = Prog()
    for i, t in enumerate([1, 192 + 5, 192 + 6, 192 + 8, 192 + 10,
                           192 + 11, 192]):
        p.symlink(0, "abcdefg"[i] if i < 6 else "ab", 1 + i, tlen_sel=t)
        p.getattr(1 + i).getattr(1 + i, k=140)
    s["symlinks"] = p.write(2, 0, 10).setxattr(2, "user.a")
    # Extended attributes.
    s["xattr"] = (Prog().mknod(0, "a", 1).setxattr(1, "user.a", 20)
                  .setxattr(1, "user.a", 5, flags="create")
                  .setxattr(1, "user.b", 5, flags="replace")
                  .setxattr(1, "trusted.t", 0).setxattr(1, "security.s", 79)
                  .setxattr(1, "user.long255", 1).listxattr(1)
                  .listxattr(1, k=128 + 10).getxattr(1, "user.a", k=1)
                  .getxattr(1, "user.a", k=0).getxattr(1, "user.a", k=2)
                  .removexattr(1, "user.b").removexattr(1, "user.a")
                  .setxattr(1, "user.", 1).setxattr(1, "foo.bar", 1)
                  .setxattr(1, "", 1).setxattr(1, "user.long256", 1)
                  .setxattr(1, "user.a", 201).setxattr(1, "user.a", 202)
                  .setxattr(1, "user.a", flags="bad")
                  .mknod(0, "b", 2, "fifo").setxattr(2, "user.a")
                  .getxattr(2, "user.a").removexattr(2, "user.a")
                  .setxattr(0, "user.a").listxattr(0))
    # Allocation failures in every kind of op.
    p = Prog().mkdir(0, "a", 1).mknod(1, "b", 2).write(2, 0, 9000)
    for n in range(1, 6):
        p.fault(n).mknod(1, "c", 3).fault(n).mkdir(1, "d", 4)
        p.fault(n).symlink(1, "e", 5, tlen_sel=192 + 8)
        p.fault(n).write(2, 20000, 9000).fault(n).link(2, 0, "f", 6)
        p.fault(n).rename(1, "b", 0, "ab").fault(n).rename(0, "ab", 1, "b")
        p.fault(n).fallocate(2, "alloc", 0, 30000)
        p.fault(n).setxattr(2, "user.a")
    s["faults"] = p.read(2, 0, 9000)
    # copy_file_range, overlapping and not.
    s["copy"] = (Prog().mknod(0, "a", 1).mknod(0, "b", 2)
                 .write(1, 0, 10000, 5).copy(1, 100, 2, 5000, 8000)
                 .copy(1, 0, 1, 100, 500).copy(1, 0, 1, 20000, 500)
                 .copy(2, 0, 0, 0, 10).read(2, 0, 16000).read(1, 0, 16000))
    # A readdir walk of a directory where names came and went.
    p = Prog().mkdir(0, "a", 1)
    for n in "abcdef":
        p.mknod(1, n, 2)
    s["readdir-churn"] = (p.unlink(1, "b").unlink(1, "d").mknod(1, "b", 3)
                          .rename(1, "a", 1, "ab").readdir(1, batch=2)
                          .readdir(1, plus=True, batch=5))
    # mem= with swap: pages go out and come back.
    p = Prog(size_pages=64, mem_pages=2, swap_slots=16).mknod(0, "a", 1)
    for i in range(6):
        p.write(1, i * 4096, 4096, seed=i + 1)
    s["swap-basic"] = (p.read(1, 0, 16000).read(1, 16384, 8192)
                       .lseek(1, 0).truncate(1, 5000).stats()
                       .swapctl("swapoff").swapctl("swapon"))
    # mem= without swap: ENOSPC on the memory budget.
    p = Prog(size_pages=64, mem_pages=2).mknod(0, "a", 1)
    for i in range(4):
        p.write(1, i * 4096, 4096, seed=i + 1)
    s["mem-noswap"] = p.fallocate(1, "alloc", 0, 30000).read(1, 0, 16000)
    # Swap that is full, then write failures.
    p = Prog(size_pages=64, mem_pages=1, swap_slots=4).mknod(0, "a", 1)
    for i in range(8):
        p.write(1, i * 4096, 4096, seed=i + 1)
    s["swap-full"] = (p.swapctl("fail_write").write(1, 40000, 100)
                      .swapctl("heal").read(1, 0, 16000)
                      .swapctl("swapoff"))
    # Swap read errors: reads, partial truncate and punch, swapoff.
    p = Prog(size_pages=64, mem_pages=1, swap_slots=16).mknod(0, "a", 1)
    for i in range(4):
        p.write(1, i * 4096, 4096, seed=i + 1)
    s["swap-eio"] = (p.swapctl("fail_read").read(1, 0, 8192)
                     .truncate(1, 5000).fallocate(1, "punch", 100, 9000)
                     .swapctl("swapoff").swapctl("heal")
                     .swapctl("corrupt_read").read(1, 0, 4096)
                     .swapctl("heal").swapctl("rot", 1).read(1, 0, 16000)
                     .swapctl("swapoff").read(1, 0, 16000))
    # A long symlink whose page goes to swap and cannot come back.
    p = (Prog(size_pages=64, mem_pages=1, swap_slots=16)
         .symlink(0, "a", 1, tlen_sel=192 + 8).mknod(0, "b", 2))
    for i in range(3):
        p.write(2, i * 4096, 4096, seed=i + 1)
    s["swap-symlink"] = (p.swapctl("fail_read").getattr(1)
                         .swapctl("heal").getattr(1))
    # swapoff / swapon without a swap device.
    s["noswap-ctl"] = (Prog().swapctl("swapoff").swapctl("swapon")
                       .swapctl("fail_read").mknod(0, "a", 1)
                       .write(1, 0, 100).read(1, 0, 100))
    # Fallocated pages and swap: reservations cost no memory.
    s["swap-falloc"] = (Prog(size_pages=64, mem_pages=2, swap_slots=8)
                        .mknod(0, "a", 1).fallocate(1, "alloc", 0, 30000)
                        .write(1, 5000, 9000).write(1, 20000, 100)
                        .read(1, 0, 16000).lseek(1, 0).lseek(1, 0, True)
                        .fallocate(1, "punch", 4096, 8192).stats())
    # Hundreds of names: the name hash grows; long readdir walks.
    p = Prog(nr_inodes=0).mkdir(0, "a", 1).mknod(0, "b", 2).mkdir(0, "c", 3)
    s["bulk-names"] = (p.bulk(1, 2, 200, 0).bulk(0, 2, 100, 0)
                       .bulk(3, 0, 60, 2).readdir(1, batch=8)
                       .readdir(0, plus=True, batch=8).bulk(1, 0, 200, 1)
                       .fault(3).bulk(1, 2, 50, 0).readdir(1))
    # A big mount: more than one 2 MiB chunk of pages in the pool.
    p = Prog(size_pages=2048).mknod(0, "a", 1).mknod(0, "b", 2)
    for i in range(150):
        p.write(1 + i % 2, ("page", i * 4), 16384, seed=i % 250 + 1)
    s["big-pool"] = (p.stats().read(1, ("page", 8), 16384).truncate(1, 0)
                     .stats().truncate(2, 100))
    # A set-group-ID root: new inodes take its group, directories the bit.
    s["sgid-root"] = (Prog(sgid=True).mkdir(0, "a", 1).mknod(1, "b", 2)
                      .getattr(1).getattr(2))
    # Whole-page overwrites of swapped pages (no read needed), readahead.
    p = Prog(size_pages=64, mem_pages=2, swap_slots=32).mknod(0, "a", 1)
    for i in range(8):
        p.write(1, i * 4096, 4096, seed=i + 1)
    for i in range(8):
        p.write(1, i * 4096, 4096, seed=i + 20)
    s["swap-overwrite"] = (p.read(1, 0, 4096).read(1, 4096, 4096)
                           .read(1, 8192, 4096).swapctl("fail_write")
                           .write(1, 40000, 9000).swapctl("heal")
                           .read(1, 0, 16000))
    return {k: v.bytes() for k, v in s.items()}


def options_seeds():
    good = [
        "size=1g", "size=50%", "size=0", "size=4k,nr_inodes=100",
        "nr_blocks=10,mode=1777", "mode=700,uid=1000,gid=1000",
        "uid=0x10,gid=010", "uid=+5", "huge=always", "huge=within_size",
        "huge=advise,huge=never", "noswap", "ramfs,size=1m", "mem=64m",
        "mem=10%", "swap=/tmp/swapfile,swapsize=128m", "swapsize=1G",
        "nr_inodes=1k", "size=1e", "size=0x10M", "size=010", ",,size=1,",
        "", "allow_other,default_permissions", "size=1g,allow_other,ro",
        "fsname=shm,subtype=shmemfs",
    ]
    bad = [
        "size=", "size", "size=k", "size=1x", "size=-1", "size=100%%",
        "size=16e", "size=99999999999999999999", "nr_inodes=1%",
        "nr_inodes=18014398509481984", "mode=8", "mode=0x7", "mode=99999999999",
        "uid=-1", "uid=4294967295", "uid=4294967296", "gid=abc",
        "huge=deny", "huge=force", "huge=", "noswap=1", "ramfs=yes",
        "swap=relative/path", "swap=", "=value", "=", "unknown",
        "size=1g,mode=9", "mem=1z", "swapsize=1%", "size=1\n2",
        "swap=/tmp/a\nb", "uid=0x", "size=0x", "nr_blocks=9223372036854775808",
    ]
    out = {}
    for i, t in enumerate(good):
        out["good-%02d" % i] = t.encode()
    for i, t in enumerate(bad):
        out["bad-%02d" % i] = t.encode()
    # A first byte for the harness (how to call the parser), then the
    # option string; see fuzz_options.c.  Every string goes through with
    # a 256-byte err and with a 4096-byte unknown buffer as well; some
    # also with small buffers, a pre-filled one, or earlier options.
    seeds = {}
    for i, (k, v) in enumerate(sorted(out.items())):
        modes = [0x30, 0x37]
        modes += [[0x77, 0xb0, 0x13, 0x08, 0xf7][i % 5]]
        for mode in modes:
            seeds["%s-m%02x" % (k, mode)] = bytes([mode]) + v
    return seeds


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for f in os.listdir(dirname):
        if f.startswith("seed-"):
            os.unlink(os.path.join(dirname, f))
    for k, v in seeds.items():
        with open(os.path.join(dirname, "seed-" + k), "wb") as fh:
            fh.write(v)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    if len(sys.argv) == 3 and sys.argv[1] == "--print":
        print(core_seeds()[sys.argv[2]].hex())
        return
    write(os.path.join(here, "corpus", "core"), core_seeds())
    write(os.path.join(here, "corpus", "options"), options_seeds())


if __name__ == "__main__":
    main()
