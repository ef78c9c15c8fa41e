#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/swap.sh - write and re-read 4x a memory budget: shmemfs with
# mem=B and its own swap file, against kernel tmpfs in a memory cgroup
# limited to B with host swap.
#
#   bench/swap.sh [--quick] [--runs N] [--mem MIB] [--out DIR] [--no-verify]
#
# Per run and side: write 4B of random data (dd, 1 MiB blocks, from a
# file made once from /dev/urandom), then `sync; echo 1 > drop_caches`,
# then read it all back (dd to /dev/null, 1 MiB blocks).  shmemfs gets a
# fresh daemon every run (-o size=8B,mem=B,swap=/var/tmp/...,swapsize=8B);
# tmpfs (size=8g) gets a fresh cgroup with the memory limit B and
# unlimited swap, and dd runs inside it, so its pages go to host swap.
#
#   --quick      B = 64 MiB, 1 run (well under 3 minutes)
#   --runs N     runs per side (default 3; --quick sets 1 unless given)
#   --mem MIB    the budget B (default 256; --quick 64)
#   --out DIR    where swap.csv, swap.txt, swap.svg (chart) and
#                swap-raw.csv go
#                (default bench/results)
#   --no-verify  skip the untimed cmp of the shmemfs file against the
#                source after each run
#
# The tmpfs side needs a memory cgroup (v2 memory.max/memory.swap.max,
# or v1 memory.limit_in_bytes) and a host swap file: the script makes one
# (fallocate, mkswap, swapon) and removes it at exit.  If either is not
# possible, it says so and measures shmemfs alone.  Runs alternate: odd
# runs tmpfs first, even runs shmemfs first.  Needs root.  Runs
# `make build`.

set -Eeuo pipefail
shopt -s inherit_errexit 2>/dev/null || true

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

MEM_MB=""
VERIFY=1

extra_arg() {
	case "$1" in
	--mem) need_value "$@"; MEM_MB=$2; NSHIFT=2 ;;
	--mem=*) MEM_MB=${1#--mem=} ;;
	--no-verify) VERIFY=0 ;;
	*) return 1 ;;
	esac
}
parse_args "$@"

if [ -z "$MEM_MB" ]; then
	MEM_MB=256
	[ "$QUICK" = 1 ] && MEM_MB=64
fi
positive_int "$MEM_MB" --mem MiB

MIB=1048576
DATA_MB=$((4 * MEM_MB))          # what is written and read back
DATA_BYTES=$((DATA_MB * MIB))
SHM_SIZE_MB=$((8 * MEM_MB))      # shmemfs size= and swapsize=
HOST_SWAP_MB=8192                # host swap file for the tmpfs side
CG_NAME=shmemfs-bench

# ---- helpers (the rest are in lib.sh) -------------------------------------

vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# dd_rate: MB/s (10^6 bytes per second) from dd's summary line on stdin
dd_rate() {
	awk '/ copied, / { for (i = 1; i <= NF; i++) if ($i == "copied,") s = $(i + 1)
			  if (s > 0) printf "%.1f\n", $1 / s / 1e6; found = 1 }
	     END { exit !found }'
}
# dd_secs: seconds from dd's summary line on stdin
dd_secs() {
	awk '/ copied, / { for (i = 1; i <= NF; i++) if ($i == "copied,") print $(i + 1); found = 1 }
	     END { exit !found }'
}

# ---- results (as in run.sh) ------------------------------------------------

declare -a ROWS=()
declare -A UNIT=() KIND=() VALS=()

row() { # row LABEL UNIT KIND (hi, lo, or info: no ratio)
	ROWS+=("$1")
	UNIT[$1]=$2
	KIND[$1]=$3
}

add() { # add LABEL SIDE RUN VALUE
	local k=$1 side=$2 run=$3 v=$4
	case "$v" in
	''|*[!0-9.e+-]*) die "bad value '$v' for '$k' ($side)" ;;
	esac
	VALS[$k|$side]="${VALS[$k|$side]:-} $v"
	printf '%s,%s,%s,%s,%s\n' "$k" "${UNIT[$k]}" "$side" "$run" "$v" \
		>> "$RAW"
	log "      $side: $k = $v ${UNIT[$k]}"
}

fmt() {
	awk -v v="$1" 'BEGIN {
		if (v == "") { print "-"; exit }
		if (v == 0) { print "0"; exit }
		a = v < 0 ? -v : v
		if (a >= 100) printf "%.0f\n", v
		else if (a >= 10) printf "%.1f\n", v
		else printf "%.2f\n", v }'
}

