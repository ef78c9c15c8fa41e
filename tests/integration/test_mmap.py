# SPDX-License-Identifier: MIT
"""Memory mappings of files: MAP_SHARED coherence between processes and
with read()/write(), MAP_PRIVATE copy-on-write."""

import mmap
import os

import pytest

P = mmap.PAGESIZE


@pytest.fixture
def path(mnt):
    p = os.path.join(mnt, "mapped")
    with open(p, "wb") as f:
        f.truncate(4 * P)
    return p


def _wait(fd):
    b = os.read(fd, 1)
    assert b == b"!", "peer process failed"


def test_shared_mapping_two_processes(path):
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            fd = os.open(path, os.O_RDWR)
            m = mmap.mmap(fd, 4 * P, mmap.MAP_SHARED,
                          mmap.PROT_READ | mmap.PROT_WRITE)
            m[0:5] = b"child"
            os.write(to_parent_w, b"!")
            _wait(to_child_r)
            ok = m[P:P + 6] == b"parent" and m[2 * P:2 * P + 5] == b"wrote"
            m.close()
            os.close(fd)
        finally:
            os.write(to_parent_w, b"!" if ok else b"x")
            os._exit(0 if ok else 1)
    os.close(to_child_r)
    os.close(to_parent_w)
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 4 * P, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    status = None
    try:
        _wait(to_parent_r)
        assert m[0:5] == b"child"           # the child's store, no msync
        m[P:P + 6] = b"parent"
        os.pwrite(fd, b"wrote", 2 * P)      # write() shows in mappings
        os.write(to_child_w, b"!")
        _wait(to_parent_r)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        m.flush()
        # read() sees every store after msync
        assert os.pread(fd, 5, 0) == b"child"
        assert os.pread(fd, 6, P) == b"parent"
        assert os.pread(fd, 5, 2 * P) == b"wrote"
    finally:
        m.close()
        os.close(fd)
        os.close(to_child_w)            # an unfinished child sees EOF
        os.close(to_parent_r)
        if status is None:
            os.waitpid(pid, 0)
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) == 4 * P
    assert data[:5] == b"child" and data[P:P + 6] == b"parent"


def test_shared_store_persists_after_unmap(path):
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 4 * P)
    m[3 * P:3 * P + 4] = b"last"
    m.flush()
    m.close()
    os.close(fd)
    with open(path, "rb") as f:
        f.seek(3 * P)
        assert f.read(5) == b"last" + b"\0"
    st = os.stat(path)
    assert st.st_size == 4 * P
    assert st.st_blocks >= 8


def test_private_mapping_copy_on_write(path):
    with open(path, "r+b") as f:
        f.write(b"original")
    fd = os.open(path, os.O_RDWR)
    shared = mmap.mmap(fd, 4 * P, mmap.MAP_SHARED)
    priv = mmap.mmap(fd, 4 * P, mmap.MAP_PRIVATE,
                     mmap.PROT_READ | mmap.PROT_WRITE)
    try:
        assert priv[:8] == b"original"
        priv[:8] = b"changed!"
        priv[2 * P:2 * P + 3] = b"cow"
        priv.flush()
        assert priv[:8] == b"changed!"
        assert shared[:8] == b"original"
        assert os.pread(fd, 8, 0) == b"original"
        assert os.pread(fd, 3, 2 * P) == b"\0\0\0"
        # a write to the file is not seen in the copied page, but is seen
        # in pages the private mapping never wrote
        os.pwrite(fd, b"after", P)
        assert priv[P:P + 5] == b"after"
        assert priv[:8] == b"changed!"
    finally:
        priv.close()
        shared.close()
        os.close(fd)
    with open(path, "rb") as f:
        assert f.read(8) == b"original"


def test_mapping_of_unlinked_file(path):
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 4 * P)
    os.close(fd)
    os.unlink(path)
    m[:4] = b"anon"
    assert m[:4] == b"anon"
    m.close()


def test_readonly_mapping_of_readonly_fd(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(PermissionError):
            mmap.mmap(fd, P, mmap.MAP_SHARED,
                      mmap.PROT_READ | mmap.PROT_WRITE)
        m = mmap.mmap(fd, P, mmap.MAP_SHARED, mmap.PROT_READ)
        assert m[:4] == bytes(4)
        m.close()
    finally:
        os.close(fd)
