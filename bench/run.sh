#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - shmemfs against kernel tmpfs, side by side.
#
#   bench/run.sh [--quick] [--runs N] [--out DIR] [--only LIST] [--perf]
#
# Mounts a fresh kernel tmpfs and a fresh shmemfs (build/shmemfs) under a
# temporary directory, runs each workload on both, alternating (odd runs
# tmpfs first, even runs shmemfs first), N runs each, and prints the
# medians and the ratio.  Ratios are "higher is better for shmemfs":
# shmemfs/tmpfs for throughputs, tmpfs/shmemfs for bytes per file.
# 1.0 is parity.
#
#   --quick      1 run, smaller sizes (about 1.5 minutes)
#   --runs N     runs per workload (default 3; --quick sets 1 unless given)
#   --out DIR    where latest.csv, latest.txt, latest.svg (the ratios as
#                a chart) and raw.csv go
#                (default bench/results)
#   --only LIST  comma list of workloads to run: 1..9 and rss
#                (default all)
#   --perf       also profile the daemon (perf record -g) during a
#                sequential write and a create phase; reports in DIR
#   --mount-opts OPTS  more shmemfs mount options (e.g. uring, nouring:
#                the FUSE transport; bench/transports.sh runs both)
#   --tag TAG    appended to every row label (e.g. " [uring]")
#
# Needs root (mount, drop_caches).  Installs fio (and perf with --perf)
# with apt-get if missing, and builds with `make build`.
#
# Workloads:
#   1 sequential write, 1 MiB blocks (fio psync), fresh mount and
#     again after rm of the first file                           MB/s
#   2 sequential read, 1 MiB blocks, after drop_caches (fio psync) MB/s
#   3 4 KiB random read/write, psync and mmap, time based (fio)    IOPS
#   4 create/stat/unlink of many files, one dir and a tree         ops/s
#   5 readdir of the one-dir case (opendir/readdir, 3 passes)      entries/s
#   6 untar and rm -rf of a tree of small files                    files/s
#   7 memcpy bandwidth of the machine (ceiling, no ratio)          GB/s
#   8 libshmemfs in process vs the same calls on tmpfs             ops/s, MB/s
#   9 huge=always on both sides: sequential write, cold read, 4 KiB
#     random write (fio), the library's sequential write, and the
#     page index's memory per GiB of file with and without folios
#   rss  memory per empty file: daemon VmRSS delta and kernel slab delta

set -Eeuo pipefail
shopt -s inherit_errexit 2>/dev/null || true

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

ONLY="1,2,3,4,5,6,7,8,9,rss"
PERF=0
XOPTS=""
TAG=""

extra_arg() {
	case "$1" in
	--only) need_value "$@"; ONLY=$2; NSHIFT=2 ;;
	--only=*) ONLY=${1#--only=} ;;
	--perf) PERF=1 ;;
	--mount-opts) need_value "$@"; XOPTS=",$2"; NSHIFT=2 ;;
	--tag) need_value "$@"; TAG=$2; NSHIFT=2 ;;
	*) return 1 ;;
	esac
}
parse_args "$@"

if [ "$QUICK" = 1 ]; then
	SEQ_MB=256        # sequential file size
	RAND_MB=64        # random I/O file size
	RAND_SECS=2       # random I/O run time
	META_N=20000      # files for create/stat/unlink and readdir
	TREE_DIRS=20      # ... spread over this many dirs in the tree case
	TAR_FILES=5000    # files in the tarball
	LIB_N=20000       # files for the library benchmark
	LIB_MB=256        # MiB for the library benchmark
	RSS_N=20000       # empty files for the memory-per-file measure
else
	SEQ_MB=1024
	RAND_MB=256
	RAND_SECS=5
	META_N=100000
	TREE_DIRS=100
	TAR_FILES=20000
	LIB_N=100000
	LIB_MB=1024
	RSS_N=100000
fi
READDIR_PASSES=3
MOUNT_SIZE=4g

# ---- helpers (the rest are in lib.sh) -------------------------------------

selected() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

# ---- results ------------------------------------------------------------
# Each row has a key (the workload label), a unit, a kind ("hi": higher
# is better, ratio shmemfs/tmpfs; "lo": lower is better, ratio
# tmpfs/shmemfs; "one": a single machine value, no ratio) and the values
# of every run for each side.

