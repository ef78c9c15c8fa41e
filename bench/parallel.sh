#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/parallel.sh - issue 11's finer locking: one and two threads, each
# on a file of its own, in process and through the mount, before and
# after the data path copied without the mount lock, against kernel
# tmpfs in the same run.
#
#   bench/parallel.sh [--quick] [--runs N] [--out DIR] [--before REF]
#                     [--mib N] [--mount-opts OPTS]
#
# bench/parallel.c does the work (write new files, overwrite them, read
# them back; 128 KiB requests; N MiB per thread, default 128, 64 with
# --quick).  "before" is the core and daemon of REF (default ee56787, the
# last commit whose every call held the mount lock throughout), built
# under the work directory; "after" is this tree.  Each configuration
# runs --runs times (default 3, 1 with --quick), alternating, and the
# table gives medians in MB/s, each shmemfs number also as a ratio to
# kernel tmpfs with as many threads, and how much CPU the daemon used
# while it served two threads (over 100% means its requests ran on both
# cores at once).  Needs root (mounts).  Table: DIR/latest.txt (default
# DIR: bench/results/parallel).  --mount-opts adds shmemfs options to
# both mounts; with "uring" the fuse module's enable_uring parameter is
# turned on for the run and restored (as bench/transports.sh does).

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/lib.sh"
OUT="$BENCH_DIR/results/parallel"
BEFORE=ee56787
MIB=""
MOPTS=""

extra_arg() {
	case "$1" in
	--before) need_value "$@"; BEFORE=$2; NSHIFT=2 ;;
	--mib) need_value "$@"; MIB=$2; NSHIFT=2 ;;
	--mount-opts) need_value "$@"; MOPTS=",$2"; NSHIFT=2 ;;
	*) return 1 ;;
	esac
}
parse_args "$@"
[ -n "$MIB" ] || MIB=$([ "$QUICK" = 1 ] && echo 64 || echo 128)
positive_int "$MIB" --mib MiB
need_root "mounts"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/shmemfs-parallel.XXXXXX)
cleanup_at_exit

build_shmemfs
AFTER_DAEMON=$DAEMON
build_ref "$BEFORE" "$WORK/before"
BEFORE_DAEMON=$WORK/before/build/shmemfs
core_cc "$WORK/before" "$WORK/par-before" "$BENCH_DIR/parallel.c" -O2 -DNDEBUG
core_cc "$ROOT" "$WORK/par-after" "$BENCH_DIR/parallel.c" -O2 -DNDEBUG

PARAM=/sys/module/fuse/parameters/enable_uring
case ",$MOPTS," in
*,uring,*)
	[ -w "$PARAM" ] || die "-o uring: this kernel has no $PARAM"
	OLD_URING=$(cat "$PARAM")
	cleanup_hook() { unmount_all; echo "$OLD_URING" > "$PARAM"; }
	echo Y > "$PARAM" ;;
esac
mount_tmpfs "$WORK/tmpfs" "size=4g"
DAEMON=$BEFORE_DAEMON mount_shmemfs "$WORK/mnt-before" "size=4g$MOPTS"
DAEMON=$AFTER_DAEMON mount_shmemfs "$WORK/mnt-after" "size=4g$MOPTS"
declare -A PID=([before]=${FUSE_PIDS[$WORK/mnt-before]}
		[after]=${FUSE_PIDS[$WORK/mnt-after]})
: > "$WORK/raw.csv"

# one SIDE RUN: every configuration of SIDE (tmpfs, before, after) once;
# rows SIDE,RUN,KEY,VALUE with KEY "WHERE THREADS PHASE" or "cpu ..."
one() {
	local side=$1 run=$2 t where out t0 t1 c0 c1
	for t in 1 2; do
		for where in lib mount; do
			if [ "$side" = tmpfs ]; then
				[ "$where" = mount ] || continue
				out=$("$WORK/par-after" sys "$WORK/tmpfs" "$t" "$MIB")
			elif [ "$where" = lib ]; then
				out=$("$WORK/par-$side" lib "$t" "$MIB")
			else
				c0=$(cpu_ticks "${PID[$side]}"); t0=$(now)
				out=$("$WORK/par-after" sys "$WORK/mnt-$side" "$t" "$MIB")
				c1=$(cpu_ticks "${PID[$side]}"); t1=$(now)
				echo "$side,$run,cpu $t,$(awk -v c=$((c1 - c0)) \
					-v hz="$(getconf CLK_TCK)" -v s="$t0" -v e="$t1" \
					'BEGIN { printf "%.0f", 100 * c / hz / (e - s) }')" \
					>> "$WORK/raw.csv"
			fi
			[ "$side" = tmpfs ] && where=mount
			echo "$out" | awk -v s="$side" -v r="$run" -v w="$where" -v t="$t" \
				'{ printf "%s,%s,%s %s %s,%s\n", s, r, w, t, $1, $2 }' \
				>> "$WORK/raw.csv"
		done
	done
}

for run in $(seq "$RUNS"); do
	log "round $run of $RUNS..."
	if [ $((run % 2)) = 1 ]; then
		one tmpfs "$run"; one before "$run"; one after "$run"
	else
		one after "$run"; one before "$run"; one tmpfs "$run"
	fi
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

{
	printf '\nparallel: %s MiB per thread, 128 KiB requests, median of %s; MB/s (ratio to kernel tmpfs, same threads)\n' \
		"$MIB" "$RUNS"
	printf 'before = %s (one mount lock), after = %s; mount options size=4g%s\n' \
		"$BEFORE" "$(git -C "$ROOT" rev-parse --short HEAD)" "$MOPTS"
	printf '%-16s %3s %16s %16s %10s\n' case thr before after tmpfs
	for where in lib mount; do
		for phase in write overwrite read; do
			for t in 1 2; do
				k="$where $t $phase"
				tm=$(raw_median tmpfs "mount $t $phase")
				b=$(raw_median before "$k"); a=$(raw_median after "$k")
				printf '%-16s %3s %8.0f (%5s) %8.0f (%5s) %10.0f\n' \
					"$where $phase" "$t" "$b" "$(ratio "$b" "$tm")" \
					"$a" "$(ratio "$a" "$tm")" "$tm"
			done
		done
	done
	printf '%-16s %3s %15s%% %15s%%\n' "daemon CPU use" 2 \
		"$(raw_median before 'cpu 2')" "$(raw_median after 'cpu 2')"
	printf 'scaling 2 threads / 1 thread (mount): before read %s write %s, after read %s write %s; tmpfs read %s write %s\n' \
		"$(ratio "$(raw_median before 'mount 2 read')" "$(raw_median before 'mount 1 read')")" \
		"$(ratio "$(raw_median before 'mount 2 overwrite')" "$(raw_median before 'mount 1 overwrite')")" \
		"$(ratio "$(raw_median after 'mount 2 read')" "$(raw_median after 'mount 1 read')")" \
		"$(ratio "$(raw_median after 'mount 2 overwrite')" "$(raw_median after 'mount 1 overwrite')")" \
		"$(ratio "$(raw_median tmpfs 'mount 2 read')" "$(raw_median tmpfs 'mount 1 read')")" \
		"$(ratio "$(raw_median tmpfs 'mount 2 overwrite')" "$(raw_median tmpfs 'mount 1 overwrite')")"
	printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/latest.txt"
