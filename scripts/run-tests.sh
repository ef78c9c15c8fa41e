#!/bin/bash
# `make test`: every suite, ending with one line "N passed, N failed".
#
#   1. unit tests (cmocka, no FUSE) in the normal build
#   2. the same unit tests under AddressSanitizer + UBSan
#   3. integration tests (pytest) against the ASan+UBSan daemon
#   4. differential tests against kernel tmpfs (pytest), same daemon
#   5. the libFuzzer corpora of the core and the option parser (clang,
#      ASan+UBSan), as regression tests
#   6. the concurrency test under ThreadSanitizer
#
# Each suite's counts are added up; the exit code is non-zero if any
# test failed or a suite could not run.
set -u
BUILD=${1:-build}
ASAN_BUILD=${2:-build-asan}
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
PY=/usr/bin/python3
passed=0
failed=0
skipped=0
status=0
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

meson_suite() {
	local dir=$1 name=$2 out="$LOG/$2.txt"
	echo "=== unit tests ($name)"
	meson test -C "$dir" --print-errorlogs >"$out" 2>&1
	local rc=$?
	grep -E '^ *[0-9]+/[0-9]+ ' "$out"
	local ok fail
	ok=$(awk '/^Ok:/ {print $2}' "$out")
	fail=$(awk '/^Fail:/ {print $2}' "$out")
	to=$(awk '/^Timeout:/ {print $2}' "$out")
	if [ -z "$ok" ]; then
		cat "$out"
		echo "unit suite $name did not run"
		failed=$((failed + 1))
		status=1
		return
	fi
	passed=$((passed + ok))
	failed=$((failed + ${fail:-0} + ${to:-0}))
	[ $rc -ne 0 ] && { tail -50 "$out"; status=1; }
}

pytest_suite() {
	local name=$1; shift
	local out="$LOG/$name.txt"
	echo "=== $name"
	SHMEMFS_BIN="$TOP/$ASAN_BUILD/shmemfs" \
	SHMEMCTL_BIN="$TOP/$ASAN_BUILD/shmemctl" \
		$PY -m pytest -q -p no:cacheprovider -rfEs "$@" 2>&1 | tee "$out"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|error)' "$out" |
		tail -1)
	local p f s e
	p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
	f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
	e=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+')
	s=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
	skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
		status=1
		[ -z "$line" ] && failed=$((failed + 1))
	fi
}

# A script that is one test: it passes or fails as a whole.
script_suite() {
	local name=$1; shift
	local out="$LOG/$name.txt"
	echo "=== $name"
	if "$@" >"$out" 2>&1; then
		passed=$((passed + 1))
		tail -3 "$out"
	else
		failed=$((failed + 1))
		status=1
		tail -40 "$out"
	fi
}

meson_suite "$BUILD" release
meson_suite "$ASAN_BUILD" asan
pytest_suite integration tests/integration
pytest_suite differential tests/diff
script_suite "fuzz corpora (regression)" tests/fuzz/run-fuzz.sh 0
script_suite "ThreadSanitizer concurrency" tests/fuzz/run-tsan.sh

[ "$failed" -ne 0 ] && status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
