# SPDX-License-Identifier: MIT
#
# bench/lib.sh - what the scripts under bench/ share: option parsing,
# messages, the error and exit traps, building the daemon (of this tree
# or of another commit), compiling a program with the core's sources,
# and mounting and unmounting kernel tmpfs and shmemfs.  Sourced, not run:
#
#   BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   . "$BENCH_DIR/lib.sh"
#
# The sourcing script may define
#   extra_arg ARG [MORE...]  its own options (see parse_args)
#   cleanup_hook             its own part of the cleanup at exit, run
#                            before the remaining mounts are removed
# and uses WORK (its temporary directory, made by the script) and DAEMON
# (set by build_shmemfs).

# shellcheck disable=SC2034  # (variables set here for the sourcing script)

ROOT=$(cd "$BENCH_DIR/.." && pwd)
PROG=$(basename "$0")

QUICK=0
RUNS=""
OUT="$BENCH_DIR/results"

declare -a WARNINGS=()
declare -a TMPFS_MOUNTS=()     # mounted by mount_tmpfs, not yet unmounted
declare -A FUSE_PIDS=()        # mountpoint -> daemon pid, from mount_shmemfs

# ---- messages -----------------------------------------------------------

log() { printf '%s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
# warn MSG: on stderr now, and kept in WARNINGS for a report
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; WARNINGS+=("$*"); }

on_err() {
	local rc=$? line=$1
	# once, from the main shell (not again from each command substitution)
	[ "$BASHPID" = "$$" ] || return 0
	printf '%s: failed (exit %s) at line %s: %s\n' "$PROG" "$rc" "$line" \
		"$BASH_COMMAND" >&2
	if [ -n "${WORK:-}" ] && [ -s "$WORK/daemon.log" ]; then
		echo "--- shmemfs daemon log (tail) ---" >&2
		tail -n 20 "$WORK/daemon.log" >&2
	fi
}
trap 'on_err $LINENO' ERR

# ---- options ------------------------------------------------------------

# usage [STATUS]: the script's header comment from its 4th line to the
# end of the comment block, then exit
usage() {
	awk 'NR >= 4 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0"
	exit "${1:-0}"
}

# positive_int VALUE OPTION [UNIT]: exit 2 unless VALUE is a positive
# integer
positive_int() {
	case "$1" in
	''|*[!0-9]*|0)
		echo "$PROG: $2 needs a positive integer${3:+ ($3)}" >&2
		exit 2 ;;
	esac
}

# need_value ARGS...: the option in $1 takes a value ($2)
need_value() { [ $# -ge 2 ] || usage 2; }

# parse_args ARGS...: --quick, --runs N, --out DIR (also --runs=N,
# --out=DIR) and -h/--help; any other argument goes to the script's
# `extra_arg ARG [MORE...]`, which sets NSHIFT to the number of
# arguments it used (1 is preset) or returns 1 if it does not know ARG.
# Afterwards RUNS defaults to 3 (1 with --quick) and must be positive.
parse_args() {
	while [ $# -gt 0 ]; do
		NSHIFT=1
		case "$1" in
		--quick) QUICK=1 ;;
		--runs) need_value "$@"; RUNS=$2; NSHIFT=2 ;;
		--runs=*) RUNS=${1#--runs=} ;;
		--out) need_value "$@"; OUT=$2; NSHIFT=2 ;;
		--out=*) OUT=${1#--out=} ;;
		-h|--help) usage 0 ;;
		*)
			if ! declare -F extra_arg >/dev/null ||
			   ! extra_arg "$@"; then
				echo "$PROG: unknown argument '$1'" >&2
				usage 2
			fi
			;;
		esac
		shift "$NSHIFT"
	done
	if [ -z "$RUNS" ]; then
		RUNS=3
		[ "$QUICK" = 1 ] && RUNS=1
	fi
	positive_int "$RUNS" --runs
}

# ---- small tools --------------------------------------------------------

now() { date +%s.%N; }

# median of the arguments (mean of the middle two for an even count)
median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR == 0) exit 1
		      if (NR % 2) print a[(NR + 1) / 2]
		      else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# alternate_runs: $RUNS rounds of the caller's `one SIDE RUN`, kernel tmpfs
