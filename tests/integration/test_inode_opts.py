# SPDX-License-Identifier: MIT
"""inode32/inode64 and mpol=, against a kernel tmpfs mounted here: the
same options accepted or refused, inode numbers within 32 bits under
inode32, and mpol= accepted with one line of warning (we cannot place
pages by NUMA policy).  The wrap past 2^32 is a unit test
(test_parity.c: creating four billion inodes here would take hours)."""

import os
import subprocess

import pytest

from conftest import is_mounted
from oracle import mount_tmpfs, umount_tmpfs
from test_daemon import mountpoint, run_daemon  # noqa: F401 (fixture)

MPOL_WARNING = r"warning: mpol= ignored"


def tmpfs_accepts(opts):
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a kernel tmpfs)")
    try:
        d = mount_tmpfs(opts)
    except RuntimeError:
        return False
    umount_tmpfs(d)
    return True


@pytest.mark.parametrize("opt", ["inode32", "inode64", "inode32,inode64"])
def test_inode_width_numbers(mount, opt):
    assert tmpfs_accepts(opt)
    m = mount(opt)
    inos = []
    for i in range(20):
        p = os.path.join(m.path, "f%d" % i)
        open(p, "w").close()
        inos.append(os.stat(p).st_ino)
    assert all(0 < i < 2**32 for i in inos)
    assert len(set(inos)) == len(inos)


@pytest.mark.parametrize("opt", ["mpol=local", "mpol=interleave:0",
                                 "mpol=prefer=static:0", "mpol=default"])
def test_mpol_accepted_with_warning(mount, opt):
    assert tmpfs_accepts(opt)
    m = mount(opt, allowed_stderr=[MPOL_WARNING])
    open(os.path.join(m.path, "f"), "w").close()
    lines = [l for l in m.log().splitlines() if l.strip()]
    assert len(lines) == 1 and "mpol=" in lines[0]


@pytest.mark.shmemfs_only
@pytest.mark.parametrize("opt", ["mpol=bogus", "mpol=bind", "mpol=bind:999",
                                 "mpol=local:0", "inode32=1"])
def test_refused_as_tmpfs_refuses(mountpoint, opt):  # noqa: F811
    assert not tmpfs_accepts(opt)
    rc, lines = run_daemon(["-f", "-o", opt, mountpoint])
    assert rc == 1 and len(lines) == 1, lines
    assert opt.split("=")[0] in lines[0]
    assert not is_mounted(mountpoint)


def test_host_default_detection_premise():
    """The daemon takes the host's tmpfs default (CONFIG_TMPFS_INODE64)
    from how the kernel shows tmpfs mounts (options.c,
    opt_host_inode64()): a fresh tmpfs shows inode64 exactly when the
    config is on.  Check that premise against /proc/config.gz where the
    kernel has one (this machine's: off, so the default is inode32)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a kernel tmpfs)")
    cfg = subprocess.run(["zcat", "/proc/config.gz"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    if cfg.returncode:
        pytest.skip("no /proc/config.gz to check against")
    d = mount_tmpfs("size=1m")
    try:
        with open("/proc/self/mountinfo") as f:
            line = [l for l in f if (" %s " % d) in l][0]
    finally:
        umount_tmpfs(d)
    shown64 = ",inode64" in line.rsplit(" ", 1)[1]
    assert shown64 == (b"CONFIG_TMPFS_INODE64=y" in cfg.stdout)