declare -a ROWS=()
declare -A UNIT=() KIND=() VALS=()

row() { # row LABEL UNIT KIND
	local k=$1$TAG
	if [ -z "${UNIT[$k]+x}" ]; then
		ROWS+=("$k")
		UNIT[$k]=$2
		KIND[$k]=$3
	fi
}

add() { # add LABEL SIDE RUN VALUE
	local k=$1$TAG side=$2 run=$3 v=$4
	case "$v" in
	''|*[!0-9.e+-]*) die "bad value '$v' for '$k' ($side)" ;;
	esac
	VALS[$k|$side]="${VALS[$k|$side]:-} $v"
	printf '%s,%s,%s,%s,%s\n' "$k" "${UNIT[$k]}" "$side" "$run" "$v" \
		>> "$RAW"
	log "      $side: $v ${UNIT[$k]}"
}

fmt() { # human formatting of a number
	awk -v v="$1" 'BEGIN {
		if (v == "") { print ""; exit }
		a = v < 0 ? -v : v
		if (a >= 100) printf "%.0f\n", v
		else if (a >= 10) printf "%.1f\n", v
		else printf "%.2f\n", v }'
}

# spread KIND "TMPFS VALUES" "SHMEMFS VALUES": "LOW-HIGH" of the per-run
# ratios (values in run order), or nothing with fewer than two runs
spread() {
	awk -v k="$1" -v t="$2" -v s="$3" 'BEGIN {
		n = split(t, a, " "); m = split(s, b, " ")
		if (m < n) n = m
		if (n < 2) exit
		for (i = 1; i <= n; i++) {
			if (k == "lo") r = b[i] > 0 ? a[i] / b[i] : 0
			else r = a[i] > 0 ? b[i] / a[i] : 0
			if (i == 1 || r < lo) lo = r
			if (i == 1 || r > hi) hi = r
		}
		printf "%.2f-%.2f", lo, hi }'
}