# first on odd rounds and shmemfs first on even ones
alternate_runs() {
	local run
	for run in $(seq "$RUNS"); do
		if [ $((run % 2)) = 1 ]; then
			one kernel "$run"; one shmemfs "$run"
		else
			one shmemfs "$run"; one kernel "$run"
		fi
	done
}

# raw_median SIDE KEY: median of the values of the rows SIDE,RUN,KEY,VALUE
# of $WORK/raw.csv
raw_median() { median $(awk -F, -v s="$1" -v k="$2" '$1 == s && $3 == k { print $4 }' "$WORK/raw.csv"); }

# is_mounted DIR: from the mount table, so that a dead FUSE mount (whose
# stat fails with ENOTCONN, fooling mountpoint(1)) still counts
is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

# drop_caches N: sync, then echo N > /proc/sys/vm/drop_caches (1: the
# page cache, 3: also dentries and inodes)
drop_caches() {
	sync
	echo "$1" > /proc/sys/vm/drop_caches
}

# wait_idle PID SECONDS: until the process stops using CPU (at most one
# tick in 0.1 s), for at most SECONDS
wait_idle() {
	local pid=$1 secs=$2 a b
	a=$(cpu_ticks "$pid")
	for _ in $(seq $((secs * 10))); do
		sleep 0.1
		b=$(cpu_ticks "$pid")
		[ $((b - a)) -le 1 ] && return 0
		a=$b
	done
	warn "shmemfs daemon still busy after $secs s"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# fio_job DIR FILE RW BS SIZE_MB ENGINE [extra fio args...]: one fio job
# (one thread, no fallocate); prints "MB/s IOPS" of the direction that
# did the I/O
fio_job() {
	local dir=$1 file=$2 rw=$3 bs=$4 size=$5 engine=$6
	shift 6
	fio --name=bench --directory="$dir" --filename="$file" --rw="$rw" \
		--bs="$bs" --size="${size}M" --ioengine="$engine" \
		--fallocate=none --numjobs=1 \
		--output-format=terse --terse-version=3 "$@" |
	awk -F';' -v rw="$rw" '$1 == 3 {
		if (rw ~ /write/) { bw = $48; io = $49 } else { bw = $7; io = $8 }
		printf "%.1f %.0f\n", bw * 1024 / 1e6, io }'
}

# ---- setup --------------------------------------------------------------

# need_root WHY: exit unless root with /dev/fuse
need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root ($1)"
	[ -e /dev/fuse ] || die "/dev/fuse is missing"
}

# build_shmemfs: `make build`, showing its output only if it fails; sets
# DAEMON and CTL
build_shmemfs() {
	local out
	log "building shmemfs (make build)..."
	out=$(mktemp /tmp/shmemfs-bench-build.XXXXXX)
	if ! make -C "$ROOT" build > "$out" 2>&1; then
		tail -n 30 "$out" >&2
		rm -f "$out"
		die "make build failed (run 'make -C $ROOT build' to see why)"
	fi
	rm -f "$out"
	DAEMON="$ROOT/build/shmemfs"
	CTL="$ROOT/build/shmemctl"
}

# build_ref REF DIR: REF's tree (git archive) unpacked into DIR and its
# daemon built there, DIR/build/shmemfs (release options, no tests)
build_ref() {
	local ref=$1 dir=$2
	log "building $ref in $dir..."
	mkdir -p "$dir"
	git -C "$ROOT" archive "$ref" | tar -x -C "$dir"
	( cd "$dir" && meson setup build -Dtests=disabled >/dev/null &&
		ninja -j2 -C build shmemfs >/dev/null ) ||
		die "cannot build the daemon of $ref"
}

