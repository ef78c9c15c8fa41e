#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/profile.sh - where the time goes in issue 11's data-path goals,
# per FUSE transport: system-wide profiles of the workloads behind them.
#
#   bench/profile.sh [--out DIR] [--transports LIST] [--workloads LIST]
#                    [--mib N] [--secs S] [--daemon PATH]
#
# Mounts the release daemon (`make build`, build/shmemfs -o size=8g plus
# nouring or uring) and runs each workload once under `perf record -a -g`
# (999 Hz):
#   seqwrite   fio psync, 1 MiB writes of a new N-MiB file (default
#              2048), memwarm of 2N+64 MiB first (as bench/run.sh row 1)
#   coldread   fio psync, 1 MiB reads of that file after drop_caches=3
#   randwrite  fio psync, 4 KiB random writes into a 256 MiB file laid out
#              before, drop_caches=3 first, S seconds (default 5)
# --transports is a comma list of dev (/dev/fuse, -o nouring) and uring
# (FUSE over io_uring; the fuse module's enable_uring is turned on for
# the run and put back as it was, also after a failure); default both.
# --workloads: default all three.  Each workload runs on a kernel tmpfs
# (without perf) right before, for the ratio.  Each profile is summed up by
# bench/perfsum.py (self time of fio and of the daemon by kind: kernel
# FUSE, scheduling, copies, our code...; top symbols self and
# inclusive) into DIR/TRANSPORT-WORKLOAD.txt, with fio's own figure on
# the first line; DIR/TRANSPORT-WORKLOAD.data is perf's file.  Default
# DIR: bench/results/profile.  --daemon profiles another build's daemon
# (its symbols are told apart by the objects in its directory).  Needs
# root, perf and fio.

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
OUT="$BENCH_DIR/results/profile"
TRANSPORTS=dev,uring
WORKLOADS=seqwrite,coldread,randwrite
MIB=2048
SECS=5
DAEMON_BIN=""

extra_arg() {
	case "$1" in
	--transports) need_value "$@"; TRANSPORTS=$2; NSHIFT=2 ;;
	--workloads) need_value "$@"; WORKLOADS=$2; NSHIFT=2 ;;
	--mib) need_value "$@"; MIB=$2; NSHIFT=2 ;;
	--secs) need_value "$@"; SECS=$2; NSHIFT=2 ;;
	--daemon) need_value "$@"; DAEMON_BIN=$2; NSHIFT=2 ;;
	*) return 1 ;;
	esac
}
parse_args "$@"
positive_int "$MIB" --mib MiB
positive_int "$SECS" --secs seconds
need_root "mounts, drop_caches, perf -a"
command -v perf >/dev/null || die "needs perf (apt-get install linux-perf)"
command -v fio >/dev/null || die "needs fio (apt-get install fio)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/shmemfs-profile.XXXXXX)
PARAM=/sys/module/fuse/parameters/enable_uring
OLD_URING=""
cleanup_hook() {
	if [ -n "${PERF_PID:-}" ]; then
		kill -INT "$PERF_PID" 2>/dev/null
		wait "$PERF_PID" 2>/dev/null
	fi
	unmount_all
	if [ -n "$OLD_URING" ]; then echo "$OLD_URING" > "$PARAM"; fi
}
cleanup_at_exit

build_shmemfs
[ -z "$DAEMON_BIN" ] || DAEMON=$(realpath "$DAEMON_BIN")
gcc -O2 -Wall -o "$WORK/memwarm" "$BENCH_DIR/memwarm.c"

