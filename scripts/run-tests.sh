#!/bin/bash
# `make test`: every suite, ending with one line "N passed, N failed".
#
#   1. unit tests (cmocka, no FUSE) in the normal build
#   2. the same unit tests under AddressSanitizer + UBSan
#   3. integration tests (pytest) against the ASan+UBSan daemon, over
#      /dev/fuse (-o nouring), then again over FUSE's io_uring queues
#      (-o uring, with fuse.enable_uring set for the pass and restored;
#      skipped, saying why, on a kernel without it)
#   4. the integration tests again against the normal-build daemon run
#      under valgrind (memcheck)
#   5. differential tests against kernel tmpfs (pytest), ASan+UBSan daemon
#   6. the libFuzzer corpora of the core and the option parser (clang,
#      ASan+UBSan), as regression tests
#   7. the concurrency test under ThreadSanitizer
#   8. installing: man pages against --help, meson install into a
#      DESTDIR and mount(8) with the installed tree, and the Debian
#      packages (make deb, lintian, install, mount, purge; about a
#      minute; SHMEMFS_SKIP_DEB=1 leaves that part out)
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
URING_PARAM=/sys/module/fuse/parameters/enable_uring
uring_old=""
# the io_uring pass sets fuse.enable_uring; put it back however we end
trap 'rm -rf "$LOG"; [ -n "$uring_old" ] && echo "$uring_old" > "$URING_PARAM"' EXIT

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

# pytest_suite NAME DIR PYTEST_ARGS...: the daemon and shmemctl of build DIR.
pytest_suite() {
	local name=$1 dir=$2; shift 2
	local out="$LOG/$name.txt"
	echo "=== $name"
	SHMEMFS_BIN="$TOP/$dir/shmemfs" \
	SHMEMCTL_BIN="$TOP/$dir/shmemctl" \
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

# The whole integration suite under valgrind takes about 3.5 minutes on
# 2 cores.  The daemon's exit status (99 on any memcheck error or
# definite leak) and valgrind's "==PID==" lines both fail the test that
# mounted it (tests/integration/conftest.py).  Not under valgrind even
# here: test_fsx.py, test_swap.py's 512 MiB RSS test and its refused
# swap file runs start build/shmemfs without the wrapper;
# test_daemonizes_without_f is skipped under a wrapper.
VALGRIND="valgrind --error-exitcode=99 --leak-check=full"
VALGRIND="$VALGRIND --errors-for-leak-kinds=definite -q"

# Every pass but the ring's runs with the kernel's ring switched off, so
# a daemon a test starts without -o nouring still gets /dev/fuse
# (test_transport.py turns the ring on for its own daemons, valgrind's
# included); the trap above puts the machine's setting back.
if [ -w "$URING_PARAM" ]; then
	uring_old=$(cat "$URING_PARAM")
	echo N > "$URING_PARAM"
fi

meson_suite "$BUILD" release
meson_suite "$ASAN_BUILD" asan
SHMEMFS_TRANSPORT=nouring \
	pytest_suite integration "$ASAN_BUILD" tests/integration
if [ -w "$URING_PARAM" ]; then
	echo Y > "$URING_PARAM"
	SHMEMFS_TRANSPORT=uring \
		pytest_suite "integration over io_uring" "$ASAN_BUILD" \
		tests/integration
	echo N > "$URING_PARAM"
else
	echo "=== integration over io_uring"
	echo "skipped: this kernel has no FUSE over io_uring" \
		"($URING_PARAM missing or not writable)"
	skipped=$((skipped + 1))
fi
if command -v valgrind >/dev/null; then
	SHMEMFS_WRAPPER="$VALGRIND" SHMEMFS_TRANSPORT=nouring \
		pytest_suite "integration under valgrind" "$BUILD" \
		tests/integration
else
	echo "=== integration under valgrind"
	echo "valgrind is not installed (scripts/install-deps.sh)"
	failed=$((failed + 1))
	status=1
fi
pytest_suite differential "$ASAN_BUILD" tests/diff
script_suite "fuzz corpora (regression)" tests/fuzz/run-fuzz.sh 0
script_suite "ThreadSanitizer concurrency" tests/fuzz/run-tsan.sh
SHMEMFS_BUILD="$TOP/$BUILD" pytest_suite "install and packaging" "$BUILD" \
	tests/install

if [ -n "$uring_old" ]; then
	echo "$uring_old" > "$URING_PARAM"
	uring_old=""
fi
[ "$failed" -ne 0 ] && status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
