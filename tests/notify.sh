#!/bin/bash
# notify.sh - the sd_notify protocol of the daemon, without systemd.
#
# tests/notify-listener.py plays systemd's notification socket; the daemon
# runs against the emulator with NOTIFY_SOCKET, WATCHDOG_USEC (1 s) and
# WATCHDOG_PID set, as systemd would set them.  Asserted, in order:
#   - READY=1, then a STATUS= that reports the finished first pass, and
#     WATCHDOG=1 pings at about WATCHDOG_USEC/2;
#   - SIGHUP with a good config: RELOADING=1, then READY=1;
#   - SIGHUP with a bad config: RELOADING=1, then READY=1 with a STATUS=
#     saying the reload was rejected, and the daemon keeps running;
#   - after the test wedge (CSMS_TAGD_TEST_HOOKS=1 and SIGUSR2) no
#     WATCHDOG=1 arrives any more;
#   - a fresh daemon given SIGTERM sends STOPPING=1 and exits 0.
# Every notification must come from the daemon's own pid (systemd ignores
# others under NotifyAccess=main).  A real systemd is tested by
# systemd-nspawn.sh; this is the fast protocol check.

set -u
. "${top_srcdir:?}/tests/emulator-lib.sh"

SOCK="$WORK/notify.sock"
NLOG="$WORK/notify.log"
CONF="$WORK/csms-tagd.conf"
WATCHDOG_USEC=1000000
LISTENER_PID=
DAEMON=
DAEMON_PIDS=

cleanup() {
	if [ -n "$DAEMON" ]; then
		kill -KILL "$DAEMON" 2>/dev/null
		wait "$DAEMON" 2>/dev/null
	fi
	if [ -n "$LISTENER_PID" ]; then
		kill "$LISTENER_PID" 2>/dev/null
		wait "$LISTENER_PID" 2>/dev/null
	fi
	_emu_cleanup
}
trap cleanup EXIT

show_logs() {
	echo "--- notifications:" >&2
	tail -n 30 "$NLOG" >&2
	for f in "$WORK"/daemon-*.err; do
		[ -e "$f" ] || continue
		echo "--- $(basename "$f"):" >&2
		tail -n 20 "$f" >&2
	done
}

die() {
	show_logs
	fail "$@"
}

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# Number of the first notification line after line FROM that came from
# $DAEMON and whose KEY=VALUE matches the extended regex RE; empty if none.
find_line() {
	awk -v from="$1" -v pid="$DAEMON" -v re="$2" '
		NR > from && $2 == pid { sub(/^[^ ]+ [^ ]+ /, ""); if ($0 ~ re) { print NR; exit } }' "$NLOG"
}

# wait_line SECONDS FROM RE: wait for such a line and print its number.  In
# $(...) its failure only ends the subshell: callers add "|| exit 1".
wait_line() {
	local deadline=$(($(now_ms) + $1 * 1000)) n
	while :; do
		n=$(find_line "$2" "$3")
		if [ -n "$n" ]; then
			echo "$n"
			return 0
		fi
		[ "$(now_ms)" -lt "$deadline" ] || die "no notification matching '$3' within $1 s"
		sleep 0.05
	done
}

log_lines() {
	wc -l <"$NLOG"
}

# start_daemon NAME: run csms-tagd as systemd would, with its own pid in
# WATCHDOG_PID (the subshell's pid is the daemon's after exec).
start_daemon() {
	(
		export NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC="$WATCHDOG_USEC" WATCHDOG_PID="$BASHPID"
		export CSMS_TAGD_TEST_HOOKS=1
		exec "$CSMS_TAGD" --config "$CONF" --log-target stderr
	) 2>"$WORK/daemon-$1.err" &
	DAEMON=$!
	DAEMON_PIDS="$DAEMON_PIDS $DAEMON"
}

# --- set up ----------------------------------------------------------------
notify_listen "$SOCK" "$NLOG"

emu_start --seed "$top_srcdir/tests/emulator/seed-example.json"
write_creds
write_config "$CONF"

