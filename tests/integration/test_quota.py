# SPDX-License-Identifier: MIT
"""Quotas as tmpfs 6.6+ has them (usrquota, grpquota, the default hard
limits, EDQUOT, chown moving the charge), driven as another user (uid
65534), and shmemctl quota.

This machine's kernel is built without tmpfs quotas (CONFIG_TMPFS_QUOTA
unset: test_kernel_tmpfs_lacks_quotas shows it), so there is no kernel
tmpfs to compare with: the expectations follow the kernel's
Documentation/filesystems/tmpfs.rst and dquot's rules (hard limits,
EDQUOT, defaults for every id but root, CAP_SYS_RESOURCE not bound by
them)."""

import errno
import json
import os

import pytest

from conftest import (NOBODY, errno_of, run_as, run_shmemctl as shmemctl,
                      wait_for)
from oracle import mount_tmpfs, umount_tmpfs

pytestmark = pytest.mark.shmemfs_only

PAGE = 4096


def quota(path, user=None):
    r = shmemctl("quota", path, "--json", user=user)
    assert r.returncode == 0, r.stderr
    q = json.loads(r.stdout)
    return dict(((t, e["id"]), e) for t in q for e in q[t])


def has_cap_sys_resource():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def test_kernel_tmpfs_lacks_quotas():
    """Why these tests have no kernel oracle."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a kernel tmpfs)")
    try:
        d = mount_tmpfs("usrquota")
    except RuntimeError:
        return
    umount_tmpfs(d)
    pytest.skip("this kernel's tmpfs has quotas: compare with it")


def write_as_nobody(path, nbytes):
    """Write @nbytes as uid 65534; (bytes written, errno or 0)."""
    def go():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        done, err = 0, 0
        try:
            while done < nbytes:
                n = os.write(fd, b"q" * min(PAGE, nbytes - done))
                done += n
        except OSError as e:
            err = e.errno
        finally:
            os.close(fd)
        return done, err
    return run_as(NOBODY, NOBODY, go)


@pytest.mark.parametrize("mnt", ["usrquota,usrquota_block_hardlimit=40k,"
                                 "usrquota_inode_hardlimit=4"],
                         indirect=True)
def test_user_limits_edquot(mnt):
    os.chmod(mnt, 0o1777)
    f = os.path.join(mnt, "big")
    # 10 pages of room: the 11th page fails, the write is short
    done, err = write_as_nobody(f, 16 * PAGE)
    assert (done, err) == (10 * PAGE, errno.EDQUOT)
    q = quota(mnt)
    assert q[("user", NOBODY)]["used_bytes"] == 10 * PAGE
    assert q[("user", NOBODY)]["block_limit_bytes"] == 40 * 1024
    # inodes: "big" is one, three more fit, the fifth does not
    for n in ("a", "b"):
        run_as(NOBODY, NOBODY, lambda p: open(p, "w").close(),
               os.path.join(mnt, n))
    run_as(NOBODY, NOBODY, os.mkdir, os.path.join(mnt, "d"))
    assert errno_of(run_as, NOBODY, NOBODY, os.symlink, "x",
                    os.path.join(mnt, "l")) == errno.EDQUOT
    assert errno_of(run_as, NOBODY, NOBODY, os.mkfifo,
                    os.path.join(mnt, "p")) == errno.EDQUOT
    assert quota(mnt)[("user", NOBODY)]["inodes"] == 4
    # freeing gives room back; root (id 0) has no default limits
    run_as(NOBODY, NOBODY, os.unlink, os.path.join(mnt, "big"))
    # the close's RELEASE may reach the daemon after the unlink
    assert wait_for(lambda: quota(mnt)[("user", NOBODY)]["used_bytes"] == 0)
    run_as(NOBODY, NOBODY, os.symlink, "x", os.path.join(mnt, "l"))
    for i in range(10):
        open(os.path.join(mnt, "root%d" % i), "w").close()
    assert quota(mnt)[("user", 0)]["inode_limit"] == 0


@pytest.mark.parametrize("mnt", ["grpquota"], indirect=True)
def test_group_limit_set_and_edquot(mnt):
    os.chmod(mnt, 0o1777)
    assert shmemctl("quota", mnt, "set", "group", str(NOBODY),
                    "blocks=8", "inodes=3").returncode == 0
    done, err = write_as_nobody(os.path.join(mnt, "f"), 4 * PAGE)
    assert (done, err) == (2 * PAGE, errno.EDQUOT)
    q = quota(mnt)
    assert ("user", NOBODY) not in q          # usrquota is off
    assert q[("group", NOBODY)]["block_limit_bytes"] == 8192
    # user quotas off: setting one is refused
    r = shmemctl("quota", mnt, "set", "user", "5", "blocks=1")
    assert r.returncode == 1 and "usrquota" in r.stderr


@pytest.mark.parametrize("mnt", ["usrquota,usrquota_block_hardlimit=16k"],
                         indirect=True)
def test_chown_moves_charge(mnt):
    f = os.path.join(mnt, "f")
    with open(f, "wb") as fh:
        fh.write(b"x" * 3 * PAGE)
    assert quota(mnt)[("user", 0)]["used_bytes"] == 3 * PAGE
    os.chown(f, NOBODY, -1)
    q = quota(mnt)
    assert q[("user", 0)]["used_bytes"] == 0
    assert q[("user", NOBODY)]["used_bytes"] == 3 * PAGE
    assert q[("user", NOBODY)]["inodes"] == 1
    # a new owner without room: EDQUOT, unless the caller has
    # CAP_SYS_RESOURCE (dquot's ignore_hardlimit())
    with open(os.path.join(mnt, "g"), "wb") as fh:
        fh.write(b"x" * 5 * PAGE)
    e = errno_of(os.chown, os.path.join(mnt, "g"), NOBODY, -1)
    if has_cap_sys_resource():
        assert e == 0
    else:
        assert e == errno.EDQUOT
        assert os.stat(os.path.join(mnt, "g")).st_uid == 0
        assert quota(mnt)[("user", NOBODY)]["used_bytes"] == 3 * PAGE


@pytest.mark.parametrize("mnt", ["usrquota,grpquota"], indirect=True)
def test_quota_permissions(mnt):
    os.chmod(mnt, 0o1777)
    write_as_nobody(os.path.join(mnt, "mine"), PAGE)
    open(os.path.join(mnt, "roots"), "w").close()
    # anyone sees their own usage only, and may not set limits
    q = quota(mnt, user=NOBODY)
    assert set(q) == {("user", NOBODY), ("group", NOBODY)}
    r = shmemctl("quota", mnt, "set", "user", str(NOBODY), "blocks=1000000",
                 user=NOBODY)
    assert r.returncode == 1 and "not permitted" in r.stderr
    assert ("user", 0) in quota(mnt)


def test_quota_options_refused_on_remount_and_when_bad(mount):
    m = mount("usrquota,usrquota_block_hardlimit=1m")
    for o, why in (("grpquota", "Cannot enable quota on remount"),
                   ("usrquota_block_hardlimit=2m",
                    "Cannot change global quota limit")):
        r = shmemctl("remount", m.path, o)
        assert r.returncode == 1 and why in r.stderr
    assert shmemctl("remount", m.path,
                    "usrquota,usrquota_block_hardlimit=1m").returncode == 0
    r = shmemctl("quota", mount("size=1m").path)
    assert r.returncode == 1 and "no quotas" in r.stderr