report() {
	local k t s r unit kind w
	local csv="$OUT/swap.csv" txt="$OUT/swap.txt"

	{
		printf '\nwrite + re-read of %s MiB through a %s MiB budget: median of %s run(s)%s, %s\n' \
			"$DATA_MB" "$MEM_MB" "$RUNS" \
			"$([ "$QUICK" = 1 ] && echo ', --quick')" \
			"$(date '+%Y-%m-%d %H:%M')"
		printf 'shmemfs: mem=%sm, swap file in %s\n' "$MEM_MB" "$SWAPDIR"
		if [ "$TMPFS_OK" = 1 ]; then
			printf 'tmpfs: in a cgroup %s with a %s MiB memory limit, host swap file\n' \
				"$CG_VER" "$MEM_MB"
			printf 'ratio: higher is better for shmemfs, 1.00 = parity '
			printf '(MB/s: shmemfs/tmpfs; MiB, pages: tmpfs/shmemfs)\n\n'
			printf '%-42s %-6s %10s %10s %7s\n' workload unit tmpfs shmemfs ratio
		else
			printf 'tmpfs: comparison not possible on this machine: %s\n\n' \
				"$TMPFS_WHY"
			printf '%-42s %-6s %10s\n' workload unit shmemfs
		fi
	} > "$txt"
	echo "workload,unit,tmpfs,shmemfs,ratio" > "$csv"

	for k in "${ROWS[@]}"; do
		unit=${UNIT[$k]}
		kind=${KIND[$k]}
		t=""; s=""; r=""
		# shellcheck disable=SC2086
		[ -n "${VALS[$k|tmpfs]:-}" ] && t=$(median ${VALS[$k|tmpfs]})
		# shellcheck disable=SC2086
		[ -n "${VALS[$k|shmemfs]:-}" ] && s=$(median ${VALS[$k|shmemfs]})
		if [ -n "$t" ] && [ -n "$s" ]; then
			r=$(awk -v t="$t" -v s="$s" -v k="$kind" 'BEGIN {
				if (k == "lo") { if (s > 0) printf "%.3f", t / s }
				else if (k == "hi") { if (t > 0) printf "%.3f", s / t } }')
		fi
		w=$(awk -v r="$r" 'BEGIN { if (r != "") printf "%.2f", r }')
		if [ "$TMPFS_OK" = 1 ]; then
			printf '%-42s %-6s %10s %10s %7s\n' "$k" "$unit" \
				"$(fmt "$t")" "$(fmt "$s")" "$w" >> "$txt"
		else
			printf '%-42s %-6s %10s\n' "$k" "$unit" "$(fmt "$s")" >> "$txt"
		fi
		printf '%s,%s,%s,%s,%s\n' "$k" "$unit" "$t" "$s" "$r" >> "$csv"
	done
	if [ "${#WARNINGS[@]}" -gt 0 ]; then
		printf '\nwarnings:\n' >> "$txt"
		printf '  %s\n' "${WARNINGS[@]}" >> "$txt"
	fi
	cat "$txt"
	printf '\nCSV: %s\n' "$csv"
}

# ---- setup --------------------------------------------------------------

need_root "mount, swapon, cgroups, drop_caches"
for c in dd cmp fusermount3 mkswap swapon swapoff fallocate; do
	command -v "$c" >/dev/null || die "'$c' is missing"
done

build_shmemfs
{ [ -x "$DAEMON" ] && [ -x "$CTL" ]; } || die "build/shmemfs or build/shmemctl not built"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/swap-raw.csv"

# Swap files and the data file live on disk (not on a tmpfs /tmp).
SWAPDIR=/var/tmp
avail_mb=$(df -Pm "$SWAPDIR" | awk 'NR == 2 { print $4 }')
need_mb=$((DATA_MB + SHM_SIZE_MB + 1024))
[ "$avail_mb" -ge "$need_mb" ] ||
	die "$SWAPDIR has $avail_mb MiB free, need at least $need_mb MiB"
# host swap: 8 GiB if the disk has room, else just enough
if [ "$avail_mb" -lt $((need_mb + HOST_SWAP_MB + 4096)) ]; then
	HOST_SWAP_MB=$((2 * DATA_MB + 512))
fi

