#!/bin/sh
# run-fuzz.sh - build the libFuzzer targets with clang and run them.
#
#   run-fuzz.sh [SECONDS] [TARGET...]   fuzz each target for SECONDS (default 60)
#   run-fuzz.sh --regress [TARGET...]   run each target once over its seed corpus
#                                       and saved crashes (fast; for make check)
#
# TARGET is a name like fuzz-canonical; default: every tests/fuzz/fuzz-*.c.
# The targets are built straight from the sources: every src/*/*.c except
# main.c goes into an archive, so each target links only the modules it
# needs.  Build directory: $FUZZ_BUILD_DIR, or a temporary one (removed
# when everything passed).  A crash input is kept in
# BUILD/tests/fuzz/regressions/TARGET/; once fixed, copy it into
# tests/fuzz/corpus/TARGET/ so it stays a regression seed.
#
# Exit status: 0 all clean, 1 a crash or a build failure, 77 (--regress
# only) when clang cannot build libFuzzer targets on this machine.
set -u

fuzzdir=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$fuzzdir/../.." && pwd)
CLANG=${CLANG:-clang}
PKGS="libcurl jansson libsystemd inih libcrypto sqlite3"

mode=fuzz
seconds=60
if [ "${1-}" = --regress ]; then
	mode=regress
	shift
elif [ $# -gt 0 ]; then
	case $1 in
	'' | *[!0-9]*) ;;
	*) seconds=$1; shift ;;
	esac
fi

targets=$*
if [ -z "$targets" ]; then
	for f in "$fuzzdir"/fuzz-*.c; do
		targets="$targets $(basename "$f" .c)"
	done
fi
for t in $targets; do
	if [ ! -f "$fuzzdir/$t.c" ]; then
		echo "run-fuzz: no such target: $t" >&2
		exit 1
	fi
done

# Missing tools are a skip for make check, an error when fuzzing was asked for.
unavailable() {
	echo "run-fuzz: $*" >&2
	[ "$mode" = regress ] && exit 77
	exit 1
}

command -v "$CLANG" >/dev/null 2>&1 || unavailable "$CLANG not found (apt-get install clang)"
cflags_deps=$(pkg-config --cflags $PKGS) || unavailable "pkg-config cannot find: $PKGS"
libs_deps=$(pkg-config --libs $PKGS)

own_build=false
if [ -n "${FUZZ_BUILD_DIR-}" ]; then
	build=$FUZZ_BUILD_DIR
	mkdir -p "$build" || exit 1
else
	build=$(mktemp -d "${TMPDIR:-/tmp}/csms-fuzz.XXXXXX") || exit 1
	own_build=true
fi
build=$(cd "$build" && pwd)

probe=$build/probe.c
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return d && n == 1 && d[0] == 0; }' >"$probe"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined "$probe" -o "$build/probe" >"$build/probe.log" 2>&1; then
	cat "$build/probe.log" >&2
	$own_build && rm -rf "$build"
	unavailable "$CLANG cannot build libFuzzer targets (apt-get install libclang-rt-14-dev)"
fi

# UBSan findings abort, so libFuzzer reports them like any crash.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
# SYSCONFDIR as the Makefile passes it: credentials.c needs it.
CFLAGS_FUZZ="-std=gnu11 -g -O1 -fno-omit-frame-pointer $SAN -I$srcdir/src/base -I$srcdir/src/config -I$srcdir/src/cloud -I$srcdir/src/observe -I$srcdir/src/plan -I$srcdir/src/execute -I$srcdir/src/records -I$srcdir/src/monitor -I$srcdir/src/cli -DSYSCONFDIR=\"/etc\" $cflags_deps"

# Compile every module but main.c.  One that does not compile here (an I/O
# module wanting the generated autoconfig.h, or a file being edited) is left
# out: only a target that needs it fails, at link time, and says why.
build_library() {
	mkdir -p "$build/obj"
	rm -f "$build/libcsms-fuzz.a" "$build/compile.log"
	left_out=
	newest_header=$(ls -t "$srcdir"/src/*/*.h | head -n 1)
	for src in "$srcdir"/src/*/*.c; do
		name=$(basename "$src" .c)
		[ "$name" = main ] && continue
		obj=$build/obj/$name.o
		if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$newest_header" ]; then
			continue
		fi
		rm -f "$obj"
		if ! $CLANG $CFLAGS_FUZZ -fsanitize=fuzzer-no-link -c "$src" -o "$obj" \
			>>"$build/compile.log" 2>&1; then
			left_out="$left_out src/$name.c"
			rm -f "$obj"
		fi
	done
	ar rcs "$build/libcsms-fuzz.a" "$build"/obj/*.o
}

build_target() {
	$CLANG $CFLAGS_FUZZ -fsanitize=fuzzer "$fuzzdir/$1.c" "$build/libcsms-fuzz.a" $libs_deps \
		-o "$build/$1" >"$build/$1.build.log" 2>&1
}

dict_for() {
	case $1 in
	fuzz-config) echo "$fuzzdir/ini.dict" ;;
	fuzz-canonical) echo "$fuzzdir/canonical.dict" ;;
	fuzz-decode-* | fuzz-planfile | fuzz-restore-json | fuzz-state) echo "$fuzzdir/json.dict" ;;
	esac
}

# Fuzz T for $seconds into a working corpus in the build directory; the
# seed corpus in the tree is read, never written.
fuzz_one() {
	t=$1
	crashdir=$build/tests/fuzz/regressions/$t
	mkdir -p "$build/corpus/$t" "$crashdir"
	dict=$(dict_for "$t")
	"$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crashdir/" ${dict:+-dict="$dict"} \
		"$build/corpus/$t" "$fuzzdir/corpus/$t" >"$build/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t.log")
	if [ $rc -eq 0 ]; then
		echo "PASS: $t: ${seconds}s, ${runs:-?} runs, corpus $(ls "$build/corpus/$t" | wc -l) new inputs"
		return 0
	fi
	tail -n 40 "$build/$t.log"
	echo "FAIL: $t: exit $rc after ${runs:-?} runs; crash input(s) in $crashdir:"
	ls "$crashdir"
	return 1
}

# Run T once over each seed and each saved crash.
regress_one() {
	t=$1
	files=$(find "$fuzzdir/corpus/$t" "$build/tests/fuzz/regressions/$t" -type f 2>/dev/null | sort)
	if [ -z "$files" ]; then
		echo "FAIL: $t: no seed corpus in $fuzzdir/corpus/$t"
		return 1
	fi
	# shellcheck disable=SC2086 # seed names have no blanks
	if "$build/$t" -timeout=10 -rss_limit_mb=2048 $files >"$build/$t.log" 2>&1; then
		echo "PASS: $t: $(echo "$files" | wc -l) inputs"
		return 0
	fi
	tail -n 40 "$build/$t.log"
	echo "FAIL: $t (log: $build/$t.log)"
	return 1
}

failed=0
build_library
for t in $targets; do
	if ! build_target "$t"; then
		cat "$build/$t.build.log"
		[ -n "$left_out" ] && echo "run-fuzz: left out, not compiling:$left_out (see $build/compile.log)"
		echo "FAIL: $t: does not build (log: $build/$t.build.log)"
		failed=1
		continue
	fi
	if [ "$mode" = regress ]; then
		regress_one "$t" || failed=1
	else
		fuzz_one "$t" || failed=1
	fi
done

if [ $failed -eq 0 ] && $own_build; then
	rm -rf "$build"
elif [ $failed -ne 0 ]; then
	echo "run-fuzz: build directory kept: $build"
fi
exit $failed