report() {
	local k t s r unit kind line
	local csv="$OUT/latest.csv" txt="$OUT/latest.txt"

	{
		printf '\nshmemfs vs kernel tmpfs: median of %s run(s)%s, %s\n' \
			"$RUNS" "$([ "$QUICK" = 1 ] && echo ', --quick sizes')" \
			"$(date '+%Y-%m-%d %H:%M')"
		printf 'ratio: higher is better for shmemfs, 1.00 = parity '
		printf '(throughput: shmemfs/tmpfs; bytes: tmpfs/shmemfs)\n'
		printf 'lib rows: tmpfs = system calls on tmpfs, shmemfs = '
		printf 'libshmemfs in process\n\n'
		printf 'spread: lowest and highest ratio of a single run (run i of\n'
		printf 'shmemfs against run i of tmpfs)\n\n'
		printf '%-42s %12s %12s %7s %11s\n' workload tmpfs shmemfs ratio \
			spread
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
		if [ "$kind" = one ]; then
			printf '%-42s %12s\n' "$k ($unit)" "$(fmt "$s")" >> "$txt"
			# the machine's ceiling: the same for both, no ratio
			printf '%s,%s,%s,%s,\n' "$k" "$unit" "$s" "$s" >> "$csv"
			continue
		fi
		if [ -n "$t" ] && [ -n "$s" ]; then
			r=$(awk -v t="$t" -v s="$s" -v k="$kind" 'BEGIN {
				if (k == "lo") { if (s > 0) printf "%.3f", t / s }
				else if (t > 0) printf "%.3f", s / t }')
		fi
		line=$(printf '%-42s %12s %12s %7s %11s' "$k ($unit)" "$(fmt "$t")" \
			"$(fmt "$s")" "$(awk -v r="$r" 'BEGIN { if (r != "") printf "%.2f", r }')" \
			"$(spread "$kind" "${VALS[$k|tmpfs]:-}" "${VALS[$k|shmemfs]:-}")")
		echo "$line" >> "$txt"
		printf '%s,%s,%s,%s,%s\n' "$k" "$unit" "$t" "$s" "$r" >> "$csv"
	done
	cat "$txt"
	printf '\nCSV: %s\n' "$csv"
}

# ---- setup --------------------------------------------------------------

need_root "mount, drop_caches"

need_pkgs=""
dpkg-query -W -f='${Status}' fio 2>/dev/null | grep -q "ok installed" ||
	need_pkgs="$need_pkgs fio"
command -v gcc >/dev/null || need_pkgs="$need_pkgs gcc"
command -v python3 >/dev/null || need_pkgs="$need_pkgs python3"
command -v tar >/dev/null || need_pkgs="$need_pkgs tar"
if [ "$PERF" = 1 ] && ! command -v perf >/dev/null; then
	need_pkgs="$need_pkgs linux-perf"
fi
if [ -n "$need_pkgs" ]; then
	log "installing:$need_pkgs"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_pkgs >&2
fi

build_shmemfs
[ -x "$DAEMON" ] || die "$DAEMON not built"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/raw.csv"
echo "workload,unit,fs,run,value" > "$RAW"

WORK=$(mktemp -d /tmp/shmemfs-bench.XXXXXX)
PERF_PID=""

cleanup_hook() {
	if [ -n "$PERF_PID" ]; then
		kill -INT "$PERF_PID" 2>/dev/null
		wait "$PERF_PID" 2>/dev/null
	fi
}
cleanup_at_exit

log "compiling bench programs..."
BIN="$WORK/bin"
mkdir -p "$BIN"
gcc -O2 -Wall -o "$BIN/metaops" "$BENCH_DIR/metaops.c"
gcc -O2 -Wall -o "$BIN/memcpy" "$BENCH_DIR/memcpy.c"
gcc -O2 -Wall -o "$BIN/memwarm" "$BENCH_DIR/memwarm.c"
core_cc "$ROOT" "$BIN/libbench" "$BENCH_DIR/libbench.c"

MNT_T="$WORK/tmpfs"
MNT_S="$WORK/shmemfs"
SCRATCH="$WORK/scratch"
mount_tmpfs "$MNT_T" "size=$MOUNT_SIZE"
mount_shmemfs "$MNT_S" "size=$MOUNT_SIZE$XOPTS"
DPID=$SHMEMFS_PID
mount_tmpfs "$SCRATCH" "size=$MOUNT_SIZE"

log "tmpfs   at $MNT_T"
log "shmemfs at $MNT_S (daemon pid $DPID)"
log "runs: $RUNS$([ "$QUICK" = 1 ] && echo ', quick sizes'); load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

# fresh main mounts (tmpfs and shmemfs), for the fresh-write runs
remount_main() {
	umount_shmemfs "$MNT_S"
	umount_tmpfs "$MNT_T"
	mount_tmpfs "$MNT_T" "size=$MOUNT_SIZE"
	mount_shmemfs "$MNT_S" "size=$MOUNT_SIZE$XOPTS"
	DPID=$SHMEMFS_PID
	log "    remounted; shmemfs daemon pid $DPID"
}

# wait_quiet SIDE: for shmemfs, wait until the daemon has stopped using
# CPU.  It frees a removed file's pages when the kernel's FORGET arrives,
# after unlink(2) has returned (seconds for a 1 GiB file here); let that
# finish so it is not timed as part of the next workload.
wait_quiet() {
	[ "$1" = shmemfs ] || return 0
	wait_idle "$DPID" 60
}

# sides for run number $1: alternate which goes first
sides() { if [ $(($1 % 2)) = 1 ]; then echo "tmpfs shmemfs"; else echo "shmemfs tmpfs"; fi; }
mnt_of() { if [ "$1" = tmpfs ]; then echo "$MNT_T"; else echo "$MNT_S"; fi; }

NSTEPS=9
T_START=$(date +%s)
step() {
	log ""
	log "[$1/$NSTEPS] $2  (+$(( $(date +%s) - T_START )) s)"
}

PERF_DIR="$OUT"
perf_start() { # perf_start NAME
	[ "$PERF" = 1 ] || return 0
	perf record -q -g -p "$DPID" -o "$PERF_DIR/perf-$1.data" \
		> /dev/null 2>&1 &
	PERF_PID=$!
	sleep 1
}
perf_stop() { # perf_stop NAME
	[ "$PERF" = 1 ] && [ -n "$PERF_PID" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null || true
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=""
	{
		echo "== self time (top symbols of the daemon's threads)"
		perf report -i "$PERF_DIR/perf-$1.data" --no-children --stdio \
			--percent-limit 1 -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -30
		echo
		echo "== inclusive time (children), by symbol"
		perf report -i "$PERF_DIR/perf-$1.data" --children --sort sym \
			--stdio --percent-limit 5 -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -40
	} > "$PERF_DIR/perf-$1.txt" || true
	log "      perf profile of the daemon: $PERF_DIR/perf-$1.txt"
}

# ---- 1. sequential write --------------------------------------------------
# Two rows: the first write into a freshly mounted filesystem (both are
# remounted before every run), and a second write of the same size after
# rm of the first file.  They differ for shmemfs: a fresh daemon faults
# in every page it allocates, a warm one reuses its freed heap.
if selected 1; then
	step 1 "sequential write ${SEQ_MB} MiB, 1 MiB blocks (fio psync), fresh mount and rewrite"
	K="seq write ${SEQ_MB}M/1M fresh mount"
	K2="seq write ${SEQ_MB}M/1M after rm"
	row "$K" MB/s hi
	row "$K2" MB/s hi
	for run in $(seq "$RUNS"); do
		[ "$run" = 1 ] || remount_main
		for side in $(sides "$run"); do
			d=$(mnt_of "$side")
			"$BIN/memwarm" $((2 * SEQ_MB + 64)) > /dev/null
			[ "$run" = 1 ] && [ "$side" = shmemfs ] && perf_start seqwrite
			read -r bw _ < <(fio_job "$d" seq write 1M "$SEQ_MB" psync)
			[ "$run" = 1 ] && [ "$side" = shmemfs ] && perf_stop seqwrite
			add "$K" "$side" "$run" "$bw"
			rm -f "$d/seq"
			wait_quiet "$side"
			"$BIN/memwarm" $((2 * SEQ_MB + 64)) > /dev/null
			read -r bw _ < <(fio_job "$d" seq write 1M "$SEQ_MB" psync)
			add "$K2" "$side" "$run" "$bw"
		done
	done
fi

# ---- 2. sequential read, cold ----------------------------------------------
if selected 2; then
	step 2 "sequential read ${SEQ_MB} MiB, 1 MiB blocks, after drop_caches"
	K="seq read ${SEQ_MB}M/1M cold"
	row "$K" MB/s hi
	for side in tmpfs shmemfs; do
		d=$(mnt_of "$side")
		f=$(stat -c %s "$d/seq" 2>/dev/null || echo 0)
		if [ "$f" != $((SEQ_MB * 1048576)) ]; then
			rm -f "$d/seq"
			fio_job "$d" seq write 1M "$SEQ_MB" psync > /dev/null
		fi
	done
	for run in $(seq "$RUNS"); do
		for side in $(sides "$run"); do
			drop_caches 3
			read -r bw _ < <(fio_job "$(mnt_of "$side")" seq read 1M "$SEQ_MB" psync)
			add "$K" "$side" "$run" "$bw"
		done
	done
fi
rm -f "$MNT_T/seq" "$MNT_S/seq"
wait_quiet shmemfs

# ---- 3. 4k random ----------------------------------------------------------
if selected 3; then
	step 3 "4 KiB random read/write, psync and mmap, ${RAND_MB} MiB file, ${RAND_SECS} s each"
	for side in tmpfs shmemfs; do
		fio_job "$(mnt_of "$side")" rand write 1M "$RAND_MB" psync > /dev/null
	done
	for engine in psync mmap; do
		for rw in randread randwrite; do
			K="4k $rw $engine"
			row "$K" IOPS hi
			log "    $K"
			for run in $(seq "$RUNS"); do
				for side in $(sides "$run"); do
					drop_caches 3
					read -r _ iops < <(fio_job "$(mnt_of "$side")" rand \
						"$rw" 4k "$RAND_MB" "$engine" \
						--time_based --runtime="$RAND_SECS" \
						--randrepeat=1 --norandommap)
					add "$K" "$side" "$run" "$iops"
				done
			done
		done
	done
	rm -f "$MNT_T/rand" "$MNT_S/rand"
	wait_quiet shmemfs
fi

# ---- 4 + 5. metadata and readdir --------------------------------------------
# metaops prints "phase rate" lines; we turn them into rows.
meta_rows() { # meta_rows LABELPREFIX SIDE RUN  (stdin: metaops output)
	local phase rate k
	while read -r phase rate; do
		case "$phase" in
		readdir) k="readdir ${NK}-entry dir" ;;
		*) k="$1 $phase" ;;
		esac
		# only the rows of the selected workloads
		[ -n "${UNIT[$k]+x}" ] && add "$k" "$2" "$3" "$rate"
	done
	return 0
}
if selected 4 || selected 5; then
	NK=$((META_N / 1000))k
	phases="create,stat,unlink"
	selected 5 && phases="$phases,readdir"
	selected 4 || phases="create,readdir,unlink"
	step 4 "create/stat/unlink of ${NK} files in one dir and in ${TREE_DIRS} dirs"
	selected 4 && for p in create stat unlink; do
		row "${NK} files 1 dir $p" ops/s hi
	done
	selected 5 && row "readdir ${NK}-entry dir" entries/s hi
	selected 4 && for p in create stat unlink; do
		row "${NK} files ${TREE_DIRS} dirs $p" ops/s hi
	done
	for run in $(seq "$RUNS"); do
		for side in $(sides "$run"); do
			d="$(mnt_of "$side")/meta"
			wait_quiet shmemfs
			mkdir "$d"
			log "    one dir, $side, run $run"
			out=$("$BIN/metaops" -r "$READDIR_PASSES" -p "$phases" "$d" "$META_N")
			meta_rows "${NK} files 1 dir" "$side" "$run" <<< "$out"
			rmdir "$d"
		done
	done
	if selected 5; then
		step 5 "readdir of a ${META_N}-entry directory (measured in step 4)"
	fi
	if selected 4; then
		for run in $(seq "$RUNS"); do
			for side in $(sides "$run"); do
				d="$(mnt_of "$side")/tree"
				wait_quiet shmemfs
				mkdir "$d"
				log "    tree, $side, run $run"
				out=$("$BIN/metaops" -t "$TREE_DIRS" -p create,stat,unlink "$d" "$META_N")
				meta_rows "${NK} files ${TREE_DIRS} dirs" "$side" "$run" <<< "$out"
				rmdir "$d"
			done
		done
	fi