WORK=$(mktemp -d /tmp/shmemfs-swapbench.XXXXXX)
DATA="$SWAPDIR/shmemfs-bench.$$.data"
SHM_SWAP="$SWAPDIR/shmemfs-bench.$$.swap"
HOST_SWAP="$SWAPDIR/shmemfs-bench.$$.host-swap"
HOST_SWAP_ON=0
CG=""           # path of the cgroup while it exists
CG_VER=""       # v2 or v1
TMPFS_OK=0
TMPFS_WHY=""
MNT_T="$WORK/tmpfs"
MNT_S="$WORK/shmemfs"
DPID=""

# cg_kill: end what we put in the cgroup (only processes we started)
cg_kill() {
	local p
	[ -n "$CG" ] && [ -f "$CG/cgroup.procs" ] || return 0
	for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null || true
	done
}

cg_remove() {
	[ -n "$CG" ] || return 0
	cg_kill
	for _ in $(seq 50); do
		rmdir "$CG" 2>/dev/null && break
		sleep 0.1
	done
	[ -d "$CG" ] && warn "could not remove cgroup $CG"
	CG=""
}

# the cgroup's processes go before the mounts they may be using; the
# cgroup, host swap and files after them
cleanup_hook() {
	cg_kill
	unmount_all
	cg_remove
	if [ "$HOST_SWAP_ON" = 1 ]; then
		swapoff "$HOST_SWAP" || log "swap.sh: warning: swapoff $HOST_SWAP failed"
	fi
	rm -f "$HOST_SWAP" "$SHM_SWAP" "$DATA"
}
cleanup_at_exit

mkdir -p "$MNT_T" "$MNT_S"
echo "workload,unit,fs,run,value" > "$RAW"

# ---- can the tmpfs side run here? ------------------------------------------

# The cgroup: v2 with the memory controller, else the v1 memory hierarchy.
CG_BASE=""
if [ -f /sys/fs/cgroup/cgroup.controllers ] &&
   grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
	CG_VER=v2
	CG_BASE=/sys/fs/cgroup
	if ! grep -qw memory "$CG_BASE/cgroup.subtree_control"; then
		echo +memory > "$CG_BASE/cgroup.subtree_control" 2>/dev/null ||
			{ CG_BASE=""; TMPFS_WHY="cannot enable the cgroup v2 memory controller"; }
	fi
