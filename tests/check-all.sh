#!/bin/bash
# The whole test suite: what `make check-all` and .ci/run run.
#   1. make check in this build (unit, integration, emulator, systemd tests);
#   2. make check again in a separate ASan+UBSan build;
#   3. every libFuzzer target for $FUZZ_SECONDS (default 60) each;
#   4. extra long-running checks registered below (valgrind, ...).
# Prints one "N passed, N failed" line last and exits non-zero on any failure.
set -uo pipefail

: "${top_srcdir:?}" "${top_builddir:?}"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
MAKE=${MAKE:-make}
passed=0
failed=0
failures=()

# Add the PASS/FAIL/XPASS/ERROR counts of an automake test-suite.log.
count_suite() {
	local log=$1 name=$2 p f
	if [ ! -f "$log" ]; then
		failed=$((failed + 1)); failures+=("$name: no test-suite.log"); return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
	f=$(( $(sed -n 's/^# FAIL: *//p' "$log" | head -n1) + $(sed -n 's/^# ERROR: *//p' "$log" | head -n1) + $(sed -n 's/^# XPASS: *//p' "$log" | head -n1) ))
	passed=$((passed + ${p:-0})); failed=$((failed + f))
	[ "$f" -eq 0 ] || failures+=("$name: $f failed (see $log)")
}

# Run one named step; it counts as one test.
step() {
	local name=$1; shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1)); failures+=("$name")
	fi
}

echo "=== make check"
$MAKE -C "$top_builddir" check || true
count_suite "$top_builddir/test-suite.log" "make check"

echo "=== make check (ASan + UBSan build)"
# A second build can't share a configured source tree, so it is made from
# the distribution tree (which also proves the tarball is complete).
asan="$top_builddir/build-asan"
rm -rf "$asan"
if $MAKE -C "$top_builddir" distdir distdir="$asan" >/dev/null &&
   (cd "$asan" && ./configure -q --enable-sanitizers CFLAGS="-O1 -g" &&
    $MAKE -j"$(nproc)" >/dev/null); then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$MAKE -C "$asan" check || true
	count_suite "$asan/test-suite.log" "make check (sanitizers)"
else
	failed=$((failed + 1)); failures+=("sanitizer build")
fi

# One build of the fuzz targets serves every run.
export FUZZ_BUILD_DIR="$top_builddir/build-fuzz"
for f in "$top_srcdir"/tests/fuzz/fuzz-*.c; do
	[ -e "$f" ] || continue
	t=$(basename "$f" .c)
	step "$t for ${FUZZ_SECONDS}s" sh "$top_srcdir/tests/fuzz/run-fuzz.sh" "$FUZZ_SECONDS" "$t"
done

for extra in "$top_srcdir"/tests/long/*.sh; do
	[ -e "$extra" ] || continue
	step "$(basename "$extra" .sh)" bash "$extra"
done

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
