# SPDX-License-Identifier: MIT
"""`meson install` (what `make install` runs) into a temporary DESTDIR:
every file DESIGN.md's "Installing" names is there, a program builds
against the installed libshmemfs with `pkg-config --cflags --libs
shmemfs` (shared and static), the shared library exports only the
public API, the bash completion completes, and, with the installed
binaries where mount(8) looks for helpers, `mount -t fuse.shmemfs`, an
fstab line, `umount` and `man shmemfs` work.

The mount(8) part runs in a private mount namespace: the installed bin/
directory is bind-mounted on /usr/local/sbin (the first directory of
the shell's default path, which mount.fuse3's /bin/sh searches since
mount(8) drops PATH) and the installed man/ on /usr/local/share/man.
Nothing outside that namespace changes."""

import ctypes
import ctypes.util
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import BUILD, REPO

TIMEOUT = 120
GiB = 1 << 30
CLONE_NEWNS = 0x00020000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

PROGRAM = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <shmemfs.h>
#include <shmemfs_ioctl.h>

int main(void)
{
	struct shmemfs_opts o;
	struct shmemfs_ctx ctx = { 0, 0 };
	struct shmemfs_attr a;
	struct shmemfs_stats st;
	struct shmemfs *fs;
	char err[256] = "", buf[6] = "";
	int ret;

	shmemfs_opts_init(&o);
	if (shmemfs_opts_parse(&o, "size=1m,nr_inodes=3", NULL, 0, err,
			       sizeof(err)) < 0 ||
	    shmemfs_mount(&fs, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "mount: %s\n", err);
		return 1;
	}
	ret = shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, "f", S_IFREG | 0644,
			    0, &a);
	if (ret < 0 || shmemfs_write(fs, a.sa_st.st_ino, "hello", 5, 0) != 5 ||
	    shmemfs_read(fs, a.sa_st.st_ino, buf, 5, 0) != 5 ||
	    strcmp(buf, "hello") ||
	    shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, "g", S_IFREG | 0644,
			  0, &a) < 0 ||
	    shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, "h", S_IFREG | 0644,
			  0, &a) != -ENOSPC)
		return 2;
	shmemfs_get_stats(fs, &st);
	printf("%llu %llu %d\n", (unsigned long long)st.size_limit_bytes,
	       (unsigned long long)st.inodes_limit,
	       (int)_IOC_NR(SHMEMFS_IOC_STATS));
	shmemfs_destroy(fs);
	shmemfs_opts_free(&o);
	return 0;
}
"""


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                       **kw)
    if check:
        assert r.returncode == 0, "%s: %s%s" % (" ".join(cmd), r.stdout,
                                                 r.stderr)
    return r


@pytest.fixture(scope="module")
def installed():
    """{destdir, prefix, root (destdir + prefix), pc (the .pc file)}"""
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        pytest.skip("%s is not a meson build directory" % BUILD)
    dest = tempfile.mkdtemp(prefix="shmemfs-destdir-")
    try:
        run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
             "--destdir", dest])
        opts = json.loads(run(["meson", "introspect", "--buildoptions",
                               BUILD]).stdout)
        prefix = [o["value"] for o in opts if o["name"] == "prefix"][0]
        root = dest + prefix
        pcs = glob.glob(os.path.join(root, "lib*", "**", "pkgconfig",
                                     "shmemfs.pc"), recursive=True)
        assert len(pcs) == 1, "shmemfs.pc not installed (or twice): %r" % pcs
        yield {"destdir": dest, "prefix": prefix, "root": root,
               "pc": pcs[0], "libdir": os.path.dirname(
                   os.path.dirname(pcs[0]))}
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_every_file_installed(installed):
    root, libdir = installed["root"], installed["libdir"]
    want = ["bin/shmemfs", "bin/shmemctl", "include/shmemfs.h",
            "include/shmemfs_ioctl.h", "share/man/man8/shmemfs.8",
            "share/man/man8/shmemctl.8", "share/man/man1/shmemfs-shm.1",
            "share/man/man3/libshmemfs.3",
            "share/bash-completion/completions/shmemctl"]
    # shmemfs-shm and its preload library, once they are built
    if os.path.exists(os.path.join(BUILD, "shmemfs-shm")):
        want.append("bin/shmemfs-shm")
    # every public header (one includes the others)
    want += ["include/" + h for h in sorted(os.listdir(
        os.path.join(REPO, "include"))) if h.endswith(".h")]
    missing = [w for w in want if not os.path.exists(os.path.join(root, w))]
    assert not missing, "not installed under %s: %s" % (root, missing)
    for lib in ("libshmemfs.so", "libshmemfs.so.0", "libshmemfs.a"):
        assert os.path.exists(os.path.join(libdir, lib)), lib
    if glob.glob(os.path.join(BUILD, "**", "libshmemfs-shm.so"),
                 recursive=True):
        assert glob.glob(os.path.join(root, "**", "libshmemfs-shm.so"),
                         recursive=True), "libshmemfs-shm.so not installed"
    for b in ("shmemfs", "shmemctl"):
        assert os.access(os.path.join(root, "bin", b), os.X_OK)


def pkg_config(installed, *args):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(installed["pc"]),
               PKG_CONFIG_SYSROOT_DIR=installed["destdir"])
    env.pop("PKG_CONFIG_LIBDIR", None)
    return run(["pkg-config"] + list(args) + ["shmemfs"], env=env).stdout.split()


def test_build_against_installed_library(installed, tmp_path):
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = str(tmp_path / "prog")
    flags = pkg_config(installed, "--cflags", "--libs")
    assert "-I%s/include" % installed["root"] in flags
    assert "-lshmemfs" in flags
    # only the installed headers: no -I into the source tree
    run(["cc", "-Wall", "-Werror", "-o", exe, str(src)] + flags)
    env = dict(os.environ, LD_LIBRARY_PATH=installed["libdir"])
    ldd = run(["ldd", exe], env=env).stdout
    assert installed["libdir"] + "/libshmemfs.so.0" in ldd, ldd
    out = run([exe], env=env).stdout.split()
    assert out == [str(1 << 20), "3", "1"]


def test_each_header_alone(installed, tmp_path):
    """Each installed header compiles on its own with the pkg-config
    flags: whatever it includes is installed too."""
    flags = pkg_config(installed, "--cflags")
    inc = os.path.join(installed["root"], "include")
    for h in sorted(os.listdir(inc)):
        if not h.startswith("shmemfs"):
            continue
        src = tmp_path / ("only_%s.c" % h[:-2])
        src.write_text("#include <%s>\nint main(void) { return 0; }\n" % h)
        run(["cc", "-Wall", "-Werror", "-fsyntax-only", str(src)] + flags)


def test_build_against_static_library(installed, tmp_path):
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = str(tmp_path / "prog-static")
    flags = pkg_config(installed, "--static", "--cflags", "--libs")
    flags = [f if f != "-lshmemfs" else
             "-Wl,-Bstatic,-lshmemfs,-Bdynamic" for f in flags]
    run(["cc", "-Wall", "-Werror", "-o", exe, str(src)] + flags)
    assert "libshmemfs" not in run(["ldd", exe]).stdout
    assert run([exe]).stdout.split()[0] == str(1 << 20)


def test_shared_library_exports_only_the_api(installed):
    so = os.path.join(installed["libdir"], "libshmemfs.so.0")
    out = run(["nm", "-D", "--defined-only", so]).stdout
    names = [l.split()[-1] for l in out.splitlines()
             if len(l.split()) == 3 and l.split()[1] in "TDBRtdbr"]
    assert "shmemfs_mount" in names
    leaked = [n for n in names if not n.startswith("shmemfs_")]
    assert not leaked, "libshmemfs.so exports internals: %s" % leaked[:10]
    soname = run(["objdump", "-p", so]).stdout
    assert "SONAME               libshmemfs.so.0" in soname


def test_installed_man_pages(installed):
    if not shutil.which("man"):
        pytest.skip("man-db is not installed")
    mandir = os.path.join(installed["root"], "share", "man")
    for name, sec in (("shmemfs", "8"), ("shmemctl", "8"),
                      ("shmemfs-shm", "1"), ("libshmemfs", "3")):
        r = run(["man", "-M", mandir, "-w", sec, name])
        assert r.stdout.strip() == os.path.join(mandir, "man" + sec,
                                                "%s.%s" % (name, sec))
        page = run(["man", "-M", mandir, sec, name],
                   env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                            MANWIDTH="80")).stdout
        assert name.upper() in page


def test_bash_completion(installed):
    comp = "/usr/share/bash-completion/bash_completion"
    if not os.path.exists(comp) or not shutil.which("bash"):
        pytest.skip("bash-completion is not installed")
    ours = os.path.join(installed["root"], "share", "bash-completion",
                        "completions", "shmemctl")
    ctl = os.path.join(installed["root"], "bin", "shmemctl")

    def complete(*words):
        script = (
            'source %s; source %s; COMP_WORDS=(%s); '
            'COMP_CWORD=%d; COMP_LINE="${COMP_WORDS[*]}"; '
            'COMP_POINT=${#COMP_LINE}; _shmemctl 2>/dev/null; '
            'printf "%%s\\n" "${COMPREPLY[@]}"' %
            (comp, ours, " ".join("'%s'" % w for w in (ctl,) + words),
             len(words)))
        return set(run(["bash", "-c", script]).stdout.split())
    assert {"stats", "swapoff", "swapon"} <= complete("")
    assert complete("st") == {"stats"}
    assert complete("stats", "--p") == {"--prometheus"}
    assert complete("stats", "--") >= {"--json", "--prometheus"}
    # remount: the option names of the installed shmemfs --help, the
    # last item of a comma-separated list
    assert complete("remount", "/mnt", "si") == {"size="}
    assert complete("remount", "/mnt", "size=1g,nr_") == \
        {"size=1g,nr_blocks=", "size=1g,nr_inodes="}
    assert "noswap" in complete("remount", "/mnt", "")


# --- mount(8) with the installed binaries --------------------------------

def _mounted(path):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            if a[4] == path:
                return a[a.index("-") + 1]
    return None


def _daemons(path):
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if path.encode() in args and any(b"shmemfs" in a for a in args[:1]):
            pids.append(int(p))
    return pids


def _wait(cond, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _mount_1g(mp, seen):
    """mount -t fuse.shmemfs -o size=1g on @mp, through mount(8); into
    @seen: "mount" (status and output), "type" and, if mounted, "bytes"
    (its statvfs size).  Whether it is mounted."""
    r = run(["mount", "-t", "fuse.shmemfs", "shmemfs", mp, "-o",
             "size=1g"], check=False)
    seen["mount"] = [r.returncode, r.stdout + r.stderr]
    seen["type"] = _mounted(mp)
    if seen["type"]:
        st = os.statvfs(mp)
        seen["bytes"] = st.f_blocks * st.f_frsize
    return seen["type"]


def _force_unmount(mp):
    """Lazily unmount @mp if it is mounted, and kill its daemons."""
    if _mounted(mp):
        run(["umount", "-l", mp], check=False)
    for pid in _daemons(mp):
        os.kill(pid, signal.SIGKILL)


def _scenario(root, mp, mp2, fstab):
    """In a private mount namespace: returns what it saw."""
    seen = {}
    run(["mount", "--make-rprivate", "/"])
    run(["mount", "--bind", os.path.join(root, "bin"), "/usr/local/sbin"])
    run(["mount", "--bind", os.path.join(root, "share", "man"),
         "/usr/local/share/man"])
    try:
        if _mount_1g(mp, seen):
            with open(os.path.join(mp, "f"), "wb") as f:
                f.write(b"x" * 8192)
            r = run(["shmemctl", "stats", mp, "--json"], check=False,
                    env=dict(os.environ, PATH="/usr/local/sbin"))
            seen["stats"] = json.loads(r.stdout) if r.returncode == 0 \
                else r.stderr
            seen["daemon_exe"] = [
                [os.stat("/proc/%d/exe" % p).st_dev,
                 os.stat("/proc/%d/exe" % p).st_ino] for p in _daemons(mp)]
        r = run(["mount", "--fstab", fstab, mp2], check=False)
        seen["fstab"] = [r.returncode, r.stdout + r.stderr]
        seen["fstab_type"] = _mounted(mp2)
        if seen["fstab_type"]:
            st = os.statvfs(mp2)
            seen["fstab_bytes"] = st.f_blocks * st.f_frsize
            seen["fstab_mode"] = os.stat(mp2).st_mode & 0o7777
        r = run(["man", "-w", "shmemfs"], check=False)
        seen["man"] = r.stdout.strip()
        for name, p in (("umount", mp), ("fstab_umount", mp2)):
            r = run(["umount", p], check=False)
            seen[name] = [r.returncode, r.stdout + r.stderr]
            seen[name + "_gone"] = _wait(lambda: not _mounted(p) and
                                         not _daemons(p))
    finally:
        for p in (mp, mp2):
            _force_unmount(p)
    return seen


def _in_private_namespace(fn, *args):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            if _libc.unshare(CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
            out = {"ok": fn(*args)}
        except BaseException as e:        # report it to the parent
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        with os.fdopen(wfd, "w") as f:
            json.dump(out, f)
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        data = f.read()
    os.waitpid(pid, 0)
    res = json.loads(data)
    assert "error" not in res, res["error"]
    return res["ok"]


def _need_mount_tools():
    """Skip unless root, /dev/fuse and mount.fuse3 are there."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount namespaces, mount(8))")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    if not (os.path.exists("/sbin/mount.fuse3") or
            shutil.which("mount.fuse3")):
        pytest.skip("mount.fuse3 is not installed")


