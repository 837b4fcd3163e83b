# guest.sh - a throw-away systemd guest for the system tests; source it.
#
# Boots systemd as PID 1 in a systemd-nspawn container on an overlay of the
# host's root (docs: systemd-testing.md), with the CSMS emulator as a service
# of the guest on port $EMU_PORT of its own network namespace.  Everything
# lives in a private mount namespace and a mktemp directory, and is torn down
# on every exit, failures included; a detached guard cleans up even after a
# SIGKILL.  Skips (77) only when not root or systemd-nspawn is missing.
#
#   guest_root        mount the guest's root at $ROOT and add the emulator;
#                     then the caller installs what it tests under $ROOT
#   guest_boot        boot it and wait until it runs (and the emulator)
#   g CMD...          run CMD in the guest
#   prop UNIT PROP, prop_is, prop_matches, journal UNIT [MATCH...],
#   journal_count_is N UNIT..., journal_count_ge, emulator_state,
#   emulator_deleted, deleted_count_is N, deleted_count_ge, sig UNIT SIGNAL,
#   wait_until SECONDS WHAT CMD..., check TEXT, elapsed,
#   mid NAME          csms-tagd's message id MID_NAME, from src/base/log.h
#   AK, SK            the AK/SK pair of tests/nspawn/seed.json
#
# The sourcing script re-runs itself in a private mount namespace first.

set -u

if [ -z "${CSMS_NSPAWN_INNER:-}" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root" >&2
		exit 77
	fi
	if ! command -v systemd-nspawn >/dev/null 2>&1; then
		echo "SKIP: systemd-nspawn not installed (Debian package systemd-container)" >&2
		exit 77
	fi
	# The mounts below vanish with this namespace, whatever happens.
	CSMS_NSPAWN_INNER=1 exec unshare --mount --propagation private -- "${BASH:-bash}" "$0" "$@"
	echo "FAIL: cannot unshare the mount namespace" >&2
	exit 1
fi

. "${top_srcdir:?}/tests/lib.sh"

PYTHON3=${PYTHON3:-python3}
NSPAWN_DIR="$top_srcdir/tests/nspawn"
EMULATOR_DIR="$top_srcdir/tests/emulator"
EMU_PORT=18080                  # in the guest's own network namespace
MID_UNIT_FAILURE_RESULT=d9b373ed55a64feb8242e02dbe79a49c   # systemd's
AK=NSPAWNTESTAK0000000          # as in tests/nspawn/seed.json
SK=nspawnTestSecretKey000000000000000000

# csms-tagd's message ids, from the header that defines them.
mid() {
	sed -n "s/^#define MID_$1 *\"\([0-9a-f]\{32\}\)\".*/\1/p" "$top_srcdir/src/base/log.h"
}

MACHINE="csms-tagd-test-$$"
# The cgroups that will hold nspawn and the guest: one per hierarchy this
# script's processes are in (hybrid: cgroup2 and name=systemd; else cgroup2).
if [ -d /sys/fs/cgroup/unified ]; then
	CGROUPS="/sys/fs/cgroup/unified/$MACHINE /sys/fs/cgroup/systemd/$MACHINE"
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	CGROUPS="/sys/fs/cgroup/$MACHINE"
else
	fail "no cgroup2 hierarchy: the guest needs one"
fi
T="$tmpdir/t"                   # a tmpfs: overlay upper and work dirs
ROOT="$T/root"                  # the guest's root
NSPAWN_PID=
GUEST=                          # the guest's PID 1, as seen from here

# --- helpers -------------------------------------------------------------------

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}
started_ms=$(now_ms)

# wait_until SECONDS WHAT CMD...: poll CMD until it succeeds, or fail.
wait_until() {
	local deadline=$(($(now_ms) + $1 * 1000)) what=$2
	shift 2
	until "$@"; do
		[ "$(now_ms)" -lt "$deadline" ] || fail "timed out waiting for $what"
		sleep 0.1
	done
}

# g CMD...: run CMD in the guest (all its namespaces), never for long.  The
# time limit applies inside: nsenter forks into the guest's PID namespace, and
# killing nsenter would leave its child there as an unreaped zombie that
# stalls the guest's shutdown.
g() {
	nsenter --target "$GUEST" --all -- timeout 30 "$@"
}

prop() {
	g systemctl show -P "$2" "$1"
}

