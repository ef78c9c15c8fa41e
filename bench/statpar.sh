#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/statpar.sh - metadata calls in parallel: one and two processes
# (and threads in process), each in a directory of its own, for REF's
# code ("before") and this tree's ("after"), against kernel tmpfs in
# the same run.
#
#   bench/statpar.sh [--quick] [--runs N] [--out DIR] [--before REF]
#                    [--after REF] [--count N] [--ops LIST]
#
# --ops is a comma list of stat, create and unlink (default stat; run
# in the order create, stat, unlink whatever order is given).  Through
# the mount, for each phase of LIST in turn, each process runs
# bench/metaops.c's phase on N files (default 50000, 20000 with
# --quick): create is openat(O_CREAT|O_EXCL) + close, stat fstatat,
# unlink unlinkat.  The rate of a phase is all processes' operations
# over the time from the first one's start to the last one's end.
# Files a pass does not create are made before the runs, and a pass
# leaves its directory as it found it (untimed).  For
# stat without create the daemon's long entry timeout would answer from
# the kernel's dentry cache, so the dentries are dropped (drop_caches=2)
# before each pass and a second's pause lets the daemons answer the
# FORGETs: every stat then costs a FUSE LOOKUP (tmpfs keeps its dentries:
# they are its storage).  Before each pass the script also waits for the
# daemons to go idle (the FORGETs of the last pass's unlinks).
#
# In process, bench/parallel.c's metadata mode runs 1 and 2 threads,
# each in a directory of its own, compiled with REF's core and with this
# tree's (libshmemfs, no FUSE), against the same system calls on the
# kernel tmpfs (create: shmemfs_mknod vs mknodat, stat: lookup +
# getattr + forget vs fstatat, unlink: shmemfs_unlink + forget vs
# unlinkat); 4N files per thread (the library is some 50 times faster
# than a FUSE round trip).
#
# The sides take turns within each run, in a rotating order.  The
# tables give the median aggregate operations per second (processes or
# threads together) and the ratio to kernel tmpfs with as many of them.
# "before" is REF's daemon and core (default: main), built under the
# work directory; "after" is this tree's, or with --after another
# commit's, built the same way.  Both daemons run with nouring (libfuse's
# multithreaded loop).  Needs root.  Table: DIR/latest.txt (default DIR:
# bench/results/statpar).

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
OUT="$BENCH_DIR/results/statpar"
BEFORE=main
AFTER=""
COUNT=""
OPS=stat

extra_arg() {
	case "$1" in
	--before) need_value "$@"; BEFORE=$2; NSHIFT=2 ;;
	--after) need_value "$@"; AFTER=$2; NSHIFT=2 ;;
	--count) need_value "$@"; COUNT=$2; NSHIFT=2 ;;
	--ops) need_value "$@"; OPS=$2; NSHIFT=2 ;;
	*) return 1 ;;
	esac
}
parse_args "$@"
[ -n "$COUNT" ] || COUNT=$([ "$QUICK" = 1 ] && echo 20000 || echo 50000)
positive_int "$COUNT" --count
LIB_COUNT=$((4 * COUNT))

# has OP: OP is in --ops
has() { case ",$OPS," in *,"$1",*) return 0 ;; esac; return 1; }
for op in ${OPS//,/ }; do
	case $op in stat|create|unlink) ;; *) die "--ops: unknown '$op'" ;; esac
done
# the phases in metaops's order
PHASES=$(for op in create stat unlink; do
	if has "$op"; then echo "$op"; fi
done | paste -sd,)
[ -n "$PHASES" ] || die "--ops: nothing to do"

need_root "mounts"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/shmemfs-statpar.XXXXXX)
cleanup_at_exit

if [ -n "$AFTER" ]; then
	build_ref "$AFTER" "$WORK/after"
	AFTER_TREE=$WORK/after
	AFTER_DAEMON=$AFTER_TREE/build/shmemfs
else
	build_shmemfs
	AFTER_TREE=$ROOT
	AFTER_DAEMON=$DAEMON
	AFTER=$(git -C "$ROOT" rev-parse --short HEAD)
fi
build_ref "$BEFORE" "$WORK/before"
BEFORE_DAEMON=$WORK/before/build/shmemfs
gcc -O2 -Wall -o "$WORK/metaops" "$BENCH_DIR/metaops.c"
core_cc "$WORK/before" "$WORK/par-before" "$BENCH_DIR/parallel.c" -O2 -DNDEBUG
core_cc "$AFTER_TREE" "$WORK/par-after" "$BENCH_DIR/parallel.c" -O2 -DNDEBUG

# metaops_all MNT P PHASE: `metaops -T -p PHASE` in each of MNT/s1..sP
# at once; prints the aggregate rate: the processes' operations over the
# time from the first one's start to the last one's end
metaops_all() {
	local mnt=$1 p=$2 phase=$3 i pids=()
	for i in $(seq "$p"); do
		"$WORK/metaops" -T -p "$phase" "$mnt/s$i" "$COUNT" > "$WORK/out.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	awk -v n=$((p * COUNT)) 'NR == 1 || $3 < s { s = $3 }
		NR == 1 || $4 > e { e = $4 } END { printf "%.0f\n", n / (e - s) }' \
		$(seq -f "$WORK/out.%g" "$p")
}