def test_mount_t_fuse_shmemfs_installed(installed, tmp_path):
    _need_mount_tools()
    for d in ("/usr/local/sbin", "/usr/local/share/man"):
        if not os.path.isdir(d):
            pytest.skip(d + " is missing")
    base = tempfile.mkdtemp(prefix="shmemfs-inst-")
    os.chmod(base, 0o755)
    mp, mp2 = os.path.join(base, "a"), os.path.join(base, "b")
    os.mkdir(mp)
    os.mkdir(mp2)
    fstab = tmp_path / "fstab"
    fstab.write_text("shmemfs %s fuse.shmemfs size=2m,mode=0750,noauto "
                     "0 0\n" % mp2)
    try:
        seen = _in_private_namespace(_scenario, installed["root"], mp, mp2,
                                     str(fstab))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert seen["mount"] == [0, ""], seen
    assert seen["type"] == "fuse.shmemfs"
    assert seen["bytes"] == GiB
    assert isinstance(seen["stats"], dict), seen["stats"]
    assert seen["stats"]["size_limit_bytes"] == GiB
    assert seen["stats"]["used_bytes"] == 8192
    # the daemon mount.fuse3 started is the installed one
    st = os.stat(os.path.join(installed["root"], "bin", "shmemfs"))
    assert seen["daemon_exe"] == [[st.st_dev, st.st_ino]], seen
    assert seen["fstab"] == [0, ""], seen
    assert seen["fstab_type"] == "fuse.shmemfs"
    assert seen["fstab_bytes"] == 2 << 20 and seen["fstab_mode"] == 0o750
    # /usr/local/man is a link to share/man on Debian
    assert os.path.realpath(seen["man"]) == \
        "/usr/local/share/man/man8/shmemfs.8", seen["man"]
    assert seen["umount"][0] == 0 and seen["umount_gone"], seen
    assert seen["fstab_umount"][0] == 0 and seen["fstab_umount_gone"], seen
    assert not _mounted(mp) and not _mounted(mp2)


