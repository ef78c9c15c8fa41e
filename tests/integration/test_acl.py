# SPDX-License-Identifier: MIT
"""POSIX ACLs, differentially: the same setfacl/getfacl/chmod/create
sequence, and the same accesses by another user (uid 65534), on a kernel
tmpfs mounted here (CONFIG_TMPFS_POSIX_ACL) and on the mount under test;
outputs and access decisions must be identical.  Then the checks a
differential run cannot make: malformed ACLs give EINVAL on both sides,
and an ACL equal to the mode is stored as the mode only."""

import os
import shutil
import struct

import pytest

from conftest import assert_scenario_matches_tmpfs, errno_of
from oracle import ktmpfs  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(
    not shutil.which("setfacl") or not shutil.which("setpriv"),
    reason="needs setfacl/getfacl (Debian acl) and setpriv")


# Each step: (as_nobody, shell command).  Output and exit status of each
# are compared; paths are relative to the mount root.
SCENARIO = [
    (0, "touch f; setfacl -m u:65534:rw,g:100:r f; getfacl -n f; "
        "stat -c '%A %a' f"),
    (1, "echo hi >> f; echo $?; cat f"),
    (0, "chmod 604 f; getfacl -n f; stat -c %a f"),
    (1, "echo again >> f; echo $?"),
    (0, "chmod 664 f; setfacl -x u:65534 f; getfacl -n f"),
    (0, "setfacl -m m::r f; getfacl -n f; stat -c %a f"),
    # an ACL equal to the mode: the ACL goes, the mode stays
    (0, "setfacl -b f; setfacl -m u::rwx,g::r-x,o::--- f; getfacl -n f; "
        "stat -c '%A' f; getfattr -m - -d f 2>&1 | grep -c posix_acl"),
    # default ACL: inherited by files and directories, umask not applied
    (0, "mkdir d; chmod 755 d; setfacl -d -m u:65534:rwx,g::rx,o::- d; "
        "getfacl -n d"),
    (0, "umask 077; touch d/f; mkdir d/s; mknod d/p p; ln -s f d/l; "
        "getfacl -n d/f d/s d/p; stat -c '%n %A' d/f d/s d/p"),
    (0, "setfacl -m u:65534:rwx d"),
    (1, "touch d/byother; echo $?; echo x > d/f; echo $?; ls d"),
    (0, "getfacl -n d/byother; mkdir d/s/t; getfacl -n d/s/t"),
    # no default ACL: the umask applies as usual
    (0, "mkdir e; umask 027; touch e/f; mkdir e/s; stat -c '%n %a' e/f e/s"),
    # default ACL only on directories
    (0, "setfacl -d -m u::rwx f; echo $?; setfacl -k d; getfacl -n d"),
    (0, "umask 022; touch d/after; getfacl -n d/after"),
    # the owner may set ACLs, others may not
    (1, "setfacl -m u:65534:rwx f; echo $?"),
    (0, "chown 65534 f; chmod 2775 f; chgrp 1234 f; stat -c %a f"),
    # owner not in the file's group: S_ISGID goes with the ACL change
    (1, "setfacl -m u::rwx,g:7:r f; echo $?; stat -c %a f; getfacl -n f"),
    (0, "chmod 2775 f; setfacl -m g:8:r f; stat -c %a f"),
    (0, "mkdir g; chgrp 65534 g; chmod 2775 g; chown 65534 g"),
    (1, "setfacl -m o::r g; stat -c %a g"),
    # rmdir/unlink and listing with ACLs present
    (0, "getfattr -m - d 2>&1; ls -l f | cut -c1-11"),
    (1, "rm -f d/byother; echo $?"),
]


def test_acl_scenario_matches_tmpfs(mnt, ktmpfs):
    assert_scenario_matches_tmpfs(mnt, ktmpfs, SCENARIO)


def acl_xattr(*entries, version=2):
    return struct.pack("<I", version) + b"".join(
        struct.pack("<HHI", t, p, i) for t, p, i in entries)