fi

# ---- 6. untar / rm -rf -------------------------------------------------------
if selected 6; then
	step 6 "untar and rm -rf of ${TAR_FILES} small files (0-8 KiB, nested dirs)"
	TARBALL="$SCRATCH/tree.tar"
	python3 - "$TARBALL" "$TAR_FILES" <<'EOF'
import io, random, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
blob = rnd.randbytes(8192)
top, sub = 20, 10                      # 200 leaf dirs
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tf:
    def add_dir(path):
        ti = tarfile.TarInfo(path)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tf.addfile(ti)
    add_dir("src")
    for a in range(top):
        add_dir(f"src/d{a:02d}")
        for b in range(sub):
            add_dir(f"src/d{a:02d}/s{b:02d}")
    for i in range(n):
        a, b = i % top, (i // top) % sub
        size = rnd.randint(0, 8192)
        ti = tarfile.TarInfo(f"src/d{a:02d}/s{b:02d}/f{i:06d}.c")
        ti.size, ti.mode, ti.mtime = size, 0o644, 1700000000
        off = rnd.randint(0, 8192 - size)
        tf.addfile(ti, io.BytesIO(blob[off:off + size]))
EOF
	KX="untar ${TAR_FILES} files"
	KR="rm -rf ${TAR_FILES} files"
	row "$KX" files/s hi
	row "$KR" files/s hi
	for run in $(seq "$RUNS"); do
		for side in $(sides "$run"); do
			d="$(mnt_of "$side")/untar"
			wait_quiet shmemfs
			mkdir "$d"
			t0=$(now)
			tar -xf "$TARBALL" -C "$d"
			t1=$(now)
			rm -rf "$d"
			t2=$(now)
			add "$KX" "$side" "$run" "$(awk -v n="$TAR_FILES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
			add "$KR" "$side" "$run" "$(awk -v n="$TAR_FILES" -v a="$t1" -v b="$t2" 'BEGIN { printf "%.0f", n / (b - a) }')"
		done
	done
	rm -f "$TARBALL"
fi

# ---- 7. memcpy ---------------------------------------------------------------
if selected 7; then
	step 7 "memcpy bandwidth of the machine (1 GiB in 1 MiB chunks)"
	K="memcpy 1G/1M (machine ceiling)"
	row "$K" GB/s one
	for run in $(seq "$RUNS"); do
		read -r _ v < <("$BIN/memcpy" 1024 3)
		add "$K" machine "$run" "$v"
		VALS[$K|shmemfs]=${VALS[$K|machine]}
	done
fi

# ---- 8. library in process -----------------------------------------------------
if selected 8; then
	LK=$((LIB_N / 1000))k
	step 8 "libshmemfs in process vs syscalls on tmpfs (${LK} files, ${LIB_MB} MiB)"
	for p in create stat unlink; do
		row "lib ${LK} files $p" ops/s hi
	done
	row "lib seq write ${LIB_MB}M/1M" MB/s hi
	row "lib seq read ${LIB_MB}M/1M" MB/s hi
	lib_rows() { # lib_rows SIDE RUN (stdin: libbench output)
		local phase rate
		while read -r phase rate; do
			case "$phase" in
			seqwrite) add "lib seq write ${LIB_MB}M/1M" "$1" "$2" "$rate" ;;
			seqread) add "lib seq read ${LIB_MB}M/1M" "$1" "$2" "$rate" ;;
			*) add "lib ${LK} files $phase" "$1" "$2" "$rate" ;;
			esac
		done
	}
	for run in $(seq "$RUNS"); do
		for side in $(sides "$run"); do
			if [ "$side" = tmpfs ]; then
				d="$MNT_T/lib"
				mkdir "$d"
				out=$("$BIN/libbench" sys "$d" "$LIB_N" "$LIB_MB")
				rmdir "$d"
			else
				out=$("$BIN/libbench" lib "$LIB_N" "$LIB_MB")
			fi
			lib_rows "$side" "$run" <<< "$out"
		done
	done