# --- `make install` for real, as on a fresh machine ------------------------

def _scenario_make_install(build, work, mp):
    """In a private mount namespace, with a tmpfs on /usr/local and an
    overlay on /etc (ldconfig writes /etc/ld.so.cache): `make install`
    as on a fresh machine, then what the issue's "done when" asks."""
    seen = {}
    run(["mount", "--make-rprivate", "/"])
    os.makedirs(os.path.join(work, "upper"))
    os.makedirs(os.path.join(work, "work"))
    run(["mount", "-t", "overlay", "overlay", "-o",
         "lowerdir=/etc,upperdir=%s/upper,workdir=%s/work" % (work, work),
         "/etc"])
    run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/usr/local"])
    try:
        r = run(["make", "-C", REPO, "install", "BUILD=" + build],
                check=False)
        seen["install"] = [r.returncode, r.stderr]
        # pkg-config and the dynamic linker find the library, with no
        # PKG_CONFIG_PATH or LD_LIBRARY_PATH
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PKG_CONFIG", "LD_LIBRARY"))}
        r = run(["pkg-config", "--cflags", "--libs", "shmemfs"],
                check=False, env=env)
        seen["pkg_config"] = r.stdout.split()
        src = os.path.join(work, "prog.c")
        with open(src, "w") as f:
            f.write(PROGRAM)
        exe = os.path.join(work, "prog")
        r = run(["cc", "-o", exe, src] + seen["pkg_config"], check=False,
                env=env)
        seen["cc"] = r.returncode
        if r.returncode == 0:
            seen["prog"] = run([exe], check=False, env=env).stdout.split()
        r = run(["man", "-w", "shmemfs"], check=False, env=env)
        seen["man"] = os.path.realpath(r.stdout.strip())
        # mount(8) through mount.fuse3 finds the installed daemon
        if _mount_1g(mp, seen):
            seen["exe"] = [os.readlink("/proc/%d/exe" % p)
                           for p in _daemons(mp)]
            r = run(["umount", mp], check=False)
            seen["umount"] = r.returncode
            seen["gone"] = _wait(lambda: not _mounted(mp) and
                                 not _daemons(mp))
        r = run(["make", "-C", REPO, "uninstall", "BUILD=" + build],
                check=False)
        seen["uninstall"] = r.returncode
        seen["left"] = sorted(
            os.path.relpath(os.path.join(d, f), "/usr/local")
            for d, _, files in os.walk("/usr/local") for f in files)
    finally:
        _force_unmount(mp)
    return seen


