#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/shm.sh - a memory-bound workload on shared buffers in a SysV
# segment: kernel SysV shm against a shmemfs segment (shmemfs-shm).
#
#   bench/shm.sh [--quick] [--runs N] [--mib MIB] [--secs S] [--out DIR]
#
# bench/shmbench.c makes an IPC_PRIVATE segment of MIB MiB (default 256;
# --quick 64), attaches and faults it in (timed), then 2 forked workers
# do random 8-byte read-modify-writes and sequential scans over it for S
# seconds (default 5; --quick 2), as a database's buffer pool is used.
# Runs alternate (odd runs kernel first); medians of N runs (default 3;
# --quick 1).  Ratios are shmemfs/kernel for rates and kernel/shmemfs
# for the fault time: higher is better for shmemfs, 1.0 is parity.
# Writes shm.csv and shm.txt to DIR (default bench/results).  Needs root.

set -Eeuo pipefail
shopt -s inherit_errexit 2>/dev/null || true

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

MIB=""
SECS=""
extra_arg() {
	case "$1" in
	--mib) need_value "$@"; MIB=$2; NSHIFT=2 ;;
	--mib=*) MIB=${1#--mib=} ;;
	--secs) need_value "$@"; SECS=$2; NSHIFT=2 ;;
	--secs=*) SECS=${1#--secs=} ;;
	*) return 1 ;;
	esac
}
parse_args "$@"
[ -n "$MIB" ] || { MIB=256; [ "$QUICK" = 1 ] && MIB=64; }
[ -n "$SECS" ] || { SECS=5; [ "$QUICK" = 1 ] && SECS=2; }
positive_int "$MIB" --mib MiB
positive_int "$SECS" --secs seconds
NPROC=2

need_root "mount"
build_shmemfs
WORK=$(mktemp -d /tmp/shmemfs-bench-shm.XXXXXX)
cleanup() {
	local d
	for d in "${!FUSE_PIDS[@]}"; do
		is_mounted "$d" && fusermount3 -u "$d" 2>/dev/null
		wait "${FUSE_PIDS[$d]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

gcc -O2 -Wall -o "$WORK/shmbench" "$BENCH_DIR/shmbench.c"
mount_shmemfs "$WORK/mnt" "size=$((MIB * 4))m"

# one SIDE RUN: the workload on SIDE (kernel|shmemfs), rows to raw.csv
one() {
	local side=$1 run=$2 out
	if [ "$side" = kernel ]; then
		out=$(unshare -i "$WORK/shmbench" "$MIB" "$SECS" "$NPROC")
	else
		out=$("$ROOT/build/shmemfs-shm" "$WORK/mnt" \
			"$WORK/shmbench" "$MIB" "$SECS" "$NPROC")
	fi
	echo "$out" | awk -v s="$side" -v r="$run" '{ print s "," r "," $1 "," $2 }' \
		>> "$WORK/raw.csv"
}

log "shm: ${MIB} MiB segment, $NPROC workers, ${SECS} s, $RUNS run(s)"
alternate_runs

mkdir -p "$OUT"
{
	echo "metric,unit,kernel,shmemfs,ratio"
	for m in rmw_mops:M/s scan_gbs:GB/s fault_ms:ms; do
		k=${m%%:*} u=${m#*:}
		a=$(raw_median kernel "$k") b=$(raw_median shmemfs "$k")
		if [ "$k" = fault_ms ]; then
			r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')
		else
			r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
		fi
		echo "$k,$u,$a,$b,$r"
	done
} > "$OUT/shm.csv"
cp "$WORK/raw.csv" "$OUT/shm-raw.csv"
{
	echo "SysV segment, ${MIB} MiB, $NPROC workers, ${SECS} s, median of $RUNS"
	echo
	printf '| %-28s | %10s | %10s | %6s |\n' workload kernel shmemfs ratio
	printf '| %-28s | %10s | %10s | %6s |\n' --- --- --- ---
	awk -F, 'NR > 1 {
		n = "attach + first touch (ms)"
		if ($1 == "rmw_mops") n = "random 8-byte RMW (M/s)"
		if ($1 == "scan_gbs") n = "sequential scan (GB/s)"
		printf "| %-28s | %10s | %10s | %6s |\n", n, $3, $4, $5 }' "$OUT/shm.csv"
} | tee "$OUT/shm.txt"
