#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/transports.sh - issue 11's goals, on both FUSE transports.
#
#   bench/transports.sh [--quick] [--runs N] [--out DIR]
#
# Runs bench/run.sh's workloads behind the goals (sequential write, cold
# sequential read, 4 KiB random write, create/stat/unlink, untar, rm -rf)
# twice: once over /dev/fuse (-o nouring) and once over FUSE's io_uring
# queues (-o uring), each against a kernel tmpfs in the same run, and
# prints one table: each goal's ratio (shmemfs/tmpfs) per transport.  The
# io_uring run needs the fuse module's enable_uring parameter: it is set
# for the run and restored; on a kernel without it the ring column says
# why it is empty.  Also prints what libfuse's request decoder costs
# (bench/decoder.c), the number behind the ring's design.
#
# Tables of each run: DIR/dev/latest.txt and DIR/uring/latest.txt
# (default DIR: bench/results/transports).

set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT="$BENCH_DIR/results/transports"
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT=$2; shift 2 ;;
	--out=*) OUT=${1#--out=}; shift ;;
	--runs) ARGS+=("$1" "$2"); shift 2 ;;
	*) ARGS+=("$1"); shift ;;
	esac
done
mkdir -p "$OUT"
PARAM=/sys/module/fuse/parameters/enable_uring
ONLY=1,2,3,4,6

"$BENCH_DIR/run.sh" "${ARGS[@]}" --only "$ONLY" --mount-opts nouring \
	--out "$OUT/dev" >&2

URING_NOTE=""
if [ -w "$PARAM" ]; then
	old=$(cat "$PARAM")
	trap 'echo "$old" > "$PARAM"' EXIT
	echo Y > "$PARAM"
	"$BENCH_DIR/run.sh" "${ARGS[@]}" --only "$ONLY" --mount-opts uring \
		--out "$OUT/uring" >&2
	echo "$old" > "$PARAM"
	trap - EXIT
else
	URING_NOTE="no io_uring run: this kernel has no $PARAM"
	rm -f "$OUT/uring/latest.csv"
fi

# ratio KEY-REGEX CSV: the ratio column of the first matching row
ratio() {
	[ -f "$2" ] || { echo "-"; return; }
	awk -F, -v re="$1" '$1 ~ re && $5 != "" { printf "%.2f", $5; exit }' \
		"$2"
}

{
	printf '\nissue 11 goals: ratio shmemfs/tmpfs, same run, per transport%s\n' \
		"$(printf ' %s' "${ARGS[@]}")"
	printf '%-34s %10s %10s %6s\n' goal /dev/fuse io_uring goal
	while IFS='|' read -r label re goal; do
		printf '%-34s %10s %10s %6s\n' "$label" \
			"$(ratio "$re" "$OUT/dev/latest.csv")" \
			"$(ratio "$re" "$OUT/uring/latest.csv")" "$goal"
	done <<'EOF'
sequential write (fresh mount)|^seq write .* fresh mount|0.5
sequential write (after rm)|^seq write .* after rm|0.5
cold sequential read|^seq read .* cold|0.5
4 KiB random write (psync)|^4k randwrite psync|0.3
create (1 dir)|files 1 dir create|0.25
create (tree)|files [0-9]+ dirs create|0.25
unlink (1 dir)|files 1 dir unlink|0.25
unlink (tree)|files [0-9]+ dirs unlink|0.25
stat (1 dir)|files 1 dir stat|0.9
stat (tree)|files [0-9]+ dirs stat|0.9
untar|^untar|0.25
rm -rf|^rm -rf|0.25
EOF
	[ -z "$URING_NOTE" ] || echo "$URING_NOTE"
	if command -v gcc >/dev/null && pkg-config --exists fuse3; then
		# shellcheck disable=SC2046
		gcc -O2 -o "$OUT/decoder" "$BENCH_DIR/decoder.c" \
			$(pkg-config --cflags --libs fuse3) &&
			echo && "$OUT/decoder" 1000000
	fi
} | tee "$OUT/latest.txt"
