#!/bin/sh
# Install the Debian packages shmemfs needs to build and test, if missing.
set -e
PKGS="libfuse3-dev fuse3 meson ninja-build pkg-config gcc libcmocka-dev
libsodium-dev clang-14 libclang-rt-14-dev
python3 python3-pytest attr valgrind acl e2fsprogs
man-db debhelper lintian build-essential bash-completion gnuplot-nox
strace util-linux postgresql
liburing-dev
libxxhash-dev libarchive-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing:$missing"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq $missing >/dev/null