def _ld_cache():
    try:
        with open("/etc/ld.so.cache", "rb") as f:
            return f.read()
    except OSError:
        return None


def test_make_install_for_real(tmp_path):
    _need_mount_tools()
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        pytest.skip("%s is not a meson build directory" % BUILD)
    opts = json.loads(run(["meson", "introspect", "--buildoptions",
                           BUILD]).stdout)
    prefix = [o["value"] for o in opts if o["name"] == "prefix"][0]
    cache_before = _ld_cache()
    base = tempfile.mkdtemp(prefix="shmemfs-mkinst-")
    os.chmod(base, 0o755)
    mp = os.path.join(base, "m")
    os.mkdir(mp)
    try:
        seen = _in_private_namespace(_scenario_make_install,
                                     os.path.abspath(BUILD), str(tmp_path),
                                     mp)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if prefix != "/usr/local":   # make install set it; put it back
            run(["meson", "configure", BUILD, "-Dprefix=" + prefix])
    assert seen["install"][0] == 0, seen["install"]
    assert "-I/usr/local/include" in seen["pkg_config"], seen
    assert "-lshmemfs" in seen["pkg_config"]
    assert seen["cc"] == 0 and seen["prog"] == [str(1 << 20), "3", "1"]
    assert seen["man"] == "/usr/local/share/man/man8/shmemfs.8"
    assert seen["mount"] == [0, ""], seen
    assert seen["type"] == "fuse.shmemfs" and seen["bytes"] == GiB
    assert seen["exe"] == ["/usr/local/bin/shmemfs"], seen
    assert seen["umount"] == 0 and seen["gone"]
    assert seen["uninstall"] == 0
    assert seen["left"] == [], seen["left"]
    # ldconfig ran in the namespace only
    assert _ld_cache() == cache_before
