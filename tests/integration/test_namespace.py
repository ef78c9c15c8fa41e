# SPDX-License-Identifier: MIT
"""Names: create, lookup, unlink, mkdir/rmdir, links, symlinks, special
files, rename (with renameat2 flags), directory sizes and readdir."""

import errno
import os
import socket
import stat

import pytest

from conftest import (RENAME_EXCHANGE, RENAME_NOREPLACE, dir_size, errno_of,
                      renameat2)


def touch(path, data=b""):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --- create / open / unlink -------------------------------------------------

def test_create_write_read_unlink(mnt):
    p = os.path.join(mnt, "file")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o640)
    assert os.write(fd, b"hello world") == 11
    assert os.pread(fd, 5, 6) == b"world"
    os.close(fd)
    st = os.stat(p)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640   # umask is applied by caller
    assert st.st_size == 11 and st.st_nlink == 1
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert read(p) == b"hello world"
    assert os.listdir(mnt) == ["file"]
    os.unlink(p)
    assert os.listdir(mnt) == []
    assert errno_of(os.stat, p) == errno.ENOENT


def test_open_flags(mnt):
    p = os.path.join(mnt, "f")
    assert errno_of(os.open, p, os.O_RDONLY) == errno.ENOENT
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"abcdef")
    os.close(fd)
    assert errno_of(os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY) == \
        errno.EEXIST
    # O_CREAT without O_EXCL on an existing file opens it unchanged
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    assert read(p) == b"abcdef"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"gh")
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"ij")             # O_APPEND ignores the position
    os.close(fd)
    assert read(p) == b"abcdefghij"
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    assert os.stat(p).st_size == 0
    assert errno_of(os.open, p, os.O_RDONLY | os.O_DIRECTORY) == errno.ENOTDIR
    assert errno_of(os.open, os.path.join(p, "x"), os.O_RDONLY) == \
        errno.ENOTDIR