UOBJ, USER, GOBJ, GROUP, MASK, OTHER = 1, 2, 4, 8, 0x10, 0x20
MALFORMED = {
    "no entries but junk": b"\x02\x00\x00\x00\x01",
    "no other": acl_xattr((UOBJ, 6, 0), (GOBJ, 4, 0)),
    "no mask with user": acl_xattr((UOBJ, 6, 0), (USER, 6, 5), (GOBJ, 4, 0),
                                   (OTHER, 4, 0)),
    "undefined uid": acl_xattr((UOBJ, 6, 0), (USER, 6, 0xffffffff),
                               (GOBJ, 4, 0), (MASK, 6, 0), (OTHER, 4, 0)),
    "group before user": acl_xattr((UOBJ, 6, 0), (GOBJ, 4, 0), (USER, 6, 5),
                                   (MASK, 6, 0), (OTHER, 4, 0)),
    "duplicate owner": acl_xattr((UOBJ, 6, 0), (UOBJ, 6, 0), (GOBJ, 4, 0),
                                 (OTHER, 4, 0)),
    "bad perm": acl_xattr((UOBJ, 8, 0), (GOBJ, 4, 0), (OTHER, 4, 0)),
    "bad tag": acl_xattr((UOBJ, 6, 0), (0x40, 4, 0), (GOBJ, 4, 0),
                         (OTHER, 4, 0)),
    "after other": acl_xattr((UOBJ, 6, 0), (GOBJ, 4, 0), (OTHER, 4, 0),
                             (MASK, 4, 0)),
}


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_malformed_acl_einval(mnt, ktmpfs, what):
    """What the user sees.  The kernel's VFS validates an ACL before a
    FUSE daemon gets it, so this passes against any daemon; the core's
    own validation (for programs embedding libshmemfs, and a daemon
    that must not trust its one caller) is test_parity.c's."""
    for root in (ktmpfs, mnt):
        p = os.path.join(root, "f")
        open(p, "w").close()
        e = errno_of(os.setxattr, p, "system.posix_acl_access",
                     MALFORMED[what])
        assert e == 22, (root, what)


def test_acl_stored_as_kernel_returns_it(mnt, ktmpfs):
    """Unsorted and repeated ids are accepted as the kernel accepts them,
    and the value read back is the kernel's (ids of id-less entries
    undefined)."""
    v = acl_xattr((UOBJ, 6, 3), (USER, 6, 9), (USER, 4, 5), (USER, 4, 5),
                  (GOBJ, 4, 3), (MASK, 6, 3), (OTHER, 4, 3))
    got = []
    for root in (ktmpfs, mnt):
        p = os.path.join(root, "f")
        open(p, "w").close()
        os.setxattr(p, "system.posix_acl_access", v)
        got.append((os.getxattr(p, "system.posix_acl_access"),
                    os.stat(p).st_mode))
    assert got[0] == got[1]


def test_acl_version_and_default_on_file(mnt, ktmpfs):
    good = acl_xattr((UOBJ, 6, 0), (GOBJ, 4, 0), (OTHER, 0, 0))
    for root in (ktmpfs, mnt):
        p = os.path.join(root, "f")
        open(p, "w").close()
        assert errno_of(os.setxattr, p, "system.posix_acl_access",
                        acl_xattr((UOBJ, 6, 0), (GOBJ, 4, 0), (OTHER, 0, 0),
                                  version=1)) == 95
        assert errno_of(os.setxattr, p, "system.posix_acl_default",
                        good) == 13
        # equal to a mode: the mode changes, nothing is stored
        os.setxattr(p, "system.posix_acl_access", good)
        assert os.stat(p).st_mode & 0o777 == 0o640
        assert "system.posix_acl_access" not in os.listxattr(p)
        assert errno_of(os.getxattr, p, "system.posix_acl_access") == 61
        # removing an absent ACL succeeds, as on tmpfs
        os.removexattr(p, "system.posix_acl_access")
        assert errno_of(os.setxattr, p, "system.other", b"x") == 95
