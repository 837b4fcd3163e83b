#!/bin/bash
# monitor.sh - what the daemon tells monitoring, without systemd: the state
# file in $STATE_DIRECTORY, the Prometheus file ([daemon] metrics_file),
# STATUS= and the pass identifier in the log records.
#
# The daemon runs against the emulator with $STATE_DIRECTORY, $INVOCATION_ID
# and NOTIFY_SOCKET set as systemd would set them.  Asserted:
#   - after pass 1: the state file, csms-tagd --status and the pass's own
#     log record agree (pass id, outcome, deleted count); STATUS= gives the
#     next pass as an absolute UTC time; every record of the pass carries
#     CSMS_PASS_ID=INVOCATION-1, no record outside it does; the metrics file
#     passes a strict parser (tests/promcheck.py) and promtool when there is
#     one, and counts the deletions by rule and the requests by API;
#   - an API that fails (emulator fault) shows in request_errors_total with
#     its error code, the pass in passes_total{outcome="failed"}, and
#     --status exits 3;
#   - a rejected reload shows in config_load_success 0 and the state file;
#   - on a config that governs nothing STATUS= says what to do next.

set -u
. "${top_srcdir:?}/tests/emulator-lib.sh"

SOCK="$WORK/notify.sock"
NLOG="$WORK/notify.log"
CONF="$WORK/csms-tagd.conf"
STATE="$WORK/state"
PROM="$WORK/textfile/csms-tagd.prom"
INVOCATION=5e1f0c2b7a9d4e3f8c6b1a0d9e8f7a6b
DAEMON=
LISTENER_PID=
checks=0

cleanup() {
	[ -n "$DAEMON" ] && kill -KILL "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null && wait "$LISTENER_PID" 2>/dev/null
	_emu_cleanup
}
trap cleanup EXIT

die() {
	echo "--- daemon stderr:" >&2
	tail -n 30 "$WORK/daemon.err" >&2
	echo "--- notifications:" >&2
	tail -n 10 "$NLOG" >&2
	fail "$@"
}

check() {
	checks=$((checks + 1))
	echo "ok: $*"
}

# wait_for SECONDS WHAT CMD...: until CMD succeeds.
wait_for() {
	local n=$(($1 * 20)) what=$2
	shift 2
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.05
	done
	die "timed out waiting for $what"
}

state_field() {
	"$PYTHON3" -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v) if not isinstance(v, str) else v)' \
		"$STATE/state.json" "$1"
}

state_has() {
	[ -s "$STATE/state.json" ] && [ "$(state_field "$1" 2>/dev/null)" = "$2" ]
}

# The metrics as "NAME{LABELS} VALUE" lines, after the strict parse.
metrics() {
	"$PYTHON3" "$top_srcdir/tests/promcheck.py" "$PROM" >"$WORK/metrics" ||
		die "the metrics file is not valid exposition text"
	if command -v promtool >/dev/null 2>&1; then
		promtool check metrics <"$PROM" >"$WORK/promtool" 2>&1 ||
			die "promtool check metrics: $(cat "$WORK/promtool")"
	fi
}

metric_value() {
	grep -F -- "$1 " "$WORK/metrics" | cut -d' ' -f2
}

notify_listen "$SOCK" "$NLOG"

emu_start --seed "$top_srcdir/tests/emulator/seed-example.json"
write_creds
write_config "$CONF" aksk "metrics_file = $PROM"
# Passes on signal only (SIGUSR1), so that each step knows its pass.
sed -i 's/^interval = .*/interval = 1h/' "$CONF"
mkdir -p "$STATE" "$(dirname "$PROM")"

(
	export NOTIFY_SOCKET="$SOCK" STATE_DIRECTORY="$STATE" INVOCATION_ID="$INVOCATION"
	exec "$CSMS_TAGD" --config "$CONF" --log-target stderr --log-level debug
) 2>"$WORK/daemon.err" &
DAEMON=$!

# --- pass 1 ------------------------------------------------------------------------
wait_for 15 "pass 1 in the state file" state_has pass_id "$INVOCATION-1"
state_has config_ok true || die "state file: config_ok is $(state_field config_ok)"
state_has outcome changed || die "state file: outcome is $(state_field outcome)"
deleted=$(state_field deleted)
journal=$(grep -E "Pass 1 changed: .* $deleted deleted," "$WORK/daemon.err") ||
	die "no 'Pass 1 changed: ... $deleted deleted' record (the state file says $deleted)"
[ "$deleted" -gt 0 ] || die "pass 1 deleted nothing"
check "state file: pass $INVOCATION-1 changed, $deleted deleted, as the pass's record says"

STATE_DIRECTORY=$STATE "$CSMS_TAGD" --status >"$WORK/status" || die "--status exited $? after a good pass"
grep -q "^Last pass *: $INVOCATION-1$" "$WORK/status" || die "--status: $(cat "$WORK/status")"
grep -q "^Outcome *: changed$" "$WORK/status" || die "--status: $(cat "$WORK/status")"
grep -qE "^Tags *: [0-9]+ planned, $deleted deleted," "$WORK/status" || die "--status: $(cat "$WORK/status")"
check "--status agrees with the journal"

wait_for 5 "STATUS= after pass 1" grep -q "STATUS=pass 1 ok:" "$NLOG"
grep -qE "STATUS=pass 1 ok: [0-9]+ secrets, $deleted tags deleted; next at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC$" "$NLOG" ||
	die "STATUS= does not give the next pass as an absolute time: $(grep STATUS=pass "$NLOG" | tail -n 1)"