fi

# ---- 9. huge pages ---------------------------------------------------------------
# Both sides mounted afresh with huge=always: kernel tmpfs with 2 MiB
# folios, shmemfs with its own (host THP underneath).
if selected 9; then
	step 9 "huge=always: sequential write/read, 4 KiB random write, library, index size"
	umount_shmemfs "$MNT_S"
	umount_tmpfs "$MNT_T"
	mount_tmpfs "$MNT_T" "size=$MOUNT_SIZE,huge=always"
	mount_shmemfs "$MNT_S" "size=$MOUNT_SIZE,huge=always"
	DPID=$SHMEMFS_PID
	K="huge seq write ${SEQ_MB}M/1M"
	KR="huge seq read ${SEQ_MB}M/1M cold"
	KW="huge 4k randwrite psync"
	row "$K" MB/s hi
	row "$KR" MB/s hi
	row "$KW" IOPS hi
	for run in $(seq "$RUNS"); do
		for side in $(sides "$run"); do
			d=$(mnt_of "$side")
			rm -f "$d/seq"
			wait_quiet "$side"
			# the same start for both (memwarm.c): host-backed
			# memory for shmemfs's page cache and pool alike
			"$BIN/memwarm" $((2 * SEQ_MB + 64)) > /dev/null
			read -r bw _ < <(fio_job "$d" seq write 1M "$SEQ_MB" psync)
			add "$K" "$side" "$run" "$bw"
			drop_caches 3
			read -r bw _ < <(fio_job "$d" seq read 1M "$SEQ_MB" psync)
			add "$KR" "$side" "$run" "$bw"
			rm -f "$d/seq"
			wait_quiet "$side"
		done
	done
	for side in tmpfs shmemfs; do
		fio_job "$(mnt_of "$side")" rand write 1M "$RAND_MB" psync > /dev/null
	done
	for run in $(seq "$RUNS"); do
		for side in $(sides "$run"); do
			read -r _ iops < <(fio_job "$(mnt_of "$side")" rand \
				randwrite 4k "$RAND_MB" psync --time_based \
				--runtime="$RAND_SECS" --randrepeat=1 --norandommap)
			add "$KW" "$side" "$run" "$iops"
		done
	done
	rm -f "$MNT_T/rand" "$MNT_S/rand"
	wait_quiet shmemfs
	KL="huge lib seq write ${LIB_MB}M/1M"
	row "$KL" MB/s hi
	for run in $(seq "$RUNS"); do
		for side in $(sides "$run"); do
			if [ "$side" = tmpfs ]; then
				d="$MNT_T/lib"
				mkdir "$d"
				out=$("$BIN/libbench" sys "$d" 1 "$LIB_MB")
				rmdir "$d"
			else
				out=$("$BIN/libbench" lib 1 "$LIB_MB" huge=always)
			fi
			add "$KL" "$side" "$run" "$(awk '$1 == "seqwrite" { print $2 }' <<< "$out")"
		done
	done
	KI="index bytes per GiB, 4 KiB pages"
	KH="index bytes per GiB, 2 MiB folios"
	row "$KI" bytes one
	row "$KH" bytes one
	out=$("$BIN/libbench" index "$LIB_MB")
	add "$KI" machine 1 "$(awk '$1 == "small" { print $2 }' <<< "$out")"
	VALS[$KI|shmemfs]=${VALS[$KI|machine]}
	add "$KH" machine 1 "$(awk '$1 == "huge" { print $2 }' <<< "$out")"
	VALS[$KH|shmemfs]=${VALS[$KH|machine]}
	umount_shmemfs "$MNT_S"
	umount_tmpfs "$MNT_T"
	mount_tmpfs "$MNT_T" "size=$MOUNT_SIZE"
	mount_shmemfs "$MNT_S" "size=$MOUNT_SIZE"
	DPID=$SHMEMFS_PID
