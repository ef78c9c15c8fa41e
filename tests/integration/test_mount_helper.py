# SPDX-License-Identifier: MIT
"""shmemfs behind mount(8): "mount -t fuse.shmemfs shmemfs DIR -o OPTS",
fstab lines of type fuse.shmemfs, and "mount -o remount".

mount(8) runs mount.fuse3, which runs "shmemfs SOURCE DIR -o OPTS"
through /bin/sh.  mount(8) drops PATH from the environment of its
helpers, so the shell looks in its default path (/usr/local/sbin, ...)
whatever the caller's PATH says: the end-to-end test runs in a private
mount namespace where /usr/local/sbin is a fresh tmpfs holding a
"shmemfs" that runs the daemon under test.  Nothing outside that
namespace changes."""

import ctypes
import ctypes.util
import os
import shlex
import shutil
import signal
import subprocess

import pytest

from conftest import (SHMEMFS_BIN, WRAPPER, in_child, is_mounted,
                      make_mountpoint, mountinfo_entry, target_available,
                      pids_with_arg, wait_for)

pytestmark = pytest.mark.shmemfs_only

CMD_TIMEOUT = 10
CLONE_NEWNS = 0x00020000
MiB = 1 << 20
REMOUNT_MSG = "remount is not supported"
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _daemon_gone(mp):
    return wait_for(lambda: not pids_with_arg(mp), CMD_TIMEOUT)


def _cleanup(mp):
    for cmd in (["fusermount3", "-u", mp], ["umount", mp],
                ["umount", "-l", mp]):
        if not is_mounted(mp):
            break
        subprocess.run(cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=CMD_TIMEOUT)
    if not _daemon_gone(mp):
        for p in pids_with_arg(mp):
            os.kill(p, signal.SIGKILL)


@pytest.fixture
def mountpoints():
    """Factory of empty directories; anything left mounted on them is
    unmounted and their daemons stopped afterwards."""
    made = []

    def make():
        base, mp = make_mountpoint()
        made.append((base, mp))
        return mp
    yield make
    for base, mp in made:
        _cleanup(mp)
        shutil.rmtree(base, ignore_errors=True)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=CMD_TIMEOUT, **kw)
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    return r.returncode, lines


def start_foreground(args, log):
    """shmemfs -f ARGS in the background; returns the Popen once
    mounted (the last argument that is a directory is the mountpoint)."""
    target_available()
    proc = subprocess.Popen(WRAPPER + [SHMEMFS_BIN, "-f"] + args,
                            stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    mp = [a for a in args if os.path.isdir(a)][-1]
    assert wait_for(lambda: is_mounted(mp) or proc.poll() is not None,
                    CMD_TIMEOUT) and is_mounted(mp), \
        "not mounted (status %r)" % proc.poll()
    return proc


# --- the command line mount.fuse3 uses ----------------------------------

def test_source_argument(mountpoints, tmp_path):
    """mount.fuse3 runs "shmemfs SOURCE DIR": SOURCE is what mount
    tables show as the source (the fsname), as for tmpfs."""
    mp = mountpoints()
    with open(tmp_path / "log", "wb") as log:
        proc = start_foreground(["mysource", mp, "-o", "size=1m"], log)
        try:
            e = mountinfo_entry(mp)
            assert e["fstype"] == "fuse.shmemfs"
            assert e["source"] == "mysource"
            assert os.statvfs(mp).f_blocks == MiB // os.sysconf("SC_PAGE_SIZE")
            assert run(["fusermount3", "-u", mp])[0] == 0
            assert proc.wait(timeout=CMD_TIMEOUT) == 0
        finally:
            if proc.poll() is None:
                _cleanup(mp)
                proc.wait(timeout=CMD_TIMEOUT)
    assert open(tmp_path / "log").read().strip() == ""


def test_too_many_arguments(mountpoints):
    target_available()
    mp = mountpoints()
    rc, lines = run([SHMEMFS_BIN, "-f", "a", "b", mp])
    assert rc == 1 and len(lines) == 1, lines
    assert not is_mounted(mp)


@pytest.mark.parametrize("how", [
    ["-o", "remount,size=2m", "MP"],
    # exactly what mount.fuse3 runs for "mount -o remount,size=2m DIR"
    ["shmemfs", "MP", "-o", "rw,remount,size=2m,dev,suid"],
])
def test_remount_refused(mount, how):
    """A FUSE mount cannot be remounted (the kernel keeps the options of
    the first mount and no new daemon can take over): say so in one
    line, exit non-zero, and touch nothing -- in particular, do not
    mount a second filesystem on top."""
    m = mount("size=1m")
    with open(os.path.join(m.path, "f"), "wb") as f:
        f.write(b"kept")
    before = mountinfo_entry(m.path)
    rc, lines = run(WRAPPER + [SHMEMFS_BIN] +
                    [m.path if a == "MP" else a for a in how])
    assert rc != 0
    assert len(lines) == 1 and REMOUNT_MSG in lines[0], lines
    assert mountinfo_entry(m.path) == before
    assert os.statvfs(m.path).f_blocks == MiB // os.sysconf("SC_PAGE_SIZE")
    assert open(os.path.join(m.path, "f"), "rb").read() == b"kept"
    assert m.proc.poll() is None


# --- end to end through mount(8) -----------------------------------------

def _private_mount_ns():
    if _libc.unshare(CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare(CLONE_NEWNS): " + os.strerror(e))
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)


def _scenario(mp, mp2, fstab, marker):
    """Runs in a private mount namespace.  Returns what it saw."""
    seen = {}
    daemon = " ".join(shlex.quote(a) for a in WRAPPER + [SHMEMFS_BIN])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs",
                    "/usr/local/sbin"], check=True)
    with open("/usr/local/sbin/shmemfs", "w") as f:
        f.write('#!/bin/sh\ntouch %s\nexec %s "$@"\n' %
                (shlex.quote(marker), daemon))
    os.chmod("/usr/local/sbin/shmemfs", 0o755)
    try:
        seen["mount"] = run(["mount", "-t", "fuse.shmemfs", "shmemfs", mp,
                             "-o", "size=1m,mode=0750"])
        seen["helper_used"] = os.path.exists(marker)
        seen["entry"] = mountinfo_entry(mp)
        if seen["entry"]:
            seen["mode"] = os.stat(mp).st_mode & 0o7777
            seen["blocks"] = os.statvfs(mp).f_blocks
            with open(os.path.join(mp, "f"), "wb") as f:
                f.write(b"kept")
            seen["remount"] = run(["mount", "-o", "remount,size=2m", mp])
            seen["entry_after"] = mountinfo_entry(mp)
            seen["blocks_after"] = os.statvfs(mp).f_blocks
            seen["data_after"] = open(os.path.join(mp, "f"), "rb").read()
        seen["fstab_mount"] = run(["mount", "--fstab", fstab, mp2])
        seen["fstab_entry"] = mountinfo_entry(mp2)
        if seen["fstab_entry"]:
            seen["fstab_blocks"] = os.statvfs(mp2).f_blocks
        for name, p in (("umount", mp), ("fstab_umount", mp2)):
            if is_mounted(p):
                seen[name] = run(["umount", p])
            seen[name + "_gone"] = not is_mounted(p) and _daemon_gone(p)
    finally:
        for p in (mp, mp2):
            _cleanup(p)
    return seen