# pass MNT P: one timed pass of P processes, each phase of --ops in turn
# by all of them at once; prints "PHASE RATE" lines
pass() {
	local mnt=$1 p=$2 pid ph
	for ph in ${PHASES//,/ }; do
		if [ "$ph" = stat ] && ! has create; then
			drop_caches 2
			sleep 1 # the daemons' FORGETs of the dropped entries
		fi
		for pid in "${FUSE_PIDS[@]}"; do wait_idle "$pid" 10; done
		echo "$ph $(metaops_all "$mnt" "$p" "$ph")"
	done
	# leave the files as they were before the pass (present unless the
	# pass creates them)
	if has create && ! has unlink; then
		metaops_all "$mnt" "$p" unlink > /dev/null
	elif has unlink && ! has create; then
		metaops_all "$mnt" "$p" create > /dev/null
	fi
}

# inproc SIDE T: bench/parallel.c's metadata mode with T threads
inproc() {
	if [ "$1" = kernel ]; then
		"$WORK/par-after" metasys "$WORK/mnt-kernel/lib" "$2" "$LIB_COUNT"
	else
		"$WORK/par-$1" meta "$2" "$LIB_COUNT"
	fi
}

declare -A RES=() VALS=()
for side in kernel before after; do
	MNT=$WORK/mnt-$side
	case $side in
	kernel) mount_tmpfs "$MNT" "size=1g"; mkdir "$MNT/lib" ;;
	before) DAEMON=$BEFORE_DAEMON; mount_shmemfs "$MNT" "size=1g,nouring" ;;
	after) DAEMON=$AFTER_DAEMON; mount_shmemfs "$MNT" "size=1g,nouring" ;;
	esac
	for i in 1 2; do
		mkdir "$MNT/s$i"
		has create || "$WORK/metaops" -p create "$MNT/s$i" "$COUNT" > /dev/null
	done
done
# add KEY OUTPUT: append each "PHASE VALUE" line of OUTPUT to VALS[KEY,PHASE]
add() {
	local ph v
	while read -r ph v; do VALS[$1,$ph]+=" $v"; done <<< "$2"
}
# the sides take turns within each run (the order rotates), so that the
# load of a shared machine falls on all of them alike
for run in $(seq "$RUNS"); do
	log "round $run of $RUNS..."
	case $((run % 3)) in
	1) order="kernel before after" ;;
	2) order="after kernel before" ;;
	0) order="before after kernel" ;;
	esac
	for p in 1 2; do
		for side in $order; do
			add "mount,$side,$p" "$(pass "$WORK/mnt-$side" "$p")"
		done
	done
	for p in 1 2; do
		for side in $order; do
			add "lib,$side,$p" "$(inproc "$side" "$p")"
		done
	done
done
for where in mount lib; do
	for side in kernel before after; do
		for p in 1 2; do
			for ph in ${PHASES//,/ }; do
				k=$where,$side,$p,$ph
				# shellcheck disable=SC2086
				RES[$k]=$(median ${VALS[$k]})
				log "$where $side, $p, $ph:${VALS[$k]}"
			done
		done
	done
done
for side in kernel before after; do
	if [ "$side" = kernel ]; then
		umount_tmpfs "$WORK/mnt-$side"
	else
		umount_shmemfs "$WORK/mnt-$side" "$side"
	fi
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
DROPNOTE=""
if has stat && ! has create; then DROPNOTE=", dentries dropped before each pass"; fi

{
	printf 'metadata in parallel, a directory per process or thread, %s files each, median of %s\n' \
		"$COUNT" "$RUNS"
	printf 'before = %s, after = %s; aggregate ops/s (ratio to kernel tmpfs with as many processes/threads)\n' \
		"$BEFORE" "$AFTER"
	for where in mount lib; do
		if [ "$where" = mount ]; then
			printf '\nthrough the mount (metaops processes, nouring%s)\n' "$DROPNOTE"
		else
			printf '\nin process (libshmemfs threads, %s files each; tmpfs: the same system calls)\n' "$LIB_COUNT"
		fi
		printf '%-8s %4s %10s %10s %7s %10s %7s\n' phase n tmpfs before ratio after ratio
		for ph in ${PHASES//,/ }; do
			for p in 1 2; do
				t=${RES[$where,kernel,$p,$ph]}
				b=${RES[$where,before,$p,$ph]}
				a=${RES[$where,after,$p,$ph]}
				printf '%-8s %4s %10.0f %10.0f %7s %10.0f %7s\n' \
					"$ph" "$p" "$t" "$b" "$(ratio "$b" "$t")" \
					"$a" "$(ratio "$a" "$t")"
			done
		done
		for ph in ${PHASES//,/ }; do
			printf '%s scaling 2/1:' "$ph"
			for side in kernel before after; do
				printf ' %s %s' "$side" "$(ratio \
					"${RES[$where,$side,2,$ph]}" "${RES[$where,$side,1,$ph]}")"
			done
			echo
		done
	done
	printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/latest.txt"