# --- start, status, watchdog ----------------------------------------------------
start_daemon main
ready=$(wait_line 10 0 '^READY=1$') || exit 1
wait_line 10 "$ready" '^STATUS=pass 1 ok: ' >/dev/null
first_ping=$(wait_line 5 "$ready" '^WATCHDOG=1$') || exit 1
third_ping=$first_ping
for _ in 1 2; do third_ping=$(wait_line 3 "$third_ping" '^WATCHDOG=1$') || exit 1; done
t1=$(sed -n "${first_ping}p" "$NLOG" | cut -d' ' -f1)
t3=$(sed -n "${third_ping}p" "$NLOG" | cut -d' ' -f1)
awk -v a="$t1" -v b="$t3" 'BEGIN { d = (b - a) / 2; exit !(d > 0.3 && d < 0.8) }' ||
	die "watchdog pings every $(awk -v a="$t1" -v b="$t3" 'BEGIN { print (b - a) / 2 }') s, expected about 0.5 s"
echo "ok: READY=1, STATUS=pass 1 ok, WATCHDOG=1 every WATCHDOG_USEC/2"

# --- reload: good config ---------------------------------------------------------
mark=$(log_lines)
kill -HUP "$DAEMON"
reloading=$(wait_line 5 "$mark" '^RELOADING=1$') || exit 1
wait_line 5 "$reloading" '^READY=1$' >/dev/null
echo "ok: SIGHUP -> RELOADING=1, READY=1"

# --- reload: bad config keeps the old one -----------------------------------------
cp "$CONF" "$WORK/good.conf"
sed -i 's/^interval = .*/interval = often/' "$CONF"
grep -q '^interval = often$' "$CONF" || fail "cannot break the config"
mark=$(log_lines)
kill -HUP "$DAEMON"
reloading=$(wait_line 5 "$mark" '^RELOADING=1$') || exit 1
ready=$(wait_line 5 "$reloading" '^READY=1$') || exit 1
wait_line 1 "$ready" '^STATUS=.*reload rejected' >/dev/null
kill -0 "$DAEMON" 2>/dev/null || die "the daemon exited on a bad config"
grep -q 'interval' "$WORK/daemon-main.err" || die "the rejection does not say what is wrong"
cp "$WORK/good.conf" "$CONF"
echo "ok: SIGHUP with a bad config -> RELOADING=1, READY=1, rejected, still running"

# --- wedge: the pings stop ---------------------------------------------------------
wait_line 3 "$(log_lines)" '^WATCHDOG=1$' >/dev/null
kill -USR2 "$DAEMON"
deadline=$(($(now_ms) + 5000))
until grep -q 'wedging' "$WORK/daemon-main.err"; do
	[ "$(now_ms)" -lt "$deadline" ] || die "the daemon did not log the test wedge"
	sleep 0.05
done
mark=$(log_lines)
# Four ping intervals (WATCHDOG_USEC/2 each): a live loop pings three times.
sleep 2
late=$(find_line "$mark" '^WATCHDOG=1$')
[ -z "$late" ] || die "WATCHDOG=1 after the wedge (line $late)"
kill -0 "$DAEMON" 2>/dev/null || die "the wedged daemon exited by itself"
kill -KILL "$DAEMON"
wait "$DAEMON" 2>/dev/null
echo "ok: no WATCHDOG=1 after the wedge"

# --- stop: a fresh daemon ------------------------------------------------------------
mark=$(log_lines)
start_daemon stop
wait_line 10 "$mark" '^STATUS=pass 1 ' >/dev/null
mark=$(log_lines)
kill -TERM "$DAEMON"
deadline=$(($(now_ms) + 10000))
while kill -0 "$DAEMON" 2>/dev/null; do
	[ "$(now_ms)" -lt "$deadline" ] || die "no exit within 10 s of SIGTERM"
	sleep 0.05
done
rc=0
wait "$DAEMON" || rc=$?
[ -n "$(find_line "$mark" '^STOPPING=1$')" ] || die "no STOPPING=1 after SIGTERM"
[ "$rc" -eq 0 ] || die "exit status $rc after SIGTERM, expected 0"
DAEMON=
echo "ok: SIGTERM -> STOPPING=1, exit 0"

# --- all from the main process ----------------------------------------------------------
others=$(awk -v pids="$DAEMON_PIDS" '
	BEGIN { n = split(pids, p, " "); for (i = 1; i <= n; i++) ok[p[i]] = 1 }
	!($2 in ok)' "$NLOG" | head -n 3)
[ -z "$others" ] || die "notifications not from the daemon's main process: $others"
echo "PASS"