# profile NAME UNIT CMD...: CMD (a fio_job) with perf record -a -g
# running from a second before it starts to when it ends (the second
# is idle time and other processes, which the summary leaves out), then the summary;
# $MNT's daemon is $DPID
PERF_PID=""
profile() {
	local name=$1 unit=$2 bw io fig
	shift 2
	perf record -q -a -g -F 999 -o "$OUT/$name.data" > "$WORK/perf.log" 2>&1 &
	PERF_PID=$!
	sleep 1 # perf's start-up (reading every process's maps) off the clock
	read -r bw io < <("$@")
	kill -INT "$PERF_PID"
	wait "$PERF_PID" || true
	PERF_PID=""
	fig=$([ "$unit" = IOPS ] && echo "$io IOPS" || echo "$bw MB/s")
	if [ -n "${TMPFS[$name]:-}" ]; then
		fig="$fig, tmpfs ${TMPFS[$name]} just before, ratio $(awk \
			-v a="${fig%% *}" -v b="${TMPFS[$name]}" \
			'BEGIN { printf "%.2f", a / b }')"
	fi
	log "    $name: $fig"
	{
		echo "$name: $fig; load average $(cut -d' ' -f1-3 /proc/loadavg)"
		perf script -i "$OUT/$name.data" -F comm,pid,tid,period,ip,sym,dso \
			2> /dev/null |
			python3 "$BENCH_DIR/perfsum.py" --daemon "$DPID" \
				--workload fio --build "$(dirname "$DAEMON")"
	} > "$OUT/$name.txt"
}

# tmpfs_ref NAME UNIT CMD...: the same fio job on the kernel tmpfs (no
# perf), for the ratio on the summary's first line
declare -A TMPFS=()
tmpfs_ref() {
	local name=$1 unit=$2 bw io
	shift 2
	read -r bw io < <("$@")
	TMPFS[$name]=$([ "$unit" = IOPS ] && echo "$io" || echo "$bw")
}

# wants WORKLOAD: it is in --workloads
wants() { [[ ",$WORKLOADS," = *,$1,* ]]; }
mount_tmpfs "$WORK/tmpfs" size=8g

IFS=, read -r -a TL <<< "$TRANSPORTS"
for t in "${TL[@]}"; do
	case $t in
	dev) opt=nouring ;;
	uring)
		[ -w "$PARAM" ] || die "no io_uring transport: $PARAM is missing"
		[ -n "$OLD_URING" ] || OLD_URING=$(cat "$PARAM")
		echo Y > "$PARAM"
		opt=uring ;;
	*) die "--transports: unknown '$t'" ;;
	esac
	MNT=$WORK/mnt-$t
	mount_shmemfs "$MNT" "size=8g,$opt"
	DPID=$SHMEMFS_PID
	log "$t: shmemfs at $MNT (daemon $DPID)"
	if wants seqwrite || wants coldread; then
		for d in "$WORK/tmpfs" "$MNT"; do
			"$WORK/memwarm" $((2 * MIB + 64)) > /dev/null
			if [ "$d" != "$MNT" ]; then
				tmpfs_ref "$t-seqwrite" MB/s fio_job "$d" seq write 1M "$MIB" psync
			elif wants seqwrite; then
				profile "$t-seqwrite" MB/s fio_job "$d" seq write 1M "$MIB" psync
			else
				fio_job "$d" seq write 1M "$MIB" psync > /dev/null
			fi
		done
	fi
	if wants coldread; then
		drop_caches 3
		tmpfs_ref "$t-coldread" MB/s fio_job "$WORK/tmpfs" seq read 1M "$MIB" psync
		drop_caches 3
		profile "$t-coldread" MB/s fio_job "$MNT" seq read 1M "$MIB" psync
	fi
	rm -f "$MNT/seq" "$WORK/tmpfs/seq"
	wait_idle "$DPID" 60
	if wants randwrite; then
		for d in "$WORK/tmpfs" "$MNT"; do
			fio_job "$d" rand write 1M 256 psync > /dev/null
			drop_caches 3
			if [ "$d" = "$MNT" ]; then
				profile "$t-randwrite" IOPS fio_job "$d" rand randwrite 4k \
					256 psync --time_based --runtime="$SECS" \
					--randrepeat=1 --norandommap
			else
				tmpfs_ref "$t-randwrite" IOPS fio_job "$d" rand randwrite 4k \
					256 psync --time_based --runtime="$SECS" \
					--randrepeat=1 --norandommap
			fi
		done
		rm -f "$MNT/rand" "$WORK/tmpfs/rand"
	fi
	umount_shmemfs "$MNT" "$t"
	if [ "$t" = uring ]; then echo "$OLD_URING" > "$PARAM"; fi
done
log "summaries: $OUT/*.txt"
