#!/bin/sh
# `make run`: mount a default shmemfs at ./mnt and show it working.
set -e
BUILD=${1:-build}
MNT=$(pwd)/mnt
mkdir -p "$MNT"
if mountpoint -q "$MNT"; then
	echo "$MNT is already mounted; unmount it with: fusermount3 -u $MNT"
	exit 1
fi
"$BUILD/shmemfs" "$MNT"
echo "== mounted shmemfs at $MNT"
mount | grep " $MNT "
echo "== df -h"
df -h "$MNT"
echo "== a few file operations"
set -x
echo "hello from shmemfs" > "$MNT/hello.txt"
cat "$MNT/hello.txt"
mkdir -p "$MNT/dir/sub"
ln -s ../hello.txt "$MNT/dir/link"
cat "$MNT/dir/link"
dd if=/dev/zero of="$MNT/sparse" bs=1 count=1 seek=1G status=none
ls -ls "$MNT" "$MNT/dir"
"$BUILD/shmemctl" stats "$MNT"
set +x
echo "== tmpfs limits size, ramfs does not: 2 MiB into size=1m and into ramfs"
DEMO=$(mktemp -d)
mkdir "$DEMO/sized" "$DEMO/ramfs"
"$BUILD/shmemfs" -o size=1m "$DEMO/sized"
"$BUILD/shmemfs" -o ramfs "$DEMO/ramfs"
for m in sized ramfs; do
	if head -c 2M /dev/zero > "$DEMO/$m/f" 2>/dev/null; then
		echo "$m: wrote 2 MiB"
	else
		echo "$m: write failed: No space left on device"
	fi
done
df -h "$DEMO/sized" "$DEMO/ramfs"
fusermount3 -u "$DEMO/sized"
fusermount3 -u "$DEMO/ramfs"
rm -rf "$DEMO"
echo "== done.  Unmount with: fusermount3 -u $MNT"