fi

# ---- perf: the create phase ------------------------------------------------------
if [ "$PERF" = 1 ]; then
	log ""
	log "[perf] create of ${META_N} files on shmemfs under perf"
	d="$MNT_S/perfmeta"
	mkdir "$d"
	perf_start create
	"$BIN/metaops" -p create "$d" "$META_N" > /dev/null
	perf_stop create
	"$BIN/metaops" -p unlink "$d" "$META_N" > /dev/null
	rmdir "$d"
fi

# ---- memory per empty file ----------------------------------------------------------
meminfo_kb() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
vmrss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

if selected rss; then
	log ""
	log "[rss] memory per empty file (${RSS_N} files, fresh mounts)"
	K1="daemon RSS vs tmpfs slab per empty file"
	K2="kernel slab per empty file"
	K3="total memory per empty file"
	row "$K1" B lo
	row "$K2" B lo
	row "$K3" B lo
	# shmemfs: daemon VmRSS and kernel slab (FUSE inodes, dentries)
	d="$WORK/rss-shmemfs"
	mount_shmemfs "$d" "size=$MOUNT_SIZE$XOPTS"
	pid=$SHMEMFS_PID
	drop_caches 3
	rss0=$(vmrss_kb "$pid")
	slab0=$(meminfo_kb Slab)
	"$BIN/metaops" -p create "$d" "$RSS_N" > /dev/null
	sleep 1
	rss1=$(vmrss_kb "$pid")
	slab1=$(meminfo_kb Slab)
	s_rss=$(awk -v a="$rss0" -v b="$rss1" -v n="$RSS_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
	s_slab=$(awk -v a="$slab0" -v b="$slab1" -v n="$RSS_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
	log "      shmemfs: daemon VmRSS ${rss0} -> ${rss1} kB, Slab ${slab0} -> ${slab1} kB"
	umount_shmemfs "$d"
	# tmpfs: kernel slab (shmem inodes, dentries)
	d="$WORK/rss-tmpfs"
	mount_tmpfs "$d" "size=$MOUNT_SIZE"
	drop_caches 3
	slab0=$(meminfo_kb Slab)
	"$BIN/metaops" -p create "$d" "$RSS_N" > /dev/null
	sleep 1
	slab1=$(meminfo_kb Slab)
	t_slab=$(awk -v a="$slab0" -v b="$slab1" -v n="$RSS_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
	log "      tmpfs:   Slab ${slab0} -> ${slab1} kB"
	umount_tmpfs "$d"
	add "$K1" tmpfs 1 "$t_slab"
	add "$K1" shmemfs 1 "$s_rss"
	add "$K2" tmpfs 1 "$t_slab"
	add "$K2" shmemfs 1 "$s_slab"
	add "$K3" tmpfs 1 "$t_slab"
	add "$K3" shmemfs 1 "$((s_rss + s_slab))"
fi

kill -0 "$DPID" 2>/dev/null || die "the shmemfs daemon died during the run"
report
# the ratio table as a chart next to the CSV (bench/plot.sh, gnuplot)
"$BENCH_DIR/plot.sh" "$OUT/latest.csv" "$OUT/latest.svg" \
	"shmemfs / kernel tmpfs, median of $RUNS run(s)$([ "$QUICK" = 1 ] && echo ', --quick sizes'), $(date +%F) (higher is better; 1 = parity)" >&2
log "total time $(( $(date +%s) - T_START )) s; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
