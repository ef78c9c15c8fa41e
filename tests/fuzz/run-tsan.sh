#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-tsan.sh - the concurrency test under ThreadSanitizer.
#
#   tests/fuzz/run-tsan.sh [SECONDS] [test_concurrency options...]
#
# Builds the core and tests/fuzz/test_concurrency.c with clang (CLANG=,
# default clang-14) -fsanitize=thread -O1 -g into build-fuzz/tsan/ and
# runs it twice for SECONDS each (default 3): with a swap file, so the
# background reclaimer races with the callers, and without one.  Any
# TSan report fails the run (halt_on_error=1, exit code 66), as does any
# failure of the test itself.  CORE=DIR builds another copy of the core.
set -u

SECS=${1:-3}
shift 2>/dev/null || true
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$TOP/build-fuzz}/tsan
CORE=${CORE:-$TOP/src/core}
CLANG=${CLANG:-$(command -v clang-14 || command -v clang)}
if [ -z "$CLANG" ]; then
	echo "run-tsan: clang not found (apt-get install clang-14" \
		"libclang-rt-14-dev)" >&2
	exit 2
fi
LIBS="-lpthread"
if grep -q sodium "$CORE"/*.c 2>/dev/null; then
	LIBS="$LIBS $(pkg-config --libs libsodium 2>/dev/null || echo -lsodium)"
fi
if grep -q xxhash "$CORE"/*.c 2>/dev/null; then
	LIBS="$LIBS $(pkg-config --libs libxxhash 2>/dev/null || echo -lxxhash)"
fi

mkdir -p "$OUT"
echo "run-tsan: building with $($CLANG --version | head -1)"
# shellcheck disable=SC2086
if ! $CLANG -fsanitize=thread -O1 -g -fno-omit-frame-pointer -std=gnu11 \
	-Wall -Wextra -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-I"$TOP/include" -I"$CORE" "$TOP/tests/fuzz/test_concurrency.c" \
	"$CORE"/*.c $LIBS -o "$OUT/test_concurrency"; then
	echo "run-tsan: build failed" >&2
	exit 2
fi
# shellcheck disable=SC2086
if ! $CLANG -fsanitize=thread -O1 -g -fno-omit-frame-pointer -std=gnu11 \
	-Wall -Wextra -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-I"$TOP/include" -I"$CORE" "$TOP/tests/fuzz/test_datapath.c" \
	"$CORE"/*.c $LIBS -o "$OUT/test_datapath"; then
	echo "run-tsan: build of test_datapath failed" >&2
	exit 2
fi
if ! $CLANG -fsanitize=thread -O1 -g -fno-omit-frame-pointer -std=gnu11 \
	-Wall -Wextra -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-I"$TOP/include" -I"$CORE" "$TOP/tests/fuzz/test_metalock.c" \
	"$CORE"/*.c $LIBS -o "$OUT/test_metalock"; then
	echo "run-tsan: build of test_metalock failed" >&2
	exit 2
fi

export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"

# clang 14's TSan cannot map its shadow memory under the address space
# randomisation of newer kernels (vm.mmap_rnd_bits > 28 and the like);
# it then dies with "unexpected memory mapping".  Run without ASLR then.
RUN=()
if ! "$OUT/test_concurrency" -d 0 -n >/dev/null 2>&1; then
	if command -v setarch >/dev/null &&
		setarch "$(uname -m)" -R "$OUT/test_concurrency" -d 0 -n \
			>/dev/null 2>&1; then
		echo "run-tsan: running without ASLR (setarch -R)"
		RUN=(setarch "$(uname -m)" -R)
	fi
fi

status=0
for mode in swap noswap huge hugeswap; do
	args=(-d "$SECS")
	case $mode in
	noswap) args+=(-n) ;;
	huge) args+=(-n -H) ;;
	hugeswap) args+=(-H) ;;
	esac
	log=$OUT/tsan-$mode.log
	"${RUN[@]}" "$OUT/test_concurrency" "${args[@]}" "$@" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		status=1
		if [ $rc -eq 66 ] || grep -q "ThreadSanitizer" "$log"; then
			echo "run-tsan: $mode: ThreadSanitizer report" \
				"(log: $log):"
			grep -m5 -E "WARNING: ThreadSanitizer|SUMMARY" "$log" |
				sed 's/^/    /'
		else
			echo "run-tsan: $mode: test failed, exit $rc" \
				"(log: $log):"
			tail -5 "$log" | sed 's/^/    /'
		fi
	else
		sed -n 's/^test_concurrency: /run-tsan: /p' "$log"
	fi
done
# The data path's copies without sf_lock (test_datapath.c): swapping,
# no swap, and huge folios.
for mode in swap noswap huge; do
	args=(-d "$SECS")
	[ $mode = noswap ] && args+=(-n)
	[ $mode = huge ] && args+=(-H)
	log=$OUT/tsan-datapath-$mode.log
	"${RUN[@]}" "$OUT/test_datapath" "${args[@]}" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		status=1
		echo "run-tsan: datapath $mode: exit $rc (log: $log):"
		grep -m5 -E "WARNING: ThreadSanitizer|SUMMARY|FAIL" "$log" |
			sed 's/^/    /'
	else
		sed -n 's/^test_datapath: \([0-9]* ops\)/run-tsan: datapath '"$mode"': \1/p' "$log"
	fi
done
# Metadata readers under sf_lock shared beside writers (test_metalock.c).
log=$OUT/tsan-metalock.log
"${RUN[@]}" "$OUT/test_metalock" -d "$SECS" >"$log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	status=1
	echo "run-tsan: metalock: exit $rc (log: $log):"
	grep -m5 -E "WARNING: ThreadSanitizer|SUMMARY|FAIL" "$log" |
		sed 's/^/    /'
else
	sed -n 's/^test_metalock: \([0-9]* reads\)/run-tsan: metalock: \1/p' "$log"
fi
[ $status -eq 0 ] && echo "run-tsan: no data race" || echo "run-tsan: FAILED"
exit $status