# core_cc TREE OUT SRC [CFLAGS...]: compile the program SRC with the core
# of the source tree TREE ($ROOT, or a build_ref DIR) into OUT: the core
# sources that TREE's meson.build lists in core_src (src/core may hold
# files not yet wired into the build; all of src/core/*.c if the list
# cannot be read), the libraries of its dependency() calls (through
# pkg-config) and threads.  CFLAGS default to -O2 -g, the optimisation
# of the meson debugoptimized build.
core_cc() {
	local tree=$1 out=$2 src=$3 srcs libs="" dep
	shift 3
	[ $# -gt 0 ] || set -- -O2 -g
	srcs=$(awk '/core_src *= *files\(/ { f = 1 } f { print }
		f && /\)/ { exit }' "$tree/meson.build" | grep -o "'[^']*\\.c'" |
		tr -d "'" | sed "s|^|$tree/|" || true)
	[ -n "$srcs" ] || srcs=$(ls "$tree"/src/core/*.c)
	for dep in $(grep -o "dependency('[^']*'" "$tree/meson.build" |
		     sed "s/dependency('//; s/'//" | sort -u); do
		case "$dep" in threads|fuse3|cmocka) continue ;; esac
		if pkg-config --exists "$dep" 2>/dev/null; then
			libs="$libs $(pkg-config --cflags --libs "$dep")"
		fi
	done
	# shellcheck disable=SC2086
	gcc "$@" -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$tree/include" \
		-I"$tree/src/core" -o "$out" "$src" $srcs $libs -lpthread
}

# ---- mounts -------------------------------------------------------------

mount_tmpfs() { # mount_tmpfs DIR OPTS
	mkdir -p "$1"
	mount -t tmpfs -o "$2" tmpfs "$1"
	TMPFS_MOUNTS+=("$1")
}

umount_tmpfs() { # umount_tmpfs DIR
	local d=$1 i
	umount "$d"
	for i in "${!TMPFS_MOUNTS[@]}"; do
		[ "${TMPFS_MOUNTS[$i]}" = "$d" ] && unset "TMPFS_MOUNTS[$i]"
	done
	TMPFS_MOUNTS=("${TMPFS_MOUNTS[@]}")
}

# mount_shmemfs DIR OPTS: start `$DAEMON -f -o OPTS DIR` (output appended
# to $WORK/daemon.log) and wait up to 5 s for the mount; sets SHMEMFS_PID
mount_shmemfs() {
	local d=$1 opts=$2
	mkdir -p "$d"
	"$DAEMON" -f -o "$opts" "$d" >> "$WORK/daemon.log" 2>&1 &
	SHMEMFS_PID=$!
	FUSE_PIDS[$d]=$SHMEMFS_PID
	for _ in $(seq 100); do
		is_mounted "$d" && return 0
		kill -0 "$SHMEMFS_PID" 2>/dev/null ||
			die "shmemfs exited before mounting $d: $(tail -n 5 "$WORK/daemon.log")"
		sleep 0.05
	done
	die "shmemfs did not mount $d within 5 s"
}

# umount_shmemfs DIR [WHAT]: fusermount3 -u, wait up to 10 s for the
# daemon to exit (then kill it); warnings (prefixed "WHAT: ") if it had
# to be killed or exited non-zero
umount_shmemfs() {
	local d=$1 what=${2:+$2: } pid=${FUSE_PIDS[$1]}
	fusermount3 -u "$d"
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "${what}shmemfs for $d still running 10 s after unmount; killing it"
		kill "$pid" 2>/dev/null || true
	fi
	wait "$pid" || warn "${what}shmemfs for $d exited non-zero"
	unset "FUSE_PIDS[$d]"
}

# unmount_all: for the exit trap; whatever state the mounts are in, unmount
# every shmemfs (lazily if need be) and stop its daemon, then every tmpfs
unmount_all() {
	local m pid
	for m in "${!FUSE_PIDS[@]}"; do
		pid=${FUSE_PIDS[$m]}
		if is_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
				umount -l "$m" 2>/dev/null
		fi
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null
			sleep 0.5
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		is_mounted "$m" && umount -l "$m" 2>/dev/null
	done
	FUSE_PIDS=()
	for m in "${TMPFS_MOUNTS[@]}"; do
		is_mounted "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	TMPFS_MOUNTS=()
}

# ---- exit ---------------------------------------------------------------

bench_cleanup() {
	local rc=$?
	set +e
	trap - ERR
	[ "$rc" = 0 ] || log "$PROG: cleaning up (exit $rc)..."
	cd /
	if declare -F cleanup_hook >/dev/null; then
		cleanup_hook
	fi
	unmount_all
	if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
		if grep -q " ${WORK}/" /proc/self/mounts; then
			log "$PROG: warning: mounts left under $WORK, not removing it"
		else
			rm -rf --one-file-system "$WORK"
		fi
	fi
	exit "$rc"
}

# cleanup_at_exit: bench_cleanup on exit, also after SIGINT and SIGTERM
# (the command running at that moment is allowed to finish first)
cleanup_at_exit() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