prop_is() {
	[ "$(prop "$1" "$2")" = "$3" ]
}

prop_matches() {
	[[ "$(prop "$1" "$2")" =~ $3 ]]
}

# journal UNIT [MATCH...]: the unit's journal records as JSON lines.
journal() {
	local unit=$1
	shift
	g journalctl -q --no-pager -o json -u "$unit" "$@"
}

journal_count_is() {
	local n=$1
	shift
	[ "$(journal "$@" | grep -c .)" -eq "$n" ]
}

# Waits use "at least", so that the exact check after them can say what is wrong.
journal_count_ge() {
	local n=$1
	shift
	[ "$(journal "$@" | grep -c .)" -ge "$n" ]
}

# The emulator's control API, reached from the guest's network namespace.
emulator_state() {
	timeout 10 nsenter --target "$GUEST" --net -- "$PY" -c '
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
		"http://127.0.0.1:$EMU_PORT/_emulator/state"
}

emulator_deleted() {
	emulator_state | "$PY" "$NSPAWN_DIR/check.py" deleted
}

deleted_count_is() {
	[ "$(emulator_deleted | grep -c .)" -eq "$1" ]
}

deleted_count_ge() {
	[ "$(emulator_deleted | grep -c .)" -ge "$1" ]
}

# sig UNIT SIGNAL: signal the unit's main process, as an operator would.
sig() {
	g systemctl kill --kill-who=main -s "$2" "$1" || fail "cannot send $2 to $1"
}

elapsed() {
	local ds=$((($(now_ms) - started_ms) / 100))
	echo "$((ds / 10)).$((ds % 10)) s"
}

check() {
	checks=$((checks + 1))
	echo "ok: $* [$(elapsed)]"
}

# --- teardown, on every exit -----------------------------------------------------

diagnostics() {
	echo "--- guest diagnostics" >&2
	g systemctl --no-pager status 'csms-tagd*' csms-emulator.service >&2 2>&1
	g journalctl -q --no-pager -n 60 -u 'csms-tagd*' -u csms-emulator.service >&2 2>&1
	[ -f "$ROOT/var/lib/csms-emulator/log" ] && tail -n 20 "$ROOT/var/lib/csms-emulator/log" >&2
	[ -f "$tmpdir/console" ] && tail -n 20 "$tmpdir/console" >&2
}

