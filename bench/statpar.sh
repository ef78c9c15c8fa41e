#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/statpar.sh - stat through the mount with one and two processes,
# each in a directory of its own, before and after sf_lock's shared mode
# (lookup and getattr in parallel), against kernel tmpfs in the same run.
#
#   bench/statpar.sh [--quick] [--runs N] [--out DIR] [--before REF]
#                    [--count N]
#
# Each process stats N files (default 50000, 20000 with --quick) with
# bench/metaops.c's stat phase (fstatat).  The daemon answers lookups
# with an hour of entry and attribute timeout, so the kernel's dentry
# cache is dropped (drop_caches=2) before each pass: every stat then
# costs a FUSE LOOKUP (a second's pause lets the daemons answer the
# FORGETs that the drop sends before the pass is timed).  Tmpfs keeps its dentries (they are its storage).
# The sides take turns within each run.  The table gives the median
# aggregate stats per second and the ratio to kernel tmpfs with as many
# processes.  "before" is REF's daemon
# (default: main), built under the work directory.  Both daemons run
# with nouring (libfuse's multithreaded loop).  Needs root.

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/lib.sh"
OUT="$BENCH_DIR/results/statpar"
BEFORE=main
COUNT=""

extra_arg() {
	case "$1" in
	--before) need_value "$@"; BEFORE=$2; NSHIFT=2 ;;
	--count) need_value "$@"; COUNT=$2; NSHIFT=2 ;;
	*) return 1 ;;
	esac
}
parse_args "$@"
[ -n "$COUNT" ] || COUNT=$([ "$QUICK" = 1 ] && echo 20000 || echo 50000)
positive_int "$COUNT" --count
need_root "mounts"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/shmemfs-statpar.XXXXXX)
cleanup_at_exit

build_shmemfs
AFTER_DAEMON=$DAEMON
log "building the before side ($BEFORE) in $WORK/before..."
mkdir -p "$WORK/before"
git -C "$ROOT" archive "$BEFORE" | tar -x -C "$WORK/before"
( cd "$WORK/before" && meson setup build -Dtests=disabled >/dev/null &&
	ninja -C build shmemfs >/dev/null ) || die "building $BEFORE failed"
BEFORE_DAEMON=$WORK/before/build/shmemfs
gcc -O2 -Wall -o "$WORK/metaops" "$BENCH_DIR/metaops.c"

# pass MNT P: P processes stat their COUNT files at once; prints the sum
pass() {
	local mnt=$1 p=$2 i pids=() sum=0 r
	sync
	echo 2 > /proc/sys/vm/drop_caches
	sleep 1 # the daemons' FORGETs of the dropped entries, before timing
	for i in $(seq "$p"); do
		"$WORK/metaops" -p stat "$mnt/s$i" "$COUNT" > "$WORK/out.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in $(seq "$p"); do
		r=$(awk '$1 == "stat" { print $2 }' "$WORK/out.$i")
		sum=$((sum + r))
	done
	echo "$sum"
}

declare -A RES=() VALS=()
for side in kernel before after; do
	MNT=$WORK/mnt-$side
	case $side in
	kernel) mount_tmpfs "$MNT" "size=1g" ;;
	before) DAEMON=$BEFORE_DAEMON; mount_shmemfs "$MNT" "size=1g,nouring" ;;
	after) DAEMON=$AFTER_DAEMON; mount_shmemfs "$MNT" "size=1g,nouring" ;;
	esac
	for i in 1 2; do
		mkdir "$MNT/s$i"
		"$WORK/metaops" -p create "$MNT/s$i" "$COUNT" > /dev/null
	done
done
# the sides take turns within each run (the order rotates), so that the
# load of a shared machine falls on all of them alike
for run in $(seq "$RUNS"); do
	case $((run % 3)) in
	1) order="kernel before after" ;;
	2) order="after kernel before" ;;
	0) order="before after kernel" ;;
	esac
	for p in 1 2; do
		for side in $order; do
			VALS[$side,$p]+=" $(pass "$WORK/mnt-$side" "$p")"
		done
	done
done
for side in kernel before after; do
	for p in 1 2; do
		# shellcheck disable=SC2086
		RES[$side,$p]=$(median ${VALS[$side,$p]})
		log "$side, $p process(es):${VALS[$side,$p]}"
	done
	if [ "$side" = kernel ]; then
		umount_tmpfs "$WORK/mnt-$side"
	else
		umount_shmemfs "$WORK/mnt-$side" "$side"
	fi
done

{
	echo "stat through the mount, $COUNT files per process, dentries dropped before each pass, median of $RUNS"
	printf '%-10s %12s %12s %8s\n' side procs stats/s ratio
	for side in kernel before after; do
		for p in 1 2; do
			printf '%-10s %12s %12.0f %8.3f\n' "$side" "$p" \
				"${RES[$side,$p]}" \
				"$(awk -v a="${RES[$side,$p]}" -v b="${RES[kernel,$p]}" 'BEGIN { print a / b }')"
		done
	done
	for side in before after; do
		printf '%s: 2 processes / 1 process = %.3f\n' "$side" \
			"$(awk -v a="${RES[$side,2]}" -v b="${RES[$side,1]}" 'BEGIN { print a / b }')"
	done
} | tee "$OUT/latest.txt"
