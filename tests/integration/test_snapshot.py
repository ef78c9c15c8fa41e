# SPDX-License-Identifier: MIT
"""Snapshots: shmemctl save, -o restore=, restore_key=, persist=.

Kernel tmpfs has no snapshots, so these are shmemfs-only; what they
compare is one shmemfs mount against another, field by field (ctime
included: a restore is not a copy).  Birth times are not visible through
FUSE 3.14 (no statx), so the unit tests (test_snapshot.c) compare those.
"""

import errno
import os
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import (NOBODY, PAGE, SHMEMCTL_BIN, SHMEMFS_BIN, is_mounted,
                      make_mountpoint, run_as, fallocate)

pytestmark = pytest.mark.shmemfs_only

FALLOC_KEEP_SIZE = 0x01
FALLOC_PUNCH_HOLE = 0x02


def ctl(*args, check=True):
    r = subprocess.run([SHMEMCTL_BIN] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("shmemctl %s: %d %s" % (args, r.returncode,
                                                     r.stderr))
    return r


def stats(path):
    out = ctl("stats", path).stdout
    return {k: int(v) for k, v in
            (l.split(": ") for l in out.splitlines())}


def build_tree(root):
    """Every kind of object shmemfs keeps."""
    d = os.path.join(root, "dir")
    os.mkdir(d)
    os.chmod(d, 0o2775)
    os.mkdir(os.path.join(d, "sticky"))
    os.chmod(os.path.join(d, "sticky"), 0o1777)
    # A default ACL: what is created below inherits ACLs of its own.
    subprocess.run(["setfacl", "-d", "-m", "u:1234:rwx",
                    os.path.join(d, "sticky")], check=True)
    os.mkdir(os.path.join(d, "sticky", "deep"))
    f = os.path.join(d, "data")
    with open(f, "wb") as fh:
        fh.write(bytes(range(256)) * 80)           # 5 pages
        fh.seek(1 << 20)
        fh.write(b"after a hole")
        fallocate(fh.fileno(), FALLOC_KEEP_SIZE, 2 << 20, 3 * PAGE)
        fallocate(fh.fileno(), 0, 512 << 10, 2 * PAGE)
        fallocate(fh.fileno(), FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE,
                  PAGE, PAGE)
    os.link(f, os.path.join(d, "sticky", "hardlink"))
    with open(os.path.join(root, "suid"), "wb") as fh:
        fh.write(b"#!/bin/sh\n")
    os.chmod(os.path.join(root, "suid"), 0o6755)
    with open(os.path.join(root, "sparse"), "wb") as fh:
        fh.truncate(1 << 40)
    open(os.path.join(root, "empty"), "wb").close()
    os.chown(os.path.join(root, "empty"), 1234, 5678)
    os.mkfifo(os.path.join(d, "fifo"), 0o620)
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(d, "sock"))
    s.close()
    os.mknod(os.path.join(d, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(os.path.join(d, "loop"), 0o660 | stat.S_IFBLK, os.makedev(7, 0))
    os.symlink("data", os.path.join(d, "short"))
    os.symlink("x" * 3000, os.path.join(d, "long"))
    os.setxattr(f, "user.a", b"1")
    os.setxattr(f, "trusted.b", b"")
    os.setxattr(d, "security.c", b"y" * 3000)
    os.setxattr(root, "user.root", b"r")
    for i, p in enumerate(sorted(walk(root))):
        os.utime(p, ns=(1000000000 * (1000 + i) + 123456789 + i,
                        1000000000 * (2000 + i) + 987654321 - i),
                 follow_symlinks=False)
    # chattr flags, last (an immutable file takes no utime either).
    subprocess.run(["chattr", "+i", os.path.join(root, "suid")], check=True)
    subprocess.run(["chattr", "+d", d], check=True)


def inode_flags(path):
    """FS_IOC_GETFLAGS (chattr's flags)."""
    import array
    import fcntl
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = array.array("l", [0])
        fcntl.ioctl(fd, 0x80086601, buf)
        return buf[0]
    finally:
        os.close(fd)


def walk(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.append(os.path.join(dirpath, n))
    return out


def attrs(root):
    """Everything lstat says, and xattrs, per relative path: taken before
    any data is read (reading stamps atime)."""
    out = {}
    todo = [root]
    while todo:
        p = todo.pop(0)
        st = os.lstat(p)          # before listing it: readdir stamps atime
        if stat.S_ISDIR(st.st_mode):
            todo += [os.path.join(p, n) for n in sorted(os.listdir(p))]
        rel = os.path.relpath(p, root)
        out[rel] = dict(ino=st.st_ino, mode=st.st_mode, nlink=st.st_nlink,
                        uid=st.st_uid, gid=st.st_gid, size=st.st_size,
                        blocks=st.st_blocks, rdev=st.st_rdev,
                        atime=st.st_atime_ns, mtime=st.st_mtime_ns,
                        ctime=st.st_ctime_ns)
        if not stat.S_ISLNK(st.st_mode):
            out[rel]["xattrs"] = {
                n: os.getxattr(p, n) for n in sorted(os.listxattr(p))}
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            out[rel]["flags"] = inode_flags(p)
        if stat.S_ISLNK(st.st_mode):
            out[rel]["target"] = os.readlink(p)
    return out


def contents(root):
    """Data and every SEEK_DATA/SEEK_HOLE answer of each regular file."""
    out = {}
    for p in walk(root):
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode):
            continue
        fd = os.open(p, os.O_RDONLY)
        try:
            seeks = []
            for off in range(0, min(st.st_size, 4 << 20), PAGE):
                for whence in (os.SEEK_DATA, os.SEEK_HOLE):
                    try:
                        seeks.append(os.lseek(fd, off, whence))
                    except OSError as e:
                        seeks.append(-e.errno)
            data = os.pread(fd, min(st.st_size, 4 << 20), 0)
        finally:
            os.close(fd)
        out[os.path.relpath(p, root)] = (seeks, data)
    return out


def statvfs_of(path):
    v = os.statvfs(path)
    return (v.f_blocks, v.f_bfree, v.f_files, v.f_ffree, v.f_namemax)


def assert_same(a, b):
    aa, ba = attrs(a), attrs(b)
    assert sorted(aa) == sorted(ba)
    for k in aa:
        assert aa[k] == ba[k], k
    assert statvfs_of(a) == statvfs_of(b)
    assert contents(a) == contents(b)


def image_path(tmp_path, name="img"):
    return str(tmp_path / name)


@pytest.mark.needs_root
def test_save_restore_every_kind(mount, tmp_path):
    m1 = mount("size=64m,nr_inodes=1000")
    build_tree(m1.path)
    img = image_path(tmp_path)
    ctl("save", m1.path, img)
    st = os.stat(img)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert not [n for n in os.listdir(tmp_path) if n != "img"]
    m2 = mount("restore=" + img)
    assert_same(m1.path, m2.path)
    # The mount's options came with the image.
    s1, s2 = stats(m1.path), stats(m2.path)
    for k in ("size_limit_bytes", "inodes_limit", "used_bytes",
              "inodes_used"):
        assert s1[k] == s2[k], k
    # A command-line option applies over the image's.
    m3 = mount("restore=%s,size=128m" % img)
    assert stats(m3.path)["size_limit_bytes"] == 128 << 20
    # New files take new numbers, not restored ones.
    open(os.path.join(m2.path, "new"), "w").close()
    inos = {os.lstat(p).st_ino for p in walk(m2.path)}
    assert len(inos) == len({os.lstat(p).st_ino for p in walk(m1.path)}) + 1


def test_image_under_concurrent_writers(mount, tmp_path):
    """Each writer rewrites its whole file with one generation number in
    a single write(2); a renamer moves a file back and forth.  In the
    image every file is one generation, and the renamed file is under
    exactly one of its names."""
    m1 = mount("size=256m")
    size = 64 << 10
    nfiles = 4
    stop = threading.Event()
    errors = []

    def writer(i):
        p = os.path.join(m1.path, "w%d" % i)
        gen = 0
        try:
            fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
            while not stop.is_set():
                gen = (gen + 1) % 250
                os.pwrite(fd, bytes([gen + 1]) * size, 0)
            os.close(fd)
        except OSError as e:
            errors.append(e)

    def renamer():
        a = os.path.join(m1.path, "ra")
        b = os.path.join(m1.path, "rb")
        with open(a, "w") as fh:
            fh.write("moving")
        try:
            while not stop.is_set():
                os.rename(a, b)
                os.rename(b, a)
        except OSError as e:
            errors.append(e)

    for i in range(nfiles):
        with open(os.path.join(m1.path, "w%d" % i), "wb") as fh:
            fh.write(b"\1" * size)
    threads = [threading.Thread(target=writer, args=(i,))
               for i in range(nfiles)] + [threading.Thread(target=renamer)]
    for t in threads:
        t.start()
    imgs = []
    try:
        for k in range(3):
            time.sleep(0.2)
            img = image_path(tmp_path, "img%d" % k)
            ctl("save", m1.path, img)
            imgs.append(img)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    for img in imgs:
        m2 = mount("restore=" + img)
        names = set(os.listdir(m2.path))
        assert len(names & {"ra", "rb"}) == 1, names
        for i in range(nfiles):
            with open(os.path.join(m2.path, "w%d" % i), "rb") as fh:
                data = fh.read()
            assert len(data) == size
            assert data == data[:1] * size, "file w%d is half old" % i
        m2.finish()


def test_mostly_swapped(mount, tmp_path):
    """A mount whose pages are mostly in swap saves without swapping in,
    and restores into a small mem= by pushing pages out as they come."""
    swap1, swap2 = str(tmp_path / "swap1"), str(tmp_path / "swap2")
    m1 = mount("size=64m,mem=1m,swap=%s,swapsize=64m" % swap1)
    blob = os.urandom(PAGE) * 2
    with open(os.path.join(m1.path, "big"), "wb") as fh:
        for i in range(2048):                       # 16 MiB
            fh.write(i.to_bytes(4, "little") + blob[4:])
    deadline = time.monotonic() + 10
    while stats(m1.path)["resident_bytes"] > 2 << 20:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    before = stats(m1.path)
    assert before["swapped_bytes"] > 8 * before["resident_bytes"]
    img = image_path(tmp_path)
    ctl("save", m1.path, img)
    after = stats(m1.path)
    assert after["swapins"] == before["swapins"]
    # The image names the first mount's swap file; give the second its own.
    m2 = mount("restore=%s,swap=%s" % (img, swap2))
    s2 = stats(m2.path)
    assert s2["resident_bytes"] <= 2 << 20
    assert s2["swapped_bytes"] > 8 * s2["resident_bytes"]
    assert s2["used_bytes"] == before["used_bytes"]
    assert s2["swapouts"] >= before["swapouts"]
    assert_same(m1.path, m2.path)


def run_daemon(opts, timeout=20):
    """Run shmemfs -f expecting it to fail before mounting."""
    base, mp = make_mountpoint()
    try:
        r = subprocess.run([SHMEMFS_BIN, "-f", "-o", opts, mp],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        mounted = is_mounted(mp)
    finally:
        if is_mounted(mp):
            subprocess.run(["fusermount3", "-u", mp])
        os.rmdir(mp)
        os.rmdir(base)
    return r, mounted


def flip(path, off):
    with open(path, "r+b") as fh:
        fh.seek(off)
        c = fh.read(1)
        fh.seek(off)
        fh.write(bytes([c[0] ^ 0x10]))


def test_damaged_images_refused(mount, tmp_path):
    m1 = mount("size=16m")
    build_tree_small(m1.path)
    img = image_path(tmp_path)
    ctl("save", m1.path, img)
    size = os.path.getsize(img)

    flip(img, size // 2)
    r, mounted = run_daemon("restore=" + img)
    assert r.returncode == 1 and not mounted
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "checksum mismatch" in lines[0] and "block" in lines[0]
    assert img in lines[0]
    flip(img, size // 2)

    os.truncate(img, size - 100)
    r, mounted = run_daemon("restore=" + img)
    assert r.returncode == 1 and not mounted
    assert len(r.stderr.strip().splitlines()) == 1
    assert "truncated" in r.stderr

    r, mounted = run_daemon("restore=" + str(tmp_path / "missing"))
    assert r.returncode == 1 and not mounted
    assert "No such file" in r.stderr

    with open(img, "wb") as fh:
        fh.write(b"not an image or an archive at all\n")
    r, mounted = run_daemon("restore=" + img)
    assert r.returncode == 1 and not mounted
    assert len(r.stderr.strip().splitlines()) == 1


def build_tree_small(root):
    os.mkdir(os.path.join(root, "d"))
    with open(os.path.join(root, "d", "f"), "wb") as fh:
        fh.write(os.urandom(3 * PAGE + 5))
    os.symlink("f", os.path.join(root, "d", "l"))


def test_sealed_image(mount, tmp_path):
    key, other = str(tmp_path / "key"), str(tmp_path / "other")
    with open(key, "wb") as fh:
        fh.write(os.urandom(32))
    with open(other, "wb") as fh:
        fh.write(os.urandom(32))
    m1 = mount("size=16m")
    build_tree_small(m1.path)
    secret = b"very secret contents"
    with open(os.path.join(m1.path, "secret"), "wb") as fh:
        fh.write(secret)
    img = image_path(tmp_path)
    ctl("save", m1.path, img, "--key", key)
    with open(img, "rb") as fh:
        assert secret not in fh.read()

    r, mounted = run_daemon("restore=" + img)
    assert r.returncode == 1 and not mounted
    assert "sealed" in r.stderr and "restore_key" in r.stderr
    r, mounted = run_daemon("restore=%s,restore_key=%s" % (img, other))
    assert r.returncode == 1 and not mounted
    assert "wrong key" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    m2 = mount("restore=%s,restore_key=%s" % (img, key))
    assert_same(m1.path, m2.path)

    with open(str(tmp_path / "short"), "wb") as fh:
        fh.write(b"abc")
    r = ctl("save", m1.path, img + "2", "--key", str(tmp_path / "short"),
            check=False)
    assert r.returncode == 1 and "too short" in r.stderr
    assert not os.path.exists(img + "2")


def test_persist(mount, tmp_path):
    img = image_path(tmp_path)
    m1 = mount("size=16m,persist=" + img)
    assert not os.path.exists(img)
    build_tree_small(m1.path)
    before = attrs(m1.path)
    assert m1.finish() == []
    assert stat.S_IMODE(os.stat(img).st_mode) == 0o600
    m2 = mount("persist=" + img)
    after = attrs(m2.path)
    # attrs() itself read the tree (readdir, readlink stamp atime)
    for a in list(before.values()) + list(after.values()):
        del a["atime"]
    assert before == after
    with open(os.path.join(m2.path, "more"), "w") as fh:
        fh.write("second life")
    assert m2.finish() == []
    m3 = mount("restore=" + img)
    with open(os.path.join(m3.path, "more")) as fh:
        assert fh.read() == "second life"


def test_save_needs_privilege(mount, tmp_path):
    m = mount("size=16m")
    base, sub = make_mountpoint("shmemfs-snap-")
    os.chmod(sub, 0o777)
    img = os.path.join(sub, "img")

    def attempt():
        r = subprocess.run([SHMEMCTL_BIN, "save", m.path, img],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        return r.returncode, r.stderr

    try:
        rc, err = run_as(NOBODY, NOBODY, attempt)
        assert rc == 1 and "Operation not permitted" in err, err
        assert not os.listdir(sub)
    finally:
        os.rmdir(sub)
        os.rmdir(base)


def test_save_into_the_mount_refused(mount):
    m = mount("size=16m")
    r = ctl("save", m.path, os.path.join(m.path, "img"), check=False)
    assert r.returncode == 1 and "mount itself" in r.stderr
    assert not os.listdir(m.path)


def test_save_usage(mount):
    r = ctl("save", check=False)
    assert r.returncode == 2
    m = mount("size=16m")
    r = ctl("save", m.path, check=False)
    assert r.returncode == 2 and "missing FILE" in r.stderr
    r = ctl("save", m.path, "/nonexistent-dir/img", check=False)
    assert r.returncode == 1 and "nonexistent-dir" in r.stderr


def test_kill9_enotconn_and_persist(mount, tmp_path):
    """kill -9: the mount answers ENOTCONN, shmemctl says what happened,
    fusermount3 -u cleans up, and persist='s last saved image (here taken
    by shmemctl save, as a timer would) mounts again; what came after
    the last save is lost, as the README's failure table says."""
    img = image_path(tmp_path)
    m = mount("size=16m,persist=" + img, expect_exit=-9)
    with open("/proc/%d/oom_score_adj" % m.proc.pid) as fh:
        assert fh.read().strip() == ("-1000" if has_sys_resource() else "0")
    with open(os.path.join(m.path, "saved"), "w") as fh:
        fh.write("kept")
    ctl("save", m.path, img)
    with open(os.path.join(m.path, "unsaved"), "w") as fh:
        fh.write("lost")
    os.kill(m.proc.pid, 9)
    m.proc.wait(timeout=10)
    with pytest.raises(OSError) as e:
        os.stat(m.path)
    # ECONNABORTED when the connection had io_uring queues
    assert e.value.errno in (errno.ENOTCONN, errno.ECONNABORTED)
    r = ctl("stats", m.path, check=False)
    assert r.returncode == 1
    assert "daemon died" in r.stderr and "fusermount3 -u" in r.stderr
    subprocess.run(["fusermount3", "-u", m.path], check=True)
    assert not is_mounted(m.path)
    m2 = mount("persist=" + img)
    assert sorted(os.listdir(m2.path)) == ["saved"]


def has_sys_resource():
    """CAP_SYS_RESOURCE (24) in our effective set: needed to lower
    oom_score_adj (containers often drop it, even for root)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def test_oom_protection_or_warning_on_terminal():
    """With CAP_SYS_RESOURCE the daemon sets oom_score_adj -1000 and says
    nothing; without, started from a terminal, it says it cannot."""
    import pty
    base, mp = make_mountpoint()
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([SHMEMFS_BIN, "-f", mp], stdin=subprocess.DEVNULL,
                             stdout=slave, stderr=slave,
                             start_new_session=True)
        os.close(slave)
        deadline = time.monotonic() + 10
        while not is_mounted(mp):
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        with open("/proc/%d/oom_score_adj" % p.pid) as fh:
            adj = fh.read().strip()
        subprocess.run(["fusermount3", "-u", mp], check=True)
        assert p.wait(timeout=10) == 0
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        out = out.decode(errors="replace")
        if has_sys_resource():
            assert adj == "-1000" and "OOM" not in out
        else:
            assert adj == "0"
            assert "cannot protect the daemon from the OOM killer" in out
    finally:
        os.close(master)
        if is_mounted(mp):
            subprocess.run(["fusermount3", "-u", mp])
        os.rmdir(mp)
        os.rmdir(base)


# ---- pax archives -------------------------------------------------------

def tar_attrs(root):
    """What a tar archive keeps: no inode numbers, ctime, atime or chattr
    flags."""
    out = attrs(root)
    for a in out.values():
        for k in ("ino", "ctime", "atime", "flags"):
            a.pop(k, None)
    return out


@pytest.mark.needs_root
def test_export_and_restore_pax(mount, tmp_path):
    import tarfile
    m1 = mount("size=64m,nr_inodes=1000")
    build_tree(m1.path)
    tar = str(tmp_path / "tree.tar")
    t0 = time.monotonic()
    ctl("export", m1.path, tar)
    assert time.monotonic() - t0 < 60
    assert stat.S_IMODE(os.stat(tar).st_mode) == 0o600
    with tarfile.open(tar) as tf:
        names = set(tf.getnames())
    assert "dir/data" in names and "dir/sticky/hardlink" in names
    assert "dir/sock" not in names          # tar has no sockets
    assert os.path.getsize(tar) < 1 << 20   # the 1 TiB file is a sparse map
    r = subprocess.run(["tar", "-tvf", tar], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr

    os.unlink(os.path.join(m1.path, "dir", "sock"))
    m2 = mount("size=64m,restore=" + tar)
    a1, a2 = tar_attrs(m1.path), tar_attrs(m2.path)
    assert sorted(a1) == sorted(a2)
    for k in a1:
        if k in ("dir", "dir/data", "dir/sticky/hardlink"):
            # one fewer entry (the socket); fallocated pages became holes
            a1[k].pop("blocks"), a2[k].pop("blocks")
            a1[k].pop("size") if k == "dir" else None
            a2[k].pop("size") if k == "dir" else None
            if k == "dir":
                a1[k].pop("mtime"), a2[k].pop("mtime")
        assert a1[k] == a2[k], k
    c1, c2 = contents(m1.path), contents(m2.path)
    for k in c1:
        assert c1[k][1] == c2[k][1], k            # the data
    assert c1["sparse"] == c2["sparse"]           # holes where they were
    assert os.lstat(os.path.join(m2.path, "sparse")).st_blocks == 0


def test_restore_from_gnu_tar(mount, tmp_path):
    src = tmp_path / "src"
    os.makedirs(str(src / "a" / "b"))
    with open(str(src / "a" / "f"), "wb") as fh:
        fh.write(b"hello")
    with open(str(src / "a" / "b" / "sparse"), "wb") as fh:
        fh.seek(10 << 20)
        fh.write(b"end")
    os.symlink("f", str(src / "a" / "l"))
    os.chmod(str(src / "a"), 0o750)
    os.utime(str(src / "a" / "f"), ns=(1, 1234567891))
    tar = str(tmp_path / "src.tar.gz")
    subprocess.run(["tar", "--format=pax", "--sparse", "-czf", tar, "-C",
                    str(src), "."], check=True)
    m = mount("restore=" + tar)
    r = m.path
    with open(os.path.join(r, "a", "f"), "rb") as fh:
        assert fh.read() == b"hello"
    st = os.lstat(os.path.join(r, "a", "f"))
    assert st.st_mtime_ns == 1234567891
    assert stat.S_IMODE(os.lstat(os.path.join(r, "a")).st_mode) == 0o750
    assert os.readlink(os.path.join(r, "a", "l")) == "f"
    sp = os.path.join(r, "a", "b", "sparse")
    assert os.path.getsize(sp) == (10 << 20) + 3
    assert os.lstat(sp).st_blocks <= 8 * 2
    with open(sp, "rb") as fh:
        fh.seek(10 << 20)
        assert fh.read() == b"end"


def test_unsafe_tar_refused(tmp_path):
    import io
    import tarfile
    tar = str(tmp_path / "evil.tar")
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("ok")
        tf.addfile(info, io.BytesIO(b""))
        info = tarfile.TarInfo("../evil")
        tf.addfile(info, io.BytesIO(b""))
    r, mounted = run_daemon("restore=" + tar)
    assert r.returncode == 1 and not mounted
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'..'" in lines[0] and "evil" in lines[0]


def test_export_usage(mount, tmp_path):
    m = mount("size=16m")
    r = ctl("export", m.path, os.path.join(m.path, "x.tar"), check=False)
    assert r.returncode == 1 and "mount itself" in r.stderr
    r = ctl("export", m.path, str(tmp_path / "x.tar"), "--key", "k",
            check=False)
    assert r.returncode == 2


# ---- live restart -------------------------------------------------------

def mount_id(path):
    """The mount's id in /proc/self/mountinfo (a new mount gets a new
    one), read without touching the filesystem."""
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            f = line.split()
            if f[4] == path:
                found = f[0]
    return found


def daemons_of(path):
    from conftest import pids_with_arg
    return sorted(pids_with_arg(path))


def wait_gone(pids):
    from conftest import wait_for

    def gone():
        return not any(os.path.exists("/proc/%d" % p) and
                       open("/proc/%d/stat" % p).read().split()[2] != "Z"
                       for p in pids)
    assert wait_for(gone, 10), "daemons %s still running" % pids


restart_skip = pytest.mark.skipif(
    bool(os.environ.get("SHMEMFS_WRAPPER")),
    reason="a restart re-executes /proc/self/exe, the wrapper's binary")


@restart_skip
@pytest.mark.parametrize("opts", ["size=64m,nouring",
                                  "size=64m,mem=1m,swap={swap},nouring",
                                  "size=64m,-s"])
def test_restart_keeps_open_files(mount, tmp_path, opts):
    """A program holds files open across `shmemctl restart` and goes on
    reading and writing them: same mount (no unmount between), same
    inode numbers, an unlinked-but-open file too, new daemon."""
    single = opts.endswith(",-s")
    opts = opts.replace(",-s", "").format(swap=str(tmp_path / "swap"))
    m = mount(opts)
    if single:
        m.proc.kill()   # remount single-threaded: -s is an argument
        m.proc.wait()
        subprocess.run(["fusermount3", "-u", m.path])
        m.proc = subprocess.Popen([SHMEMFS_BIN, "-s", "-f", "-o", opts,
                                   m.path], stdout=m.log_file,
                                  stderr=subprocess.STDOUT,
                                  start_new_session=True)
        deadline = time.monotonic() + 10
        while not is_mounted(m.path):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    p = os.path.join(m.path, "held")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o640)
    gone = os.open(os.path.join(m.path, "gone"), os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"before restart;")
        os.write(gone, b"unlinked but open")
        os.unlink(os.path.join(m.path, "gone"))
        os.mkdir(os.path.join(m.path, "d"))
        big = os.urandom(1 << 20) * 4
        with open(os.path.join(m.path, "d", "big"), "wb") as fh:
            fh.write(big)
        ino = os.fstat(fd).st_ino
        before_id = mount_id(m.path)
        old = daemons_of(m.path)
        assert len(old) == 1

        r = ctl("restart", m.path)
        assert r.stderr == ""
        assert m.proc.wait(timeout=10) == 0     # the old daemon is gone
        new = daemons_of(m.path)
        assert len(new) == 1 and new != old
        assert mount_id(m.path) == before_id    # the same mount

        os.write(fd, b" after restart")
        assert os.pread(fd, 100, 0) == b"before restart; after restart"
        assert os.fstat(fd).st_ino == ino
        assert os.stat(p).st_ino == ino
        assert os.pread(gone, 100, 0) == b"unlinked but open"
        with open(os.path.join(m.path, "d", "big"), "rb") as fh:
            assert fh.read() == big
        # And once more: the new daemon restarts as well.
        ctl("restart", m.path)
        os.write(fd, b"!")
        assert os.pread(fd, 100, 0) == b"before restart; after restart!"
        last = daemons_of(m.path)
        assert len(last) == 1 and last != new
    finally:
        os.close(fd)
        os.close(gone)
    # The unlinked file's space comes back when it is closed.
    from conftest import wait_for
    assert wait_for(lambda: stats(m.path)["used_bytes"] <= (4 << 20) + PAGE)
    pids = daemons_of(m.path)
    assert m.finish() == []
    wait_gone(pids)


@restart_skip
def test_failed_restart_leaves_old_daemon(mount, tmp_path):
    """A handover that fails (the binary at the daemon's path cannot run)
    leaves the old daemon serving, data intact; after the binary is back
    (a "new" one), the restart goes through."""
    import shutil
    exe = str(tmp_path / "shmemfs")
    shutil.copy(SHMEMFS_BIN, exe)
    base, mp = make_mountpoint()
    log = open(str(tmp_path / "log"), "wb")
    proc = subprocess.Popen([exe, "-f", "-o", "size=16m,nouring", mp],
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not is_mounted(mp):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        fd = os.open(os.path.join(mp, "f"), os.O_RDWR | os.O_CREAT)
        os.write(fd, b"one")
        broken = str(tmp_path / "broken")
        with open(broken, "w") as fh:
            fh.write("#!/bin/sh\nexit 3\n")
        os.chmod(broken, 0o755)
        os.replace(broken, exe)
        r = ctl("restart", mp, check=False)
        assert r.returncode == 1 and "serves on" in r.stderr, r.stderr
        assert proc.poll() is None
        os.write(fd, b" two")
        assert os.pread(fd, 100, 0) == b"one two"
        shutil.copy(SHMEMFS_BIN, str(tmp_path / "new"))
        os.replace(str(tmp_path / "new"), exe)
        ctl("restart", mp)
        assert proc.wait(timeout=10) == 0
        os.write(fd, b" three")
        assert os.pread(fd, 100, 0) == b"one two three"
        os.close(fd)
    finally:
        pids = daemons_of(mp)
        subprocess.run(["fusermount3", "-u", mp])
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        wait_gone(pids)
        os.rmdir(mp)
        os.rmdir(base)
        log.close()
    with open(str(tmp_path / "log")) as fh:
        out = fh.read()
    assert "Sanitizer" not in out and "runtime error" not in out, out


def test_restart_needs_privilege(mount):
    m = mount("size=16m")

    def attempt():
        r = subprocess.run([SHMEMCTL_BIN, "restart", m.path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        return r.returncode, r.stderr
    rc, err = run_as(NOBODY, NOBODY, attempt)
    assert rc == 1 and "Operation not permitted" in err, err


@restart_skip
def test_restart_failing_after_state_taken_back(mount, tmp_path):
    """The new daemon fails after the old one has destroyed its mount
    (SHMEMFS_TEST_HANDOVER_FAIL): the old one restores the same state
    and serves on, open files and all."""
    os.environ["SHMEMFS_TEST_HANDOVER_FAIL"] = "1"
    try:
        m = mount("size=64m,mem=1m,swap=%s,nouring" % (tmp_path / "swap"),
                  allowed_stderr=[r"^shmemfs: handover: failing"])
    finally:
        del os.environ["SHMEMFS_TEST_HANDOVER_FAIL"]
    fd = os.open(os.path.join(m.path, "f"), os.O_RDWR | os.O_CREAT)
    gone = os.open(os.path.join(m.path, "g"), os.O_RDWR | os.O_CREAT)
    try:
        data = os.urandom(4 << 20)
        os.write(fd, data)
        os.write(gone, b"orphan")
        os.unlink(os.path.join(m.path, "g"))
        ino = os.fstat(fd).st_ino
        r = ctl("restart", m.path, check=False)
        assert r.returncode == 1 and "serves on" in r.stderr
        assert m.proc.poll() is None
        assert os.pread(fd, len(data), 0) == data
        assert os.fstat(fd).st_ino == ino
        assert os.pread(gone, 10, 0) == b"orphan"
        os.write(fd, b"more")
        assert daemons_of(m.path) == [m.proc.pid]
    finally:
        os.close(fd)
        os.close(gone)


def test_restart_on_uring_refused(mount):
    """The io_uring transport cannot stop between requests: restart says
    so and the daemon serves on."""
    m = mount("size=16m,uring", allowed_stderr=[r"io_uring"])
    if stats(m.path).get("uring_queues", 0) == 0:
        pytest.skip("this kernel does not offer FUSE over io_uring")
    with open(os.path.join(m.path, "f"), "w") as fh:
        fh.write("x")
    r = ctl("restart", m.path, check=False)
    assert r.returncode == 1 and "nouring" in r.stderr, r.stderr
    assert m.proc.poll() is None
    with open(os.path.join(m.path, "f")) as fh:
        assert fh.read() == "x"


@restart_skip
def test_restart_refused_with_sysv_segments(mount):
    """SysV segments live in the daemon's IPC table, which images do not
    hold: restart refuses (EBUSY) and the segment stays; once it is
    removed, the restart goes through."""
    shm = os.path.join(os.path.dirname(SHMEMFS_BIN), "shmemfs-shm")
    if not os.access(shm, os.X_OK):
        pytest.skip("shmemfs-shm is not built")
    m = mount("size=16m,nouring")
    subprocess.run([shm, m.path, "/usr/bin/python3", "-c",
                    "import ctypes; l = ctypes.CDLL(None); "
                    "assert l.shmget(4321, 4096, 0o1600) >= 0"], check=True)
    r = ctl("restart", m.path, check=False)
    assert r.returncode == 1 and "SysV" in r.stderr, r.stderr
    assert m.proc.poll() is None
    assert "0x000010e1" in ctl("ipcs", m.path).stdout
    ctl("ipcrm", m.path, "-M", "4321")
    ctl("restart", m.path)
    assert m.proc.wait(timeout=10) == 0
    pids = daemons_of(m.path)
    assert m.finish() == []
    wait_gone(pids)