check "STATUS= gives the next pass as an absolute time"

# Every record from "Pass 1 started" to the pass's end carries the id, and
# only those.
awk -v id="CSMS_PASS_ID=$INVOCATION-1" '
	/Pass 1 started/ { inside = 1 }
	inside && index($0, id) == 0 { print "without id: " $0; bad = 1 }
	!inside && index($0, "CSMS_PASS_ID=") { print "outside the pass: " $0; bad = 1 }
	/Pass 1 changed/ { inside = 0; n++ }
	END { exit bad || n != 1 }' "$WORK/daemon.err" >"$WORK/ids" ||
	die "CSMS_PASS_ID: $(head -n 5 "$WORK/ids")"
n=$(grep -c "CSMS_PASS_ID=$INVOCATION-1" "$WORK/daemon.err")
check "CSMS_PASS_ID=$INVOCATION-1 on all $n records of pass 1, on no other"

metrics
[ "$(metric_value 'csms_tagd_last_pass_tags{result="deleted"}')" = "$deleted" ] ||
	die "metrics: last_pass_tags deleted is not $deleted: $(grep last_pass_tags "$WORK/metrics")"
[ "$(metric_value 'csms_tagd_passes_total{outcome="changed"}')" = 1 ] || die "metrics: passes_total"
[ "$(metric_value 'csms_tagd_config_load_success{}')" = 1 ] || die "metrics: config_load_success"
[ "$(metric_value 'csms_tagd_last_pass_success{}')" = 1 ] || die "metrics: last_pass_success"
by_rule=$(grep '^csms_tagd_tags_deleted_total{rule="' "$WORK/metrics" | awk '{ n += $2 } END { print n + 0 }')
[ "$by_rule" = "$deleted" ] || die "metrics: tags_deleted_total by rule sums to $by_rule, not $deleted"
grep -q "^csms_tagd_tags_deleted_total{rule=\"$CONF:[0-9]*\"} " "$WORK/metrics" ||
	die "metrics: rules are not FILE:LINE: $(grep tags_deleted_total "$WORK/metrics")"
lri=$(metric_value 'csms_tagd_requests_total{api="ListResourceInstances"}')
[ "${lri:-0}" -ge 1 ] || die "metrics: no ListResourceInstances request counted"
[ "$(metric_value 'csms_tagd_requests_total{api="DeleteSecretTag"}')" -ge "$deleted" ] ||
	die "metrics: fewer DeleteSecretTag requests than deletions"
check "metrics file: valid$(command -v promtool >/dev/null && echo ' (promtool too)'), $deleted deletions by rule, requests by API"

# --- a failing API (every API: observe=auto falls back to ListSecrets) -------------
emu_post /_emulator/faults \
	'{"rules": [{"api": "*", "kind": "status", "status": 403, "error_code": "CSMS.0403"}]}' \
	>/dev/null || die "cannot set the fault"
kill -USR1 "$DAEMON"
wait_for 15 "pass 2 in the state file" state_has pass_id "$INVOCATION-2"
state_has outcome failed || die "state file: pass 2 outcome is $(state_field outcome)"
metrics
[ "$(metric_value 'csms_tagd_request_errors_total{api="ListResourceInstances",code="CSMS.0403"}')" = 1 ] ||
	die "metrics: the 403 is not counted: $(grep request_errors "$WORK/metrics")"
[ "$(metric_value 'csms_tagd_passes_total{outcome="failed"}')" = 1 ] || die "metrics: failed pass not counted"
[ "$(metric_value 'csms_tagd_last_pass_success{}')" = 0 ] || die "metrics: last_pass_success after a failure"
STATE_DIRECTORY=$STATE "$CSMS_TAGD" --status >"$WORK/status"
rc=$?
[ "$rc" = 3 ] || die "--status exited $rc after a failed pass, expected 3"
check "a failing API: request_errors_total{api=ListResourceInstances,code=CSMS.0403} 1, --status exits 3"
emu_post /_emulator/faults '{"rules": []}' >/dev/null || die "cannot clear the faults"

# --- a rejected reload, then a config that governs nothing ----------------------------
cp "$CONF" "$WORK/good.conf"
echo "bogus line" >>"$CONF"
kill -HUP "$DAEMON"
wait_for 10 "the rejected reload in the state file" state_has config_ok false
metrics
[ "$(metric_value 'csms_tagd_config_load_success{}')" = 0 ] || die "metrics: config_load_success after a rejected reload"
state_field config_error | grep -q "$CONF:" || die "state file: config_error is $(state_field config_error)"
check "a rejected reload: config_load_success 0, the error in the state file"

sed '/^\[secret/,$d' "$WORK/good.conf" >"$CONF"
kill -HUP "$DAEMON"
wait_for 10 "the reload" state_has config_ok true
kill -USR1 "$DAEMON"
wait_for 15 "pass 3" grep -q "STATUS=pass 3 ok" "$NLOG"
grep "STATUS=pass 3 ok" "$NLOG" | grep -qF "governs no secret: add [secret \"NAME\"] or [secrets \"GLOB\"] sections to $CONF" ||
	die "STATUS= does not say what to do next: $(grep 'STATUS=pass 3' "$NLOG")"
check "a config that governs nothing: STATUS= says what to do next"

kill "$DAEMON"
wait "$DAEMON" || die "the daemon exited $? on SIGTERM"
DAEMON=
echo "monitor: $checks checks passed"
