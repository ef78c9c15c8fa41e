#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-fuzz.sh - build the libFuzzer targets and run them.
#
#   tests/fuzz/run-fuzz.sh [SECONDS] [TARGET...]
#
#   SECONDS   how long to fuzz each target (default 60).  0 is regression
#             mode: run every committed corpus file once and stop; a few
#             seconds, for CI.
#   TARGET    core, options, image (default: all)
#
# The targets are built with clang (CLANG=, default clang-14, else clang)
# and -fsanitize=fuzzer,address,undefined into build-fuzz/ at the top of
# the tree, from the core's sources directly: the meson library is built
# by gcc without the coverage instrumentation libFuzzer needs.
#
# Fuzzing runs on a scratch copy of tests/fuzz/corpus/TARGET (under
# build-fuzz/work/) so the committed corpus only grows by hand; crash
# files land in build-fuzz/artifacts/.  To keep a reproducer, copy it to
# tests/fuzz/corpus/TARGET/ under a name that does not start with
# "seed-"; tests/fuzz/gen-corpus.py writes the seed-* files.
#
# CORE=DIR builds another copy of the core's sources (a patched tree, to
# fuzz past a known bug); the default is src/core.
#
# Exit status: 0 if no input crashed, 1 if one did (a committed corpus
# file or a new find), 2 if the build failed.
set -u

FUZZ_SECONDS=${1:-60}
shift 2>/dev/null || true
TARGETS=${*:-core options image}
case $FUZZ_SECONDS in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] [core|options|image...]" >&2
	exit 2
	;;
esac

TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$TOP/build-fuzz}
CORE=${CORE:-$TOP/src/core}
CLANG=${CLANG:-$(command -v clang-14 || command -v clang)}
if [ -z "$CLANG" ]; then
	echo "run-fuzz: clang not found (apt-get install clang-14" \
		"libclang-rt-14-dev)" >&2
	exit 2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
	-std=gnu11 -Wall -Wextra -I$TOP/include -I$CORE"