elif [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
	CG_VER=v1
	CG_BASE=/sys/fs/cgroup/memory
else
	TMPFS_WHY="no memory cgroup controller (neither v2 nor v1)"
fi
# a leftover from an earlier run that was killed hard
[ -n "$CG_BASE" ] && [ -d "$CG_BASE/$CG_NAME" ] && rmdir "$CG_BASE/$CG_NAME" 2>/dev/null

# cg_create: a fresh cgroup limited to B with unlimited swap
# (explicit returns: it also runs as an `if` condition, without set -e)
cg_create() {
	CG="$CG_BASE/$CG_NAME"
	mkdir "$CG" || return 1
	if [ "$CG_VER" = v2 ]; then
		echo $((MEM_MB * MIB)) > "$CG/memory.max" || return 1
		if [ -f "$CG/memory.swap.max" ]; then
			echo max > "$CG/memory.swap.max" || return 1
		fi
	else
		echo $((MEM_MB * MIB)) > "$CG/memory.limit_in_bytes" || return 1
		# memsw stays unlimited; a swappiness of 0 would mean OOM
		echo 60 > "$CG/memory.swappiness" || return 1
	fi
}
cg_peak() { # bytes, or nothing if the kernel does not keep a peak
	if [ "$CG_VER" = v2 ]; then cat "$CG/memory.peak" 2>/dev/null || true
	else cat "$CG/memory.max_usage_in_bytes"; fi
}

if [ -n "$CG_BASE" ]; then
	# Does the controller work here at all?
	if ! (cg_create) 2>/dev/null; then
		TMPFS_WHY="cannot create a memory cgroup under $CG_BASE"
		CG_BASE=""
	fi
	rmdir "$CG_BASE/$CG_NAME" 2>/dev/null || true
fi

if [ -n "$CG_BASE" ]; then
	log "enabling host swap: $HOST_SWAP (${HOST_SWAP_MB} MiB)..."
	if fallocate -l "${HOST_SWAP_MB}M" "$HOST_SWAP" 2>"$WORK/swapon.err" &&
	   chmod 600 "$HOST_SWAP" &&
	   mkswap -q "$HOST_SWAP" >/dev/null 2>>"$WORK/swapon.err" &&
	   swapon "$HOST_SWAP" 2>>"$WORK/swapon.err"; then
		HOST_SWAP_ON=1
		TMPFS_OK=1
	else
		TMPFS_WHY="swapon failed: $(tr '\n' ' ' < "$WORK/swapon.err")"
		rm -f "$HOST_SWAP"
	fi
fi
if [ "$TMPFS_OK" = 1 ]; then
	log "tmpfs side: cgroup $CG_VER at $CG_BASE/$CG_NAME, memory limit $MEM_MB MiB, swap unlimited"
else
	log "swap.sh: kernel tmpfs comparison not possible on this machine: $TMPFS_WHY"
	log "swap.sh: measuring shmemfs only"
fi

# ---- the data ----------------------------------------------------------------

log "making $DATA_MB MiB of random data in $DATA..."
head -c "$DATA_BYTES" /dev/urandom > "$DATA"
# warm_data: keep the source in the page cache, read (and so charged)
# outside the benchmark cgroup; drop_caches drops it
warm_data() { cat "$DATA" > /dev/null; }

# ---- rows ---------------------------------------------------------------------

K_W="write ${DATA_MB}M (1M blocks)"
K_WF="write ${DATA_MB}M + fsync of swap file"
K_R="read ${DATA_MB}M cold (1M blocks)"
K_PEAK="peak memory: cgroup peak / daemon VmHWM"
K_OUT="swap-outs (write + read)"
K_IN="swap-ins (read)"
K_PC="swap file in host page cache after write"
row "$K_W" MB/s hi
row "$K_WF" MB/s hi
row "$K_R" MB/s hi
row "$K_PEAK" MiB lo
row "$K_OUT" pages lo
row "$K_IN" pages lo
row "$K_PC" MiB info

# ---- one run of each side -------------------------------------------------------

# wait_quiet: until the shmemfs daemon stops using CPU (its background
# reclaimer may still be writing pages out after dd has returned)
wait_quiet() { wait_idle "$DPID" 30; }

stat_json() { # stat_json KEY
	"$CTL" stats "$MNT_S" --json |
		awk -v k="\"$1\":" '$1 == k { gsub(/,/, "", $2); print $2 }'
}

run_tmpfs() {
	local run=$1 out w_s r pout0 pin0 pout1 pin1 pout2 pin2 peak used
	warm_data
	cg_create
	mount_tmpfs "$MNT_T" size=8g
	pout0=$(vmstat pswpout); pin0=$(vmstat pswpin)
	out=$( (echo "$BASHPID" > "$CG/cgroup.procs" &&
		exec env LC_ALL=C dd if="$DATA" of="$MNT_T/data" bs=1M) 2>&1) ||
		die "tmpfs: dd write failed in the cgroup: $out"
	w_s=$(dd_rate <<< "$out")
	pout1=$(vmstat pswpout); pin1=$(vmstat pswpin)
	drop_caches 1
	out=$( (echo "$BASHPID" > "$CG/cgroup.procs" &&
		exec env LC_ALL=C dd if="$MNT_T/data" of=/dev/null bs=1M) 2>&1) ||
		die "tmpfs: dd read failed in the cgroup: $out"
	r=$(dd_rate <<< "$out")
	pout2=$(vmstat pswpout); pin2=$(vmstat pswpin)
	peak=$(cg_peak)
	used=$(awk -v f="$HOST_SWAP" '$1 == f { print $4 }' /proc/swaps)
	log "      tmpfs: swap-outs write $((pout1 - pout0)), read $((pout2 - pout1)); swap-ins write $((pin1 - pin0)), read $((pin2 - pin1)); host swap used after read ${used} KiB"
	add "$K_W" tmpfs "$run" "$w_s"
	# the kernel's swap-out goes to the swap device, not the page cache
	add "$K_WF" tmpfs "$run" "$w_s"
	add "$K_R" tmpfs "$run" "$r"
	if [ -n "$peak" ]; then add "$K_PEAK" tmpfs "$run" "$(mb "$peak")"; fi
	add "$K_OUT" tmpfs "$run" $((pout2 - pout0))
	add "$K_IN" tmpfs "$run" $((pin2 - pin0))
	add "$K_PC" tmpfs "$run" 0
	umount_tmpfs "$MNT_T"
	cg_remove
}

run_shmemfs() {
	local run=$1 out w_s w_secs f0 f1 r so1 si1 so2 si2 hwm hwm2 pc
	warm_data
	rm -f "$SHM_SWAP"
	: > "$WORK/daemon.log"
	mount_shmemfs "$MNT_S" \
		"size=${SHM_SIZE_MB}m,mem=${MEM_MB}m,swap=$SHM_SWAP,swapsize=${SHM_SIZE_MB}m"
	DPID=$SHMEMFS_PID

	out=$(LC_ALL=C dd if="$DATA" of="$MNT_S/data" bs=1M 2>&1) ||
		die "shmemfs: dd write failed: $out"
	w_s=$(dd_rate <<< "$out")
	w_secs=$(dd_secs <<< "$out")
	# how much of the swap file sits in the host page cache (dirty or
	# not): swapped data that has not left RAM yet
	pc=""
	if command -v fincore >/dev/null; then
		pc=$(fincore -b -n -o RES "$SHM_SWAP" 2>/dev/null | awk '{ print $1 }')
	fi
	f0=$(now)
	sync "$SHM_SWAP"
	f1=$(now)
	so1=$(stat_json swapouts); si1=$(stat_json swapins)
	wait_quiet
	drop_caches 1
	out=$(LC_ALL=C dd if="$MNT_S/data" of=/dev/null bs=1M 2>&1) ||
		die "shmemfs: dd read failed: $out"
	r=$(dd_rate <<< "$out")
	so2=$(stat_json swapouts); si2=$(stat_json swapins)
	hwm=$(status_kb "$DPID" VmHWM)
	log "      shmemfs: swap-outs write $so1, read $((so2 - so1)); swap-ins write $si1, read $((si2 - si1)); resident $(mb "$(stat_json resident_bytes)") MiB, swapped $(mb "$(stat_json swapped_bytes)") MiB, swap file $(du -m "$SHM_SWAP" | cut -f1) MiB on disk"
	add "$K_W" shmemfs "$run" "$w_s"
	add "$K_WF" shmemfs "$run" "$(awk -v b="$DATA_BYTES" -v w="$w_secs" \
		-v a="$f0" -v z="$f1" 'BEGIN { printf "%.1f", b / (w + z - a) / 1e6 }')"
	add "$K_R" shmemfs "$run" "$r"
	add "$K_PEAK" shmemfs "$run" "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
	add "$K_OUT" shmemfs "$run" "$so2"
	add "$K_IN" shmemfs "$run" "$si2"
	if [ -n "$pc" ]; then add "$K_PC" shmemfs "$run" "$(mb "$pc")"; fi
	if [ $((hwm / 1024)) -gt $((MEM_MB + MEM_MB / 4 + 16)) ]; then
		warn "run $run: shmemfs daemon peak RSS $((hwm / 1024)) MiB with mem=${MEM_MB}m"
	fi

	if [ "$VERIFY" = 1 ]; then
		drop_caches 1
		warm_data
		if cmp -s "$DATA" "$MNT_S/data"; then
			log "      shmemfs: data verified (cmp)"
		else
			warn "run $run: shmemfs file differs from the data written (cmp)"
		fi
		hwm2=$(status_kb "$DPID" VmHWM)
		if [ "$hwm2" -gt $((hwm + 1024)) ]; then
			log "      shmemfs: VmHWM after the verify pass: $((hwm2 / 1024)) MiB"
		fi
	fi

	rm -f "$MNT_S/data"
	umount_shmemfs "$MNT_S" "run $run"
	DPID=""
	if [ -s "$WORK/daemon.log" ]; then
		warn "run $run: shmemfs daemon log: $(head -c 300 "$WORK/daemon.log" | tr '\n' ' ')"
	fi
	if [ -e "$SHM_SWAP" ]; then
		warn "run $run: shmemfs left its swap file $SHM_SWAP after unmount"
		rm -f "$SHM_SWAP"
	fi
}

sides() {
	if [ "$TMPFS_OK" != 1 ]; then echo shmemfs
	elif [ $(($1 % 2)) = 1 ]; then echo "tmpfs shmemfs"
	else echo "shmemfs tmpfs"; fi
}

T_START=$(date +%s)
log "budget ${MEM_MB} MiB, data ${DATA_MB} MiB, ${RUNS} run(s); load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for run in $(seq "$RUNS"); do
	for side in $(sides "$run"); do
		log ""
		log "[run $run/$RUNS] $side  (+$(( $(date +%s) - T_START )) s)"
		"run_$side" "$run"
	done
done

report
"$BENCH_DIR/plot.sh" "$OUT/swap.csv" "$OUT/swap.svg" \
	"shmemfs swap vs kernel tmpfs with host swap (ratio; 1 = parity)" >&2
log "total time $(( $(date +%s) - T_START )) s; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
