# SPDX-License-Identifier: MIT
"""A kernel tmpfs mounted by a test, the oracle of differential checks,
and running one shell scenario on a mount and on it."""

import os
import subprocess
import tempfile

import pytest

NOBODY = 65534
SETPRIV = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
           "--clear-groups"]


def mount_tmpfs(opts="size=16m,mode=1777"):
    d = tempfile.mkdtemp(prefix="shmemfs-oracle-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", d],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode:
        os.rmdir(d)
        raise RuntimeError("mount -t tmpfs -o %s: %s" % (opts, r.stdout))
    return d


def umount_tmpfs(d):
    subprocess.run(["umount", d], check=False)
    os.rmdir(d)


@pytest.fixture
def ktmpfs():
    """A kernel tmpfs (size=16m, mode=1777)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a kernel tmpfs)")
    d = mount_tmpfs()
    try:
        yield d
    finally:
        umount_tmpfs(d)


def run_scenario(root, steps):
    """Run each (as_nobody, shell command) step with the mount root as
    the working directory and umask 022; a list of transcripts (the
    command, its output and its exit status) to compare."""
    out = []
    for as_nobody, cmd in steps:
        argv = (SETPRIV if as_nobody else []) + ["sh", "-c", "umask 022; "
                                                 + cmd]
        r = subprocess.run(argv, cwd=root, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        out.append("$ %s%s\n%s[%d]" % ("(nobody) " if as_nobody else "",
                                       cmd, r.stdout, r.returncode))
    return out