def test_errno_paths(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    os.mkdir(j("d"))
    touch(j("f"))
    touch(j("d", "x"))
    assert errno_of(os.stat, j("nope")) == errno.ENOENT
    assert errno_of(os.unlink, j("nope")) == errno.ENOENT
    assert errno_of(os.rmdir, j("nope")) == errno.ENOENT
    assert errno_of(open, j("nope", "x"), "w") == errno.ENOENT
    assert errno_of(os.mkdir, j("nope", "x")) == errno.ENOENT
    assert errno_of(os.rename, j("nope"), j("n2")) == errno.ENOENT
    assert errno_of(os.mkdir, j("d")) == errno.EEXIST
    assert errno_of(os.mkdir, j("f")) == errno.EEXIST
    assert errno_of(os.symlink, "t", j("f")) == errno.EEXIST
    assert errno_of(os.mkfifo, j("f")) == errno.EEXIST
    assert errno_of(os.link, j("f"), j("d")) == errno.EEXIST
    assert errno_of(os.rmdir, j("d")) == errno.ENOTEMPTY
    assert errno_of(os.rmdir, j("f")) == errno.ENOTDIR
    assert errno_of(os.rmdir, j("d", ".")) == errno.EINVAL
    assert errno_of(os.rmdir, j("d", "..")) == errno.ENOTEMPTY
    assert errno_of(os.unlink, j("d")) == errno.EISDIR
    assert errno_of(open, j("d"), "w") == errno.EISDIR
    assert errno_of(open, j("d"), "r+") == errno.EISDIR
    fd = os.open(j("d"), os.O_RDONLY)
    assert errno_of(os.read, fd, 10) == errno.EISDIR
    os.close(fd)
    assert errno_of(os.truncate, j("d"), 0) == errno.EISDIR
    assert errno_of(os.stat, j("f", "x")) == errno.ENOTDIR
    assert errno_of(open, j("f", "x"), "w") == errno.ENOTDIR
    assert errno_of(os.mkdir, j("f", "x")) == errno.ENOTDIR
    assert errno_of(os.listdir, j("f")) == errno.ENOTDIR


def test_name_length(mnt):
    ok = os.path.join(mnt, "a" * 255)
    bad = os.path.join(mnt, "b" * 256)
    touch(ok, b"x")
    assert read(ok) == b"x"
    assert "a" * 255 in os.listdir(mnt)
    os.mkdir(os.path.join(mnt, "d" * 255))
    os.symlink("t", os.path.join(mnt, "s" * 255))
    for fn, args in ((open, (bad, "w")), (os.mkdir, (bad,)),
                     (os.stat, (bad,)), (os.symlink, ("t", bad)),
                     (os.mkfifo, (bad,)), (os.link, (ok, bad)),
                     (os.rename, (ok, bad)), (os.unlink, (bad,))):
        assert errno_of(fn, *args) == errno.ENAMETOOLONG, fn
    assert os.path.exists(ok)


def test_dir_nlink_and_size(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    st = os.stat(mnt)
    assert (st.st_size, st.st_nlink, st.st_blocks) == (dir_size(0), 2, 0)
    os.mkdir(j("d"))
    st = os.stat(j("d"))
    assert (st.st_size, st.st_nlink, st.st_blocks) == (40, 2, 0)
    assert os.stat(mnt).st_size == dir_size(1)
    assert os.stat(mnt).st_nlink == 3
    touch(j("f"))
    os.symlink("f", j("s"))
    os.mkfifo(j("p"))
    assert os.stat(mnt).st_size == dir_size(4)
    assert os.stat(mnt).st_nlink == 3   # only subdirectories count
    os.mkdir(j("d", "e"))
    touch(j("d", "g"))
    assert os.stat(j("d")).st_size == dir_size(2)
    assert os.stat(j("d")).st_nlink == 3
    os.link(j("f"), j("d", "hard"))
    assert os.stat(j("d")).st_size == dir_size(3)
    os.rename(j("d", "e"), j("e"))       # move a subdir up
    assert os.stat(j("d")).st_nlink == 2
    assert os.stat(mnt).st_nlink == 4
    assert os.stat(j("d")).st_size == dir_size(2)
    assert os.stat(mnt).st_size == dir_size(5)
    os.rename(j("d", "g"), j("d", "g2"))  # same dir: size unchanged
    assert os.stat(j("d")).st_size == dir_size(2)
    os.rename(j("d", "g2"), j("f"))       # replaces f: one entry fewer
    assert os.stat(j("d")).st_size == dir_size(1)
    assert os.stat(mnt).st_size == dir_size(5)
    os.unlink(j("f"))
    os.unlink(j("s"))
    os.unlink(j("p"))
    os.rmdir(j("e"))
    assert os.stat(mnt).st_size == dir_size(1)
    assert os.stat(mnt).st_nlink == 3
    os.unlink(j("d", "hard"))
    os.rmdir(j("d"))
    st = os.stat(mnt)
    assert (st.st_size, st.st_nlink) == (dir_size(0), 2)


def test_many_entries_size(mnt):
    for i in range(300):
        touch(os.path.join(mnt, "f%03d" % i))
    assert os.stat(mnt).st_size == dir_size(300)
    assert sorted(os.listdir(mnt)) == ["f%03d" % i for i in range(300)]


# --- readdir ------------------------------------------------------------

def test_readdir_dot_entries_and_inodes(mnt):
    os.mkdir(os.path.join(mnt, "d"))
    touch(os.path.join(mnt, "d", "a"))
    os.symlink("a", os.path.join(mnt, "d", "l"))
    ents = {e.name: e for e in os.scandir(os.path.join(mnt, "d"))}
    assert sorted(ents) == ["a", "l"]        # scandir hides . and ..
    assert ents["a"].is_file(follow_symlinks=False)
    assert ents["l"].is_symlink()
    assert ents["a"].inode() == os.lstat(os.path.join(mnt, "d", "a")).st_ino
    assert ents["l"].inode() == os.lstat(os.path.join(mnt, "d", "l")).st_ino
    # every inode number is distinct
    inos = {os.lstat(os.path.join(mnt, "d", n)).st_ino for n in ents}
    inos.add(os.stat(os.path.join(mnt, "d")).st_ino)
    inos.add(os.stat(mnt).st_ino)
    assert len(inos) == 4


@pytest.mark.parametrize("count", [2000])
def test_readdir_while_unlinking(mnt, count):
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    names = {"entry-%05d" % i for i in range(count)}
    for n in names:
        touch(os.path.join(d, n))
    seen = []
    with os.scandir(d) as it:            # one opendir stream
        for e in it:
            seen.append(e.name)
            os.unlink(os.path.join(d, e.name))
    assert len(seen) == len(set(seen)), "readdir repeated entries"
    assert set(seen) == names, "readdir skipped %d entries" % (
        len(names - set(seen)))
    assert os.listdir(d) == []
    assert os.stat(d).st_size == dir_size(0)
    os.rmdir(d)


def test_readdir_with_concurrent_creates(mnt):
    """Entries present for the whole iteration are returned exactly once,
    even while others are created and removed."""
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    stable = {"s%04d" % i for i in range(500)}
    for n in stable:
        touch(os.path.join(d, n))
    seen = []
    with os.scandir(d) as it:
        for i, e in enumerate(it):
            seen.append(e.name)
            if i % 3 == 0:
                touch(os.path.join(d, "new%04d" % i))
            if e.name.startswith("new"):
                os.unlink(os.path.join(d, e.name))
    got = [n for n in seen if n in stable]
    assert len(got) == len(set(got))
    assert set(got) == stable


# --- symlinks -----------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 60, 127, 128, 129, 1000, 4095])
def test_symlink_lengths(mnt, length):
    target = ("t" * length)
    p = os.path.join(mnt, "l")
    os.symlink(target, p)
    assert os.readlink(p) == target
    st = os.lstat(p)
    assert stat.S_ISLNK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o777
    assert st.st_size == length
    assert st.st_nlink == 1
    # tmpfs keeps targets shorter than 128 bytes in the inode; longer ones
    # take a page.
    assert st.st_blocks == (0 if length < 128 else 8)
    assert os.readlink(p.encode()) == target.encode()


def test_symlink_too_long(mnt):
    p = os.path.join(mnt, "l")
    assert errno_of(os.symlink, "x" * 4096, p) == errno.ENAMETOOLONG
    assert not os.path.lexists(p)


def test_symlink_resolution(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    os.mkdir(j("dir"))
    touch(j("dir", "file"), b"data")
    os.symlink("dir/file", j("rel"))
    os.symlink(j("dir", "file"), j("abs"))
    os.symlink("dir", j("dl"))
    os.symlink("../dir/file", j("dir", "up"))
    assert read(j("rel")) == b"data"
    assert read(j("abs")) == b"data"
    assert read(j("dl", "file")) == b"data"
    assert read(j("dir", "up")) == b"data"
    assert os.path.isdir(j("dl"))
    assert os.readlink(j("dl")) == "dir"
    assert errno_of(os.readlink, j("dir")) == errno.EINVAL
    assert errno_of(os.readlink, j("dir", "file")) == errno.EINVAL
    assert errno_of(os.readlink, j("missing")) == errno.ENOENT
    # dangling link: stat fails, lstat works, O_CREAT creates the target
    os.symlink("newtarget", j("dangle"))
    assert errno_of(os.stat, j("dangle")) == errno.ENOENT
    assert stat.S_ISLNK(os.lstat(j("dangle")).st_mode)
    os.close(os.open(j("dangle"), os.O_CREAT | os.O_WRONLY, 0o644))
    assert os.path.isfile(j("newtarget"))
    assert errno_of(os.open, j("rel"), os.O_RDONLY | os.O_NOFOLLOW) == \
        errno.ELOOP
    assert errno_of(os.open, j("rel"), os.O_CREAT | os.O_EXCL |
                    os.O_WRONLY) == errno.EEXIST
    # unlinking a symlink leaves the target
    os.unlink(j("rel"))
    assert read(j("dir", "file")) == b"data"


def test_symlink_loop(mnt):
    a, b = os.path.join(mnt, "a"), os.path.join(mnt, "b")
    os.symlink("b", a)
    os.symlink("a", b)
    assert errno_of(open, a) == errno.ELOOP
    assert errno_of(os.stat, a) == errno.ELOOP
    assert errno_of(os.open, a, os.O_CREAT | os.O_WRONLY) == errno.ELOOP
    assert stat.S_ISLNK(os.lstat(a).st_mode)
    os.symlink("self", os.path.join(mnt, "self"))
    assert errno_of(os.stat, os.path.join(mnt, "self")) == errno.ELOOP
    assert errno_of(os.listdir, os.path.join(mnt, "self")) == errno.ELOOP


def test_symlink_chain_limit(mnt):
    # 40 links are followed; the 41st lookup fails with ELOOP
    touch(os.path.join(mnt, "l0"), b"end")
    for i in range(1, 42):
        os.symlink("l%d" % (i - 1), os.path.join(mnt, "l%d" % i))
    assert read(os.path.join(mnt, "l40")) == b"end"
    assert errno_of(open, os.path.join(mnt, "l41")) == errno.ELOOP


# --- special files ---------------------------------------------------------

def test_fifo(mnt):
    p = os.path.join(mnt, "fifo")
    os.mkfifo(p, 0o640)
    st = os.lstat(p)
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_size, st.st_blocks, st.st_nlink) == (0, 0, 1)
    r = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, b"through the pipe")
    assert os.read(r, 100) == b"through the pipe"
    os.close(w)
    os.close(r)
    os.mknod(os.path.join(mnt, "fifo2"), stat.S_IFIFO | 0o600)
    assert stat.S_ISFIFO(os.lstat(os.path.join(mnt, "fifo2")).st_mode)


def test_unix_socket(mnt):
    p = os.path.join(mnt, "sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(p)
        srv.listen(1)
        st = os.lstat(p)
        assert stat.S_ISSOCK(st.st_mode)
        assert (st.st_size, st.st_blocks) == (0, 0)
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cli.connect(p)
        conn, _ = srv.accept()
        cli.sendall(b"ping")
        assert conn.recv(4) == b"ping"
        conn.close()
        cli.close()
        # binding again to an existing name fails
        s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with pytest.raises(OSError) as ei:
            s2.bind(p)
        assert ei.value.errno == errno.EADDRINUSE
        s2.close()
    finally:
        srv.close()
    os.unlink(p)
    os.mknod(p, stat.S_IFSOCK | 0o644)
    assert stat.S_ISSOCK(os.lstat(p).st_mode)


@pytest.mark.needs_root
@pytest.mark.parametrize("kind,dev", [(stat.S_IFCHR, (1, 3)),
                                      (stat.S_IFBLK, (7, 200)),
                                      (stat.S_IFCHR, (4095, 1048575))])
def test_device_nodes(mnt, kind, dev):
    p = os.path.join(mnt, "dev")
    os.mknod(p, kind | 0o640, os.makedev(*dev))
    st = os.lstat(p)
    assert stat.S_IFMT(st.st_mode) == kind
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == dev
    assert (st.st_size, st.st_blocks, st.st_nlink) == (0, 0, 1)
    os.unlink(p)


def test_mknod_regular(mnt):
    p = os.path.join(mnt, "reg")
    os.mknod(p, stat.S_IFREG | 0o600)
    st = os.lstat(p)
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    os.mknod(os.path.join(mnt, "reg0"), 0o600)   # type 0 means regular
    assert stat.S_ISREG(os.lstat(os.path.join(mnt, "reg0")).st_mode)


# --- hard links ---------------------------------------------------------------

def test_hard_links(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    touch(j("a"), b"shared")
    os.mkdir(j("d"))
    os.link(j("a"), j("b"))
    os.link(j("a"), j("d", "c"))
    sa, sb, sc = os.stat(j("a")), os.stat(j("b")), os.stat(j("d", "c"))
    assert sa.st_ino == sb.st_ino == sc.st_ino
    assert sa.st_nlink == 3
    with open(j("b"), "ab") as f:
        f.write(b"!")
    assert read(j("d", "c")) == b"shared!"
    os.unlink(j("a"))
    assert os.stat(j("b")).st_nlink == 2
    os.rename(j("b"), j("d", "c"))         # same inode: a no-op
    assert os.path.exists(j("b"))
    assert os.stat(j("b")).st_nlink == 2
    os.unlink(j("d", "c"))
    assert os.stat(j("b")).st_nlink == 1
    assert read(j("b")) == b"shared!"
    assert errno_of(os.link, j("d"), j("dl")) == errno.EPERM
    assert errno_of(os.link, j("missing"), j("x")) == errno.ENOENT
    assert errno_of(os.link, j("b"), j("nodir", "x")) == errno.ENOENT
    os.symlink("b", j("s"))
    os.link(j("s"), j("s2"), follow_symlinks=False)     # links the symlink
    assert os.lstat(j("s2")).st_ino == os.lstat(j("s")).st_ino
    assert os.lstat(j("s")).st_nlink == 2
    os.mkfifo(j("p"))
    os.link(j("p"), j("p2"))
    assert os.lstat(j("p")).st_nlink == 2


def test_link_updates_ctime(mnt):
    p = os.path.join(mnt, "a")
    touch(p)
    c0 = os.stat(p).st_ctime_ns
    import time
    time.sleep(0.02)
    os.link(p, os.path.join(mnt, "b"))
    assert os.stat(p).st_ctime_ns > c0


# --- rename -----------------------------------------------------------------

def test_rename_basic(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    touch(j("a"), b"A")
    ino = os.stat(j("a")).st_ino
    os.rename(j("a"), j("b"))
    assert not os.path.exists(j("a"))
    assert read(j("b")) == b"A" and os.stat(j("b")).st_ino == ino
    touch(j("c"), b"C")
    os.rename(j("b"), j("c"))               # replaces c
    assert read(j("c")) == b"A" and os.listdir(mnt) == ["c"]
    os.rename(j("c"), j("c"))               # to itself: nothing happens
    assert read(j("c")) == b"A"
    os.makedirs(j("x", "y"))
    os.rename(j("c"), j("x", "y", "c"))
    assert read(j("x", "y", "c")) == b"A"
    os.rename(j("x", "y"), j("z"))          # move a dir with content
    assert read(j("z", "c")) == b"A"
    assert os.stat(j("x")).st_nlink == 2
    assert os.stat(mnt).st_nlink == 4


def test_rename_dir_errors(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    os.makedirs(j("a", "b", "c"))
    touch(j("f"))
    os.mkdir(j("empty"))
    os.mkdir(j("full"))
    touch(j("full", "x"))
    assert errno_of(os.rename, j("a"), j("a", "b", "c", "z")) == errno.EINVAL
    assert errno_of(os.rename, j("a"), j("a", "z")) == errno.EINVAL
    assert errno_of(os.rename, j("a"), j("full")) == errno.ENOTEMPTY
    assert errno_of(os.rename, j("f"), j("full")) == errno.EISDIR
    assert errno_of(os.rename, j("f"), j("empty")) == errno.EISDIR
    assert errno_of(os.rename, j("a"), j("f")) == errno.ENOTDIR
    assert errno_of(os.rename, j("a", "b"), j("a", "b", "c", ".")) in (
        errno.EINVAL, errno.EBUSY)
    # a dir over an empty dir replaces it
    os.rename(j("a"), j("empty"))
    assert os.path.isdir(j("empty", "b", "c"))
    assert not os.path.exists(j("a"))
    assert os.stat(mnt).st_nlink == 4       # root, empty, full + ".."s
    assert os.stat(mnt).st_size == dir_size(3)


def test_rename_noreplace(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    touch(j("a"), b"A")
    touch(j("b"), b"B")
    os.mkdir(j("d"))
    assert errno_of(renameat2, j("a"), j("b"), RENAME_NOREPLACE) == \
        errno.EEXIST
    assert errno_of(renameat2, j("a"), j("d"), RENAME_NOREPLACE) == \
        errno.EEXIST
    assert read(j("a")) == b"A" and read(j("b")) == b"B"
    renameat2(j("a"), j("c"), RENAME_NOREPLACE)
    assert read(j("c")) == b"A" and not os.path.exists(j("a"))
    assert errno_of(renameat2, j("a"), j("e"), RENAME_NOREPLACE) == \
        errno.ENOENT


def test_rename_exchange(mnt):
    j = lambda *a: os.path.join(mnt, *a)
    touch(j("a"), b"A")
    os.mkdir(j("d"))
    touch(j("d", "inner"), b"I")
    os.mkdir(j("sub"))
    ia, id_ = os.stat(j("a")).st_ino, os.stat(j("d")).st_ino
    renameat2(j("a"), j("d"), RENAME_EXCHANGE)     # file <-> dir
    assert os.path.isdir(j("a")) and os.path.isfile(j("d"))
    assert os.stat(j("a")).st_ino == id_ and os.stat(j("d")).st_ino == ia
    assert read(j("a", "inner")) == b"I" and read(j("d")) == b"A"
    assert os.stat(mnt).st_size == dir_size(3)
    assert os.stat(mnt).st_nlink == 4
    # across directories: dir moves into sub, file moves up
    touch(j("sub", "f"), b"F")
    renameat2(j("a"), j("sub", "f"), RENAME_EXCHANGE)
    assert read(j("a")) == b"F"
    assert read(j("sub", "f", "inner")) == b"I"
    assert os.stat(j("sub")).st_nlink == 3
    assert os.stat(mnt).st_nlink == 3
    assert errno_of(renameat2, j("a"), j("missing"), RENAME_EXCHANGE) == \
        errno.ENOENT
    assert errno_of(renameat2, j("sub"), j("sub", "f"), RENAME_EXCHANGE) == \
        errno.EINVAL
    assert errno_of(renameat2, j("a"), j("d"),
                    RENAME_EXCHANGE | RENAME_NOREPLACE) == errno.EINVAL
    renameat2(j("a"), j("a"), RENAME_EXCHANGE)      # with itself: no-op
    assert read(j("a")) == b"F"


def test_rename_open_file(mnt):
    p = os.path.join(mnt, "a")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    os.rename(p, os.path.join(mnt, "b"))
    os.write(fd, b"still here")
    os.close(fd)
    assert read(os.path.join(mnt, "b")) == b"still here"


def test_rename_over_open_file(mnt):
    a, b = os.path.join(mnt, "a"), os.path.join(mnt, "b")
    touch(a, b"new")
    touch(b, b"old")
    fd = os.open(b, os.O_RDONLY)
    os.rename(a, b)
    assert os.read(fd, 10) == b"old"        # the replaced inode lives on
    os.close(fd)
    assert read(b) == b"new"


# --- timestamps in directories -------------------------------------------

def test_dir_times_change(mnt):
    import time
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    for op in (lambda: touch(os.path.join(d, "f")),
               lambda: os.rename(os.path.join(d, "f"), os.path.join(d, "g")),
               lambda: os.symlink("x", os.path.join(d, "s")),
               lambda: os.unlink(os.path.join(d, "s")),
               lambda: os.mkdir(os.path.join(d, "sub")),
               lambda: os.rmdir(os.path.join(d, "sub"))):
        os.utime(d, ns=(10**9, 10**9))
        before = os.stat(d)
        time.sleep(0.01)
        op()
        after = os.stat(d)
        assert after.st_mtime_ns > before.st_mtime_ns
        assert after.st_ctime_ns > before.st_ctime_ns
        assert after.st_atime_ns == 10**9