stop_guest() {
	local cg deadline
	[ -n "$NSPAWN_PID" ] || return 0
	if kill -0 "$NSPAWN_PID" 2>/dev/null && [ -n "$GUEST" ]; then
		nsenter --target "$GUEST" --all -- timeout 5 systemctl poweroff --no-block >/dev/null 2>&1
		deadline=$(($(now_ms) + 10000))
		while kill -0 "$NSPAWN_PID" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
			sleep 0.1
		done
	fi
	if kill -0 "$NSPAWN_PID" 2>/dev/null; then
		echo "guest did not power off: killing it" >&2
		for cg in $CGROUPS; do
			[ -e "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill"
		done
		kill -KILL "$NSPAWN_PID" ${GUEST:+"$GUEST"} 2>/dev/null
	fi
	wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN_PID=
}

teardown() {
	local rc=$? cg
	trap - EXIT INT TERM HUP
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$GUEST" ] && kill -0 "$GUEST" 2>/dev/null; then
		diagnostics
	fi
	stop_guest
	for cg in $CGROUPS; do
		[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cg" ] && echo "warning: cgroup $cg left behind" >&2
	done
	mountpoint -q "$ROOT" && umount "$ROOT" 2>/dev/null || umount -l "$ROOT" 2>/dev/null
	mountpoint -q "$T" && umount "$T" 2>/dev/null || umount -l "$T" 2>/dev/null
	rm -rf --one-file-system "$tmpdir"
	exit "$rc"
}
trap teardown EXIT
trap 'exit 1' INT TERM HUP

# When this script is killed outright (SIGKILL runs no trap), a detached guard
# kills the guest and removes the cgroups and files this run made.  Normally
# it finds nothing left to do.
setsid "$BASH" -c '
	while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
	for i in 1 2 3 4 5 6 7 8 9 10; do
		for cg in $2; do
			[ -e "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill"
			[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		left=
		for cg in $2; do [ -d "$cg" ] && left=1; done
		[ -z "$left" ] && break
		sleep 0.5
	done
	umount -l "$3/t/root" 2>/dev/null
	umount -l "$3/t" 2>/dev/null
	rm -rf --one-file-system "$3"' guard "$$" "$CGROUPS" "$tmpdir" </dev/null >/dev/null 2>&1 &

# --- preflight -------------------------------------------------------------------

[ -f "$EMULATOR_DIR/csms-emulator.py" ] || fail "no emulator at $EMULATOR_DIR"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
	fail "the kernel has no overlay file system"
# The interpreter itself, not a wrapper such as a pyenv shim: the guest runs it.
PY=$("$PYTHON3" -c 'import sys; print(sys.executable)') || fail "cannot run $PYTHON3"

# --- the guest's root and boot -----------------------------------------------------

guest_root() {
	mount -t tmpfs -o mode=0755 tmpfs /run || fail "cannot mount a tmpfs on /run"
	mkdir -p "$T" && mount -t tmpfs -o mode=0755 tmpfs "$T" || fail "cannot mount a tmpfs"
	mkdir "$T/upper" "$T/work" "$ROOT"
	mount -t overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" overlay "$ROOT" ||
		fail "cannot mount the overlay"
	[ -x "$ROOT$PY" ] || fail "$PY is not visible in the guest (not on the root file system)"

	# No host service may start in the guest: an empty /etc/systemd/system.
	rm -rf "$ROOT/etc/systemd/system"
	mkdir -p "$ROOT/etc/systemd/system"
	"$PY" -c 'import uuid; print(uuid.uuid4().hex)' >"$ROOT/etc/machine-id"
	: >"$ROOT/etc/fstab"

	# The emulator and the target the guest boots into.
	mkdir -p "$ROOT/opt/csms-test" "$ROOT/var/lib/csms-emulator"
	cp -r "$EMULATOR_DIR" "$ROOT/opt/csms-test/emulator"
	cp "$NSPAWN_DIR/seed.json" "$ROOT/opt/csms-test/seed.json"
	cat >"$ROOT/etc/systemd/system/csms-emulator.service" <<-EOF
	[Unit]
	Description=CSMS emulator for the csms-tagd test

	[Service]
	ExecStart=$PY /opt/csms-test/emulator/csms-emulator.py --seed /opt/csms-test/seed.json --port $EMU_PORT --port-file /var/lib/csms-emulator/port --log-file /var/lib/csms-emulator/log
	EOF
	cat >"$ROOT/etc/systemd/system/csms-test.target" <<-EOF
	[Unit]
	Description=csms-tagd test guest
	Requires=basic.target csms-emulator.service
	After=basic.target csms-emulator.service
	EOF
}

guest_boot() {
	# nspawn's cgroups go below one of our own, not into the host's root cgroup.
	for cg in $CGROUPS; do
		mkdir "$cg" || fail "cannot create cgroup $cg"
	done
	(
		for cg in $CGROUPS; do echo "$BASHPID" >"$cg/cgroup.procs" || exit 1; done
		SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet -D "$ROOT" -M "$MACHINE" \
			--register=no --keep-unit --private-network --link-journal=no --resolv-conf=off --timezone=off \
			--console=read-only --system-call-filter=bpf -b systemd.unit=csms-test.target
	) </dev/null >"$tmpdir/console" 2>&1 &
	NSPAWN_PID=$!

	guest_pid1() {
		local p
		kill -0 "$NSPAWN_PID" 2>/dev/null || fail "systemd-nspawn exited: $(tail -n 5 "$tmpdir/console")"
		for p in $(pgrep -P "$NSPAWN_PID"); do
			if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then
				GUEST=$p
				return 0
			fi
		done
		return 1
	}
	wait_until 20 "the guest's systemd" guest_pid1

	booted() {
		local state
		state=$(g systemctl is-system-running --wait 2>/dev/null)
		case $state in
		running) return 0 ;;
		degraded) g systemctl --no-pager --failed >&2; return 0 ;;
		*) return 1 ;;
		esac
	}
	wait_until 60 "the guest to finish booting" booted
	wait_until 20 "the emulator" test -s "$ROOT/var/lib/csms-emulator/port"
	g journalctl --update-catalog || fail "journalctl --update-catalog failed in the guest"
	check "guest booted"
}