@pytest.mark.needs_root
def test_mount_t_fuse_shmemfs(mountpoints, tmp_path):
    target_available()
    if WRAPPER:
        # mount.fuse3 starts the daemon without -f, and a daemonized
        # wrapper (valgrind keeps its own copy of stderr) holds mount(8)'s
        # output pipe open: the same reason test_daemonizes_without_f
        # skips under it.  The sanitizer run covers this test.
        pytest.skip("mount(8) daemonizes shmemfs: not under "
                    "SHMEMFS_WRAPPER")
    if not (os.path.exists("/sbin/mount.fuse3") or
            shutil.which("mount.fuse3")):
        pytest.skip("mount.fuse3 is not installed")
    mp, mp2 = mountpoints(), mountpoints()
    fstab = tmp_path / "fstab"
    fstab.write_text("shmemfs %s fuse.shmemfs size=2m,noauto 0 0\n" % mp2)
    seen = in_child(_scenario, mp, mp2, str(fstab), str(tmp_path / "ran"),
                    prologue=_private_mount_ns)
    page = os.sysconf("SC_PAGE_SIZE")
    assert seen["mount"] == (0, []), seen["mount"]
    assert seen["helper_used"]
    assert seen["entry"]["fstype"] == "fuse.shmemfs"
    assert seen["entry"]["source"] == "shmemfs"
    assert seen["mode"] == 0o750 and seen["blocks"] == MiB // page
    # remount: refused with the daemon's one line, the mount untouched
    rc, lines = seen["remount"]
    assert rc != 0
    assert any(REMOUNT_MSG in l for l in lines), lines
    assert seen["entry_after"] == seen["entry"]
    assert seen["blocks_after"] == MiB // page
    assert seen["data_after"] == b"kept"
    # an fstab line
    assert seen["fstab_mount"] == (0, []), seen["fstab_mount"]
    assert seen["fstab_entry"]["fstype"] == "fuse.shmemfs"
    assert seen["fstab_blocks"] == 2 * MiB // page
    # umount(8) unmounts, and the daemons exit
    assert seen["umount"][0] == 0 and seen["umount_gone"]
    assert seen["fstab_umount"][0] == 0 and seen["fstab_umount_gone"]
    assert not is_mounted(mp) and not is_mounted(mp2)
