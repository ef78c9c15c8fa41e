#!/bin/bash
# `make deb`: build the Debian packages of shmemfs (debian/) with
# dpkg-buildpackage and check them with lintian.
#
#   scripts/make-deb.sh [OUTDIR]     (default build-deb)
#
# The source tree is copied (without build directories and .git) into a
# scratch directory, because dpkg-buildpackage writes its results into
# the parent of the tree it builds.  The .deb files, .buildinfo and
# .changes end up in OUTDIR, with lintian's report in OUTDIR/lintian.txt.
# Exit status 1 if the build fails or lintian reports an error (E:).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-build-deb}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

for tool in dpkg-buildpackage dh lintian; do
	command -v "$tool" >/dev/null || {
		echo "make-deb: $tool is missing (scripts/install-deps.sh)" >&2
		exit 1
	}
done

WORK=$(mktemp -d /tmp/shmemfs-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/shmemfs"
mkdir "$SRC"
tar -C "$TOP" --exclude=./.git --exclude='./build' --exclude='./build-*' \
	--exclude=./mnt --exclude=__pycache__ --exclude=./bench/results \
	-cf - . | tar -C "$SRC" -xf -

echo "make-deb: building in $SRC"
(cd "$SRC" && dpkg-buildpackage -b -us -uc -j"$(nproc)") \
	>"$OUT/build.log" 2>&1 || {
	tail -40 "$OUT/build.log" >&2
	echo "make-deb: dpkg-buildpackage failed (log: $OUT/build.log)" >&2
	exit 1
}
rm -f "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
mv "$WORK"/*.deb "$WORK"/*.changes "$WORK"/*.buildinfo "$OUT"/

# lintian as root would complain about running as root; its report is
# the same otherwise.
lintian --allow-root --fail-on error --display-info "$OUT"/*.changes \
	>"$OUT/lintian.txt" 2>&1 || status=$?
cat "$OUT/lintian.txt"
ls -1 "$OUT"/*.deb
if [ "${status:-0}" -ne 0 ] || grep -q '^E: ' "$OUT/lintian.txt"; then
	echo "make-deb: lintian reports errors" >&2
	exit 1
fi
echo "make-deb: packages in $OUT, lintian clean of errors"
