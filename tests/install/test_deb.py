# SPDX-License-Identifier: MIT
"""`make deb`: the Debian packages build (dpkg-buildpackage), lintian
reports no error, they install with apt-get, the installed shmemfs
mounts through `mount -t fuse.shmemfs`, `man shmemfs` and `pkg-config
shmemfs` find their files, and they purge cleanly.

About half a minute here.  It installs packages on the machine for the
length of the test and purges them afterwards; it is skipped if any of
them was installed before (so it never removes what it did not
install), without root, or with SHMEMFS_SKIP_DEB=1."""

import fcntl
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD, REPO
from test_install import (PROGRAM, _daemons, _in_private_namespace,
                          _mounted, _wait, run)

PACKAGES = ["shmemfs", "libshmemfs0", "libshmemfs-dev"]
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "-q"]


def installed_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    return r.returncode == 0 and "ok installed" in r.stdout


@pytest.fixture(scope="module")
def debs():
    if os.environ.get("SHMEMFS_SKIP_DEB"):
        pytest.skip("SHMEMFS_SKIP_DEB is set")
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed (scripts/install-deps.sh)" %
                        tool)
    out = tempfile.mkdtemp(prefix="shmemfs-deb-out-")
    try:
        r = subprocess.run([os.path.join(REPO, "scripts", "make-deb.sh"),
                            out], capture_output=True, text=True,
                           timeout=900)
        assert r.returncode == 0, r.stdout + r.stderr
        yield out, r.stdout
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_lintian_clean_of_errors(debs):
    out, report = debs
    lint = open(os.path.join(out, "lintian.txt")).read()
    assert not [l for l in lint.splitlines() if l.startswith("E: ")], lint
    names = sorted(f.split("_")[0] for f in os.listdir(out)
                   if f.endswith(".deb") and "dbgsym" not in f)
    assert names == sorted(PACKAGES)


def _contents(deb):
    return run(["dpkg-deb", "-c", deb]).stdout


def test_package_contents(debs):
    out, _ = debs
    deb = {f.split("_")[0]: os.path.join(out, f) for f in os.listdir(out)
           if f.endswith(".deb")}
    c = _contents(deb["shmemfs"])
    for f in ("./usr/bin/shmemfs", "./usr/bin/shmemctl",
              "./usr/share/man/man8/shmemfs.8.gz",
              "./usr/share/man/man8/shmemctl.8.gz",
              "./usr/share/man/man1/shmemfs-shm.1.gz",
              "./usr/share/bash-completion/completions/shmemctl"):
        assert f in c, f
    # shmemfs-shm and its preload library, once they are built
    if os.path.exists(os.path.join(BUILD, "shmemfs-shm")):
        assert "./usr/bin/shmemfs-shm" in c
        assert "/libshmemfs-shm.so" in c
    c = _contents(deb["libshmemfs0"])
    assert "/libshmemfs.so.0" in c
    c = _contents(deb["libshmemfs-dev"])
    for h in os.listdir(os.path.join(REPO, "include")):
        assert "./usr/include/" + h in c, h
    for f in ("/libshmemfs.a", "/pkgconfig/shmemfs.pc",
              "./usr/share/man/man3/libshmemfs.3.gz"):
        assert f in c, f


def _scenario_deb(mp):
    """In a private mount namespace, with /usr/local's bin and sbin
    hidden (a `make install` there would shadow /usr/bin)."""
    seen = {}
    run(["mount", "--make-rprivate", "/"])
    for d in ("/usr/local/bin", "/usr/local/sbin"):
        if os.path.isdir(d):
            run(["mount", "-t", "tmpfs", "tmpfs", d])
    try:
        r = run(["mount", "-t", "fuse.shmemfs", "shmemfs", mp, "-o",
                 "size=1g"], check=False)
        seen["mount"] = [r.returncode, r.stdout + r.stderr]
        seen["type"] = _mounted(mp)
        seen["exe"] = [os.readlink("/proc/%d/exe" % p) for p in _daemons(mp)]
        r = run(["shmemctl", "stats", mp, "--prometheus"], check=False)
        seen["prom"] = r.stdout
        if shutil.which("shmemfs-shm"):
            r = run(["shmemfs-shm", mp, "sh", "-c",
                     'echo "$SHMEMFS_SHM"; echo "$LD_PRELOAD"'], check=False)
            seen["shm"] = [r.returncode, r.stdout.split(), r.stderr]
        r = run(["umount", mp], check=False)
        seen["umount"] = r.returncode
        seen["gone"] = _wait(lambda: not _mounted(mp) and not _daemons(mp))
    finally:
        if _mounted(mp):
            run(["umount", "-l", mp], check=False)
    return seen


LOCK = "/run/lock/shmemfs-deb-test.lock"


@pytest.fixture
def machine_lock():
    """One install-mount-purge at a time on the machine: two test runs
    side by side (several worktrees) would purge each other's packages."""
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    with open(LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def test_install_mount_purge(debs, tmp_path, machine_lock):
    if os.geteuid() != 0:
        pytest.skip("needs root to install packages")
    before = [p for p in PACKAGES if installed_version(p)]
    if before:
        pytest.skip("already installed, not touching them: %s" % before)
    out, _ = debs
    files = [os.path.join(out, f) for f in sorted(os.listdir(out))
             if f.endswith(".deb") and "dbgsym" not in f]
    base = tempfile.mkdtemp(prefix="shmemfs-deb-mnt-")
    try:
        r = subprocess.run(APT + ["install", "--no-install-recommends"] +
                           files, capture_output=True, text=True,
                           timeout=900,
                           env=dict(os.environ,
                                    DEBIAN_FRONTEND="noninteractive"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(installed_version(p) for p in PACKAGES)
        # man and pkg-config find the installed files
        assert run(["man", "-w", "shmemfs"]).stdout.strip() == \
            "/usr/share/man/man8/shmemfs.8.gz"
        flags = run(["pkg-config", "--cflags", "--libs",
                     "shmemfs"]).stdout.split()
        assert "-lshmemfs" in flags
        src = tmp_path / "prog.c"
        src.write_text(PROGRAM)
        run(["cc", "-o", str(tmp_path / "prog"), str(src)] + flags)
        assert run([str(tmp_path / "prog")]).stdout.split()[0] == \
            str(1 << 20)
        # mount(8) runs the packaged daemon
        mp = os.path.join(base, "m")
        os.mkdir(mp)
        seen = _in_private_namespace(_scenario_deb, mp)
        assert seen["mount"] == [0, ""], seen
        assert seen["type"] == "fuse.shmemfs"
        assert seen["exe"] == ["/usr/bin/shmemfs"], seen
        assert ('shmemfs_size_limit_bytes{mountpoint="%s"} %d' %
                (mp, 1 << 30)) in seen["prom"]
        assert seen["umount"] == 0 and seen["gone"]
        if "shm" in seen:
            # shmemfs-shm finds the packaged preload library
            rc, out, err = seen["shm"]
            assert rc == 0 and out[0] == mp, seen["shm"]
            assert out[1].startswith("/usr/lib/") and \
                out[1].endswith("/libshmemfs-shm.so"), seen["shm"]
            assert subprocess.run(["dpkg", "-S", out[1]],
                                  capture_output=True).returncode == 0
    finally:
        r = subprocess.run(APT + ["purge"] + PACKAGES, capture_output=True,
                           text=True, timeout=900)
        shutil.rmtree(base, ignore_errors=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [p for p in PACKAGES if installed_version(p)]
    assert not os.path.exists("/usr/bin/shmemfs")
    assert not os.path.exists("/usr/include/shmemfs.h")
