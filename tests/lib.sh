# lib.sh - shell helpers for the script tests; source it, do not run it.
#
#   fail MESSAGE...             print "FAIL: MESSAGE" on stderr and exit 1
#   run CMD...                  run CMD, keeping stdout, stderr and exit status in
#                               $tmpdir/out, $tmpdir/err and $rc
#   assert_exit N CMD...        run CMD and fail unless it exits with N
#   assert_contains FILE TEXT   fail unless FILE contains the fixed string TEXT
#   assert_not_contains FILE TEXT
#   skip MESSAGE...             exit 77, which automake counts as SKIP
#   $prologue                   the settings every test config needs before its
#                               governance sections ($prologue_lines lines; as
#                               tests/unit/prologue.h, but with a project_id
#                               that is not the shipped placeholder, which
#                               --check-config refuses)
#   examples_of CONF            print CONF (the shipped one) with its commented
#                               example sections active and dry_run = no
#
# Sourcing it creates $tmpdir, removed again on exit.

set -u

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/csms-tagd-test.XXXXXX") || exit 99
trap 'rm -rf "$tmpdir"' EXIT
rc=0
checks=0
prologue='[csms]
region = cn-north-4
project_id = 5e5a7c1d2b3f4e6a8c9d0e1f2a3b4c5d
[auth]
method = token
token_file = token'
prologue_lines=6

fail() {
	echo "FAIL: $*" >&2
	for f in out err; do
		if [ -s "$tmpdir/$f" ]; then
			echo "--- last std$f:" >&2
			head -n 40 "$tmpdir/$f" >&2
		fi
	done
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

run() {
	rc=0
	"$@" >"$tmpdir/out" 2>"$tmpdir/err" || rc=$?
}

assert_exit() {
	local want=$1
	shift
	run "$@"
	checks=$((checks + 1))
	[ "$rc" -eq "$want" ] || fail "exit status $rc, expected $want: $*"
}

assert_contains() {
	checks=$((checks + 1))
	grep -qF -- "$2" "$1" || fail "$(basename "$1") lacks '$2'"
}

assert_not_contains() {
	checks=$((checks + 1))
	! grep -qF -- "$2" "$1" || fail "$(basename "$1") unexpectedly contains '$2'"
}

# The shipped config keeps its example sections commented out ("#[secret",
# "#owner = ..."); prose comments have a space after '#'.
examples_of() {
	sed -e '/^# Examples/,$ s/^#\([^ #]\)/\1/' -e 's/^dry_run = yes$/dry_run = no/' "$1"
}
