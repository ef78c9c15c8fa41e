#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/pg.sh - PostgreSQL with its shared buffers in SysV shm under
# pgbench: kernel SysV shm against a shmemfs segment (shmemfs-shm).
#
#   bench/pg.sh [--quick] [--runs N] [--secs S] [--out DIR]
#
# One scratch cluster (initdb, scale 10 with pgbench -i) serves both
# sides; the server runs with shared_memory_type=sysv,
# dynamic_shared_memory_type=posix and shared_buffers=128MB, natively or
# under shmemfs-shm on a fresh mount.  Each run is pgbench -c 4 -j 2 for
# S seconds (default 10; --quick 3), TPC-B-like and select-only;
# alternating sides, medians of N runs (default 3; --quick 1).  Ratio:
# shmemfs tps / kernel tps.  Writes pg.csv and pg.txt to DIR (default
# bench/results).  Needs root and the postgresql package; the server
# runs as the postgres user.

set -Eeuo pipefail
shopt -s inherit_errexit 2>/dev/null || true

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

SECS=""
extra_arg() {
	case "$1" in
	--secs) need_value "$@"; SECS=$2; NSHIFT=2 ;;
	--secs=*) SECS=${1#--secs=} ;;
	*) return 1 ;;
	esac
}
parse_args "$@"
[ -n "$SECS" ] || { SECS=10; [ "$QUICK" = 1 ] && SECS=3; }
positive_int "$SECS" --secs seconds

need_root "mount"
PG=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PG" ] || [ ! -x "$PG/pgbench" ] || ! id postgres >/dev/null 2>&1
then
	log "pg: skipped: postgresql is not installed (apt-get install postgresql)"
	exit 0
fi
build_shmemfs
WORK=$(mktemp -d /tmp/shmemfs-bench-pg.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
cleanup() {
	local d
	[ -n "$SERVER_PID" ] && kill -INT "$SERVER_PID" 2>/dev/null &&
		wait "$SERVER_PID" 2>/dev/null || true
	for d in "${!FUSE_PIDS[@]}"; do
		is_mounted "$d" && fusermount3 -u "$d" 2>/dev/null
		wait "${FUSE_PIDS[$d]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups
       env "HOME=$WORK")
mkdir -p "$WORK/sock"
chown postgres "$WORK" "$WORK/sock"
"${AS_PG[@]}" "$PG/initdb" -D "$WORK/data" -A trust > "$WORK/initdb.log" 2>&1

# server SIDE: start the server, natively or under shmemfs-shm
server() {
	local pre=()
	[ "$1" = shmemfs ] && pre=("$ROOT/build/shmemfs-shm" "$WORK/mnt")
	"${AS_PG[@]}" "${pre[@]}" "$PG/postgres" -D "$WORK/data" \
		-k "$WORK/sock" -c listen_addresses= \
		-c shared_memory_type=sysv -c dynamic_shared_memory_type=posix \
		-c shared_buffers=128MB > "$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 300); do
		grep -q "ready to accept connections" "$WORK/server.log" &&
			return 0
		sleep 0.1
	done
	die "postgres did not start: $(tail -n 5 "$WORK/server.log")"
}
stop_server() {
	kill -INT "$SERVER_PID"
	wait "$SERVER_PID" || true
	SERVER_PID=""
}
pgbench() { "${AS_PG[@]}" "$PG/pgbench" -h "$WORK/sock" "$@" postgres; }

server kernel
pgbench -i -s 10 -q > "$WORK/init.log" 2>&1
stop_server

one() { # one SIDE RUN
	local side=$1 run=$2 mode tps
	[ "$side" = shmemfs ] && mount_shmemfs "$WORK/mnt" "size=1g"
	server "$side"
	for mode in tpcb select; do
		local args=(-c 4 -j 2 -T "$SECS")
		[ "$mode" = select ] && args+=(-S)
		tps=$(pgbench "${args[@]}" 2>&1 | awk '/^tps = / { print $3 }')
		echo "$side,$run,$mode,$tps" >> "$WORK/raw.csv"
	done
	if [ "$side" = shmemfs ]; then
		"$CTL" ipcs "$WORK/mnt" > "$WORK/ipcs.txt"
		stop_server
		fusermount3 -u "$WORK/mnt"
		wait "${FUSE_PIDS[$WORK/mnt]}" || true
		unset "FUSE_PIDS[$WORK/mnt]"
	else
		stop_server
	fi
}

log "pg: pgbench -c 4 -j 2, ${SECS} s, scale 10, $RUNS run(s)"
alternate_runs

mkdir -p "$OUT"
{
	echo "workload,unit,kernel,shmemfs,ratio"
	for m in tpcb select; do
		a=$(raw_median kernel "$m") b=$(raw_median shmemfs "$m")
		echo "$m,tps,$(printf '%.0f' "$a"),$(printf '%.0f' "$b"),$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')"
	done
} > "$OUT/pg.csv"
cp "$WORK/raw.csv" "$OUT/pg-raw.csv"
{
	echo "PostgreSQL, SysV shared buffers 128 MB, pgbench -c 4 -j 2, ${SECS} s, median of $RUNS"
	echo
	printf '| %-22s | %10s | %10s | %6s |\n' workload kernel shmemfs ratio
	printf '| %-22s | %10s | %10s | %6s |\n' --- --- --- ---
	awk -F, 'NR > 1 {
		n = "TPC-B-like (tps)"
		if ($1 == "select") n = "select-only (tps)"
		printf "| %-22s | %10s | %10s | %6s |\n", n, $3, $4, $5 }' "$OUT/pg.csv"
	echo
	echo "the segment, as shmemctl ipcs showed it during the last shmemfs run:"
	cat "$WORK/ipcs.txt"
} | tee "$OUT/pg.txt"
