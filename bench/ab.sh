#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/ab.sh - two shmemfs variants and kernel tmpfs, interleaved.
#
#   bench/ab.sh [--runs N] [--a-opts OPTS] [--b-opts OPTS]
#               [--a-bin PATH] [--b-bin PATH] [--rows LIST] [--mb N]
#
# For a lever of issue 11 (a mount option, or a code change built into a
# second daemon binary): mounts kernel tmpfs and two shmemfs, A and B,
# and runs each data-path row on the three in turn (the order rotating
# every run), N runs (default 7), then prints the median, the spread
# (min-max) and the ratio to tmpfs of each.  On a shared, loaded
# machine, variants measured seconds apart compare better than two
# bench/run.sh invocations minutes apart.
#
#   --a-opts/--b-opts  mount options of A and B, after size=4g
#   --a-bin/--b-bin    daemons (default build/shmemfs for both)
#   --rows LIST        comma list of: seqwrite (1 MiB psync writes of a
#                      new file), coldread (1 MiB psync reads after
#                      drop_caches), randwrite (4 KiB psync random
#                      writes, 2 s); default all three
#   --mb N             file size in MiB (default 256)
#   --b-ra KB          set B's read_ahead_kb (its bdi) after mounting
#   --b-bg N           set B's max_background and congestion_threshold
#                      (/sys/fs/fuse/connections) after mounting
#
# Needs root and fio.

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

A_OPTS="" B_OPTS="" A_BIN="" B_BIN="" ROWS="seqwrite,coldread,randwrite"
MB=256 B_RA="" B_BG=""
extra_arg() {
	case "$1" in
	--a-opts) need_value "$@"; A_OPTS=",$2"; NSHIFT=2 ;;
	--b-opts) need_value "$@"; B_OPTS=",$2"; NSHIFT=2 ;;
	--a-bin) need_value "$@"; A_BIN=$2; NSHIFT=2 ;;
	--b-bin) need_value "$@"; B_BIN=$2; NSHIFT=2 ;;
	--rows) need_value "$@"; ROWS=$2; NSHIFT=2 ;;
	--mb) need_value "$@"; MB=$2; NSHIFT=2 ;;
	--b-ra) need_value "$@"; B_RA=$2; NSHIFT=2 ;;
	--b-bg) need_value "$@"; B_BG=$2; NSHIFT=2 ;;
	*) return 1 ;;
	esac
}
case " $* " in *" --runs"*) ;; *) RUNS=7 ;; esac
parse_args "$@"
positive_int "$MB" --mb
need_root "mount, drop_caches"
build_shmemfs
A_BIN=${A_BIN:-$DAEMON}
B_BIN=${B_BIN:-$DAEMON}

WORK=$(mktemp -d /tmp/shmemfs-ab.XXXXXX)
cleanup_at_exit
: > "$WORK/daemon.log"

mount_tmpfs "$WORK/t" "size=4g"
DAEMON=$A_BIN mount_shmemfs "$WORK/a" "size=4g$A_OPTS"
DAEMON=$B_BIN mount_shmemfs "$WORK/b" "size=4g$B_OPTS"
if [ -n "$B_RA" ]; then
	d=$(stat -c '%d' "$WORK/b")
	echo "$B_RA" > "/sys/class/bdi/$((d >> 8)):$((d & 255))/read_ahead_kb"
	log "B: read_ahead_kb $(cat "/sys/class/bdi/$((d >> 8)):$((d & 255))/read_ahead_kb")"
fi
if [ -n "$B_BG" ]; then
	c=/sys/fs/fuse/connections/$(( $(stat -c '%d' "$WORK/b") & 255 ))
	echo "$B_BG" > "$c/congestion_threshold"
	echo "$B_BG" > "$c/max_background"
	log "B: max_background $(cat "$c/max_background"), congestion_threshold $(cat "$c/congestion_threshold")"
fi

fio_one() { # fio_one DIR RW BS [ARGS...]: MB/s and IOPS, psync on DIR/f
	local dir=$1 rw=$2 bs=$3
	shift 3
	fio_job "$dir" f "$rw" "$bs" "$MB" psync "$@"
}

declare -A V=()
one() { # one ROW SIDE
	local d="$WORK/$2" bw io
	case $1 in
	seqwrite)
		rm -f "$d/f"
		read -r bw io < <(fio_one "$d" write 1M)
		V[$1|$2]+=" $bw" ;;
	coldread)
		[ -f "$d/f" ] && [ "$(stat -c %s "$d/f")" = $((MB << 20)) ] ||
			fio_one "$d" write 1M > /dev/null
		drop_caches 3
		read -r bw io < <(fio_one "$d" read 1M)
		V[$1|$2]+=" $bw" ;;
	randwrite)
		[ -f "$d/f" ] && [ "$(stat -c %s "$d/f")" = $((MB << 20)) ] ||
			fio_one "$d" write 1M > /dev/null
		read -r bw io < <(fio_one "$d" randwrite 4k --time_based \
			--runtime=2 --randrepeat=1 --norandommap)
		V[$1|$2]+=" $io" ;;
	*) die "unknown row $1" ;;
	esac
}

IFS=, read -r -a RL <<< "$ROWS"
for row in "${RL[@]}"; do
	for run in $(seq "$RUNS"); do
		case $((run % 3)) in
		1) order="t a b" ;; 2) order="a b t" ;; 0) order="b t a" ;;
		esac
		for s in $order; do one "$row" "$s"; done
	done
done

printf '\nA: %s %s\nB: %s %s\n' "$A_BIN" "size=4g$A_OPTS" "$B_BIN" "size=4g$B_OPTS"
printf 'median (min-max) of %s runs, interleaved; ratio = median / tmpfs median\n' "$RUNS"
printf '%-10s %22s %22s %22s %6s %6s\n' row tmpfs A B A/t B/t
for row in "${RL[@]}"; do
	line="$(printf '%-10s' "$row")"
	declare -A M=()
	for s in t a b; do
		# shellcheck disable=SC2086
		m=$(median ${V[$row|$s]})
		# shellcheck disable=SC2086
		r=$(printf '%s\n' ${V[$row|$s]} | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }')
		M[$s]=$m
		line+=$(printf ' %22s' "$(printf '%.0f (%s)' "$m" "$r")")
	done
	line+=$(awk -v t="${M[t]}" -v a="${M[a]}" -v b="${M[b]}" 'BEGIN { printf " %6.2f %6.2f", a / t, b / t }')
	echo "$line"
done
