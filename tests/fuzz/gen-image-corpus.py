#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_image (tests/fuzz/corpus/image/seed-*).

Each seed is in fuzz_image's odd mode: byte 0 odd, byte 1 the block size
(1 + 64 * byte), then the record stream of an image, which the harness
frames into checksummed blocks.  The encoders below follow the record
layout at the top of src/core/snapshot.c.
"""
import os
import struct

S_IFDIR, S_IFREG, S_IFLNK = 0o040000, 0o100000, 0o120000
S_IFIFO, S_IFSOCK, S_IFCHR = 0o010000, 0o140000, 0o020000


def u8(v): return struct.pack('<B', v)
def u16(v): return struct.pack('<H', v)
def u32(v): return struct.pack('<I', v)
def u64(v): return struct.pack('<Q', v)
def s(b): return u16(len(b)) + b


def mount(next_ino):
    return (u8(1) + u64(256) + u64(64) + u64(0) + u64(0) + u32(0o1777) +
            u32(0) + u32(0) + u32(0) + u8(0) + u8(0) + s(b'') +
            u64(next_ino) + u64(next_ino) + u64(0) + u64(0))


def inode(parent, name, ino, mode, nlink, size=0, rdev=0, target=None,
          xattrs=()):
    r = (u8(2) + u64(parent) + s(name) + u64(0) + u64(0) + u64(ino) +
         u64(ino) + u32(mode) +
         u32(1000) + u32(1000) + u32(nlink) + u64(size) + u64(rdev))
    for t in range(4):
        r += u64(1700000000 + t) + u32(123456789 + t)
    if target is not None:
        r += s(target)
    r += u32(len(xattrs))
    for k, v in xattrs:
        r += s(k) + u32(len(v)) + v
    return r


def data(ino, index, fill):
    return u8(4) + u64(ino) + u64(index) + bytes([fill]) * 4096


def run(kind, ino, first, count):
    return u8(kind) + u64(ino) + u64(first) + u64(count)


def end(ninodes, npages):
    return u8(7) + u64(ninodes) + u64(npages)


def seed(name, recs, bs=255):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, 'corpus', 'image', 'seed-' + name),
              'wb') as f:
        f.write(bytes([1, bs]) + b''.join(recs))


seed('root', [mount(2), inode(0, b'', 1, S_IFDIR | 0o1777, 2), end(1, 0)])
seed('tree', [
    mount(20),
    inode(0, b'', 1, S_IFDIR | 0o755, 3, xattrs=[(b'user.r', b'1')]),
    inode(1, b'd', 2, S_IFDIR | 0o2775, 2),
    inode(2, b'f', 3, S_IFREG | 0o4755, 2, size=3 * 4096 + 100,
          xattrs=[(b'user.a', b'x' * 40), (b'trusted.b', b'')]),
    data(3, 0, 0x41), run(5, 3, 1, 1), data(3, 3, 0x42),
    run(5, 3, 8, 2), run(6, 3, 2, 1),
    inode(1, b'short', 4, S_IFLNK | 0o777, 1, size=1, target=b'f'),
    inode(2, b'long', 5, S_IFLNK | 0o777, 1, size=200, target=b'L' * 200),
    inode(2, b'fifo', 6, S_IFIFO | 0o600, 1),
    inode(2, b'sock', 7, S_IFSOCK | 0o600, 1),
    inode(2, b'null', 8, S_IFCHR | 0o666, 1, rdev=(1 << 8) | 3),
    u8(3) + u64(1) + s(b'hard') + u64(0) + u64(3),
    end(8, 5)])
# The same tree cut into small blocks: records span block boundaries.
seed('tree-small-blocks', [
    mount(4), inode(0, b'', 1, S_IFDIR | 0o755, 2),
    inode(1, b'f', 3, S_IFREG | 0o644, 1, size=4096), data(3, 0, 7),
    end(2, 1)], bs=0)