LIBS="-lpthread"
if grep -q sodium "$CORE"/*.c 2>/dev/null; then
	LIBS="$LIBS $(pkg-config --libs libsodium 2>/dev/null || echo -lsodium)"
fi
if grep -q xxhash "$CORE"/*.c 2>/dev/null; then
	LIBS="$LIBS $(pkg-config --libs libxxhash 2>/dev/null || echo -lxxhash)"
fi

# target -> max_len, timeout (s)
max_len() { case $1 in core) echo 4096 ;; image) echo 16384 ;; *) echo 512 ;; esac; }
timeout_of() { case $1 in core) echo 10 ;; *) echo 5 ;; esac; }

build() {
	local obj=$OUT/obj src o pids=() rc=0
	mkdir -p "$obj" "$OUT/artifacts" "$OUT/work"
	rm -f "$obj"/*.o
	echo "run-fuzz: building with $($CLANG --version | head -1)"
	# The core, instrumented for coverage but without libFuzzer's main.
	for src in "$CORE"/*.c; do
		o=$obj/$(basename "$src" .c).o
		# shellcheck disable=SC2086
		$CLANG $CFLAGS $SAN -fsanitize=fuzzer-no-link -c "$src" \
			-o "$o" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=1
	done
	[ $rc -eq 0 ] || return 1
	for t in $TARGETS; do
		# shellcheck disable=SC2086
		$CLANG $CFLAGS $SAN -fsanitize=fuzzer \
			"$TOP/tests/fuzz/fuzz_$t.c" "$obj"/*.o $LIBS \
			-o "$OUT/fuzz_$t" || return 1
	done
}

# Run a command without the shell's "Aborted" notice for a crash.
quiet() {
	"$@" &
	wait $!
}

# The first line saying why a libFuzzer log is a failure.
reason() {
	grep -m1 -E "^fuzz_[a-z]+: |ERROR: |runtime error|Assertion" "$1"
}

# Copy the committed corpus of $1 to the new directory $2, run it there
# once, and take out each input that fails, naming it on stdout and why
# on stderr.  libFuzzer stops at the first failure and writes the input
# as crash-<sha1> (or leak-, timeout-, oom-), which tells which one it
# was, so the run is repeated without it until the rest pass.
sift() {
	local t=$1 work=$2 art log f sum n=0
	art=$(mktemp -d "$OUT/work/art.XXXXXX")
	log=$OUT/sift-$t.log
	cp "$TOP/tests/fuzz/corpus/$t"/* "$work/"
	while [ $n -lt 100 ]; do
		n=$((n + 1))
		rm -f "$art"/*
		quiet "$OUT/fuzz_$t" -runs=0 -timeout="$(timeout_of "$t")" \
			-rss_limit_mb=2048 -max_len=$(($(max_len "$t") * 4)) \
			-artifact_prefix="$art/" "$work" >"$log" 2>&1 && break
		f=$(find "$art" -type f | head -1)
		if [ -z "$f" ]; then
			echo "run-fuzz: $t: corpus run failed without an" \
				"artifact (log: $log)" >&2
			echo "(corpus)"
			break
		fi
		sum=${f##*-}
		for f in "$work"/*; do
			if [ "$(sha1sum <"$f" | cut -c1-40)" = "$sum" ]; then
				echo "$TOP/tests/fuzz/corpus/$t/$(basename "$f")"
				echo "$(basename "$f"): $(reason "$log")" >&2
				rm -f "$f"
				continue 2
			fi
		done
		echo "run-fuzz: $t: no input matches $sum (log: $log)" >&2
		echo "(unknown)"
		break
	done
	rm -rf "$art"
}

# Regression: the whole corpus once.  Returns 1 if any input fails.
regress() {
	local t=$1 work failing n start
	n=$(find "$TOP/tests/fuzz/corpus/$t" -type f | wc -l)
	start=$(date +%s)
	work=$(mktemp -d "$OUT/work/$t.XXXXXX")
	failing=$(sift "$t" "$work" 2>"$OUT/failing-$t.txt")
	rm -rf "$work"
	if [ -z "$failing" ]; then
		echo "run-fuzz: $t: $n corpus inputs pass" \
			"($(($(date +%s) - start)) s)"
		return 0
	fi
	echo "run-fuzz: $t: corpus inputs that fail:"
	sed 's/^/    /' "$OUT/failing-$t.txt"
	return 1
}

fuzz() {
	local t=$1 work known log rc
	work=$(mktemp -d "$OUT/work/$t.XXXXXX")
	log=$OUT/fuzz-$t.log
	# Leave out inputs that already fail: they would stop the run at
	# once and hide anything new.  They still fail the script.
	known=$(sift "$t" "$work" 2>"$OUT/failing-$t.txt")
	if [ -n "$known" ]; then
		echo "run-fuzz: $t: corpus inputs that fail (left out):"
		sed 's/^/    /' "$OUT/failing-$t.txt"
	fi
	echo "run-fuzz: $t: fuzzing for $FUZZ_SECONDS s"
	local dict=()
	[ -f "$TOP/tests/fuzz/$t.dict" ] &&
		dict=(-dict="$TOP/tests/fuzz/$t.dict")
	quiet "$OUT/fuzz_$t" "${dict[@]}" -max_total_time="$FUZZ_SECONDS" \
		-max_len="$(max_len "$t")" -timeout="$(timeout_of "$t")" \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/artifacts/$t-" "$work" >"$log" 2>&1
	rc=$?
	grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" \
		"$log" | sed "s/^/    /"
	echo "    corpus: $(find "$TOP/tests/fuzz/corpus/$t" -type f | wc -l)" \
		"committed, $(find "$work" -type f | wc -l) after the run" \
		"($work)"
	if [ $rc -ne 0 ]; then
		echo "run-fuzz: $t: CRASH (log: $log)"
		reason "$log" | sed 's/^/    /'
		grep -E "Test unit written to" "$log" | sed 's/^/    /'
		return 1
	fi
	[ -z "$known" ]
}

build || {
	echo "run-fuzz: build failed" >&2
	exit 2
}
status=0
for t in $TARGETS; do
	if [ "$FUZZ_SECONDS" -eq 0 ]; then
		regress "$t" || status=1
	else
		fuzz "$t" || status=1
	fi
done
[ $status -eq 0 ] && echo "run-fuzz: no crash" || echo "run-fuzz: FAILED"
exit $status
