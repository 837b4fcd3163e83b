#!/bin/bash
# monitor.sh - what the daemon tells monitoring, without systemd: the state
# file in $STATE_DIRECTORY, the Prometheus file ([daemon] metrics_file),
# STATUS= and the pass identifier in the log records.
#
# The daemon runs against the emulator with $STATE_DIRECTORY, $INVOCATION_ID
# and NOTIFY_SOCKET set as systemd would set them.  Asserted:
#   - pass 1 is a dry run: its deletions are would_delete, never deleted (in
#     the metrics, the state file and --status), and no DELETE is sent;
#   - a reload to dry_run = no starts pass 2 at once, without a signal, and
#     --status does not relabel the dry run's count;
#   - after pass 2: the state file, csms-tagd --status and the pass's own
#     log record agree (pass id, outcome, deleted count); STATUS= gives the
#     next pass as an absolute UTC time; every record of the pass carries
#     CSMS_PASS_ID=INVOCATION-1, no record outside it does, and no record
#     carries the retired counter CSMS_PASS=; the metrics file
#     passes a strict parser (tests/promcheck.py) and promtool when there is
#     one, and counts the deletions by rule (section and key glob, never
#     FILE:LINE) and the requests by API; every series carries the
#     instance, project and region labels;
#   - an API that fails (emulator fault) shows in request_errors_total with
#     its error code, the pass in passes_total{outcome="failed"}, and
#     --status exits 2 (running, unhealthy);
#   - a rejected reload shows in config_load_success 0, the state file and
#     --status;
#   - on a config that governs nothing STATUS= says what to do next, in the
#     pass that the reload started;
#   - stopped: csms_tagd_up 0 in the metrics file (which stays), --status
#     says "not running" and exits 3.

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

# The metrics as "NAME{LABELS} VALUE" lines, after the strict parse, with
# the labels every series must carry checked and then left out.
ID='instance="csms-tagd",project="0123456789abcdef0123456789abcdef",region="cn-north-4"'
metrics() {
	"$PYTHON3" "$top_srcdir/tests/promcheck.py" "$PROM" >/dev/null ||
		die "the metrics file is not valid exposition text"
	if command -v promtool >/dev/null 2>&1; then
		promtool check metrics <"$PROM" >"$WORK/promtool" 2>&1 ||
			die "promtool check metrics: $(cat "$WORK/promtool")"
	fi
	! grep -v '^#' "$PROM" | grep -vF "{$ID" ||
		die "series without the instance, project and region labels"
	sed -e "s/{$ID}/{}/" -e "s/{$ID,/{/" "$PROM" >"$WORK/metrics.prom"
	"$PYTHON3" "$top_srcdir/tests/promcheck.py" "$WORK/metrics.prom" >"$WORK/metrics" ||
		die "the metrics file without the common labels is not valid"
}

metric_value() {
	grep -F -- "$1 " "$WORK/metrics" | cut -d' ' -f2
}

notify_listen "$SOCK" "$NLOG"

emu_start --seed "$top_srcdir/tests/emulator/seed-example.json"
write_creds
write_config "$CONF" aksk "metrics_file = $PROM
dry_run = yes"
# Passes on signal only (SIGUSR1), so that each step knows its pass.
sed -i 's/^interval = .*/interval = 1h/' "$CONF"
mkdir -p "$STATE" "$(dirname "$PROM")"

(
	export NOTIFY_SOCKET="$SOCK" STATE_DIRECTORY="$STATE" INVOCATION_ID="$INVOCATION"
	exec "$CSMS_TAGD" --config "$CONF" --log-target stderr --log-level debug
) 2>"$WORK/daemon.err" &
DAEMON=$!

# --- pass 1: a dry run --------------------------------------------------------------
wait_for 15 "pass 1 in the state file" state_has pass_id "$INVOCATION-1"
state_has deleted 0 || die "state file: a dry run deleted $(state_field deleted)"
would=$(state_field would_delete)
[ "$would" -gt 0 ] || die "state file: the dry run would delete nothing"
[ "$(emu_get /_emulator/state | "$PYTHON3" -c 'import json, sys; print(len(json.load(sys.stdin)["deleted"]))')" = 0 ] ||
	die "the dry run sent a DELETE"
metrics
[ "$(metric_value 'csms_tagd_last_pass_tags{result="would_delete"}')" = "$would" ] ||
	die "metrics: $(grep last_pass_tags "$WORK/metrics")"
[ "$(metric_value 'csms_tagd_last_pass_tags{result="deleted"}')" = 0 ] ||
	die "metrics: a dry run counted as deleted: $(grep last_pass_tags "$WORK/metrics")"
! grep -q '^csms_tagd_tags_deleted_total{' "$WORK/metrics" || die "metrics: a dry run in tags_deleted_total"
check "pass 1, a dry run: $would would_delete, 0 deleted, no DELETE sent"

# --- pass 2: dry_run = no, started by the reload ------------------------------------
sed -i 's/^dry_run = yes$/dry_run = no/' "$CONF"
kill -HUP "$DAEMON"
wait_for 10 "pass 2, started by the reload alone" state_has pass_id "$INVOCATION-2"
wait_for 15 "pass 2 to end" state_has outcome changed
check "a reload to dry_run = no started pass 2 without a signal"
grep -q "pass 2 running\|STATUS=configuration reloaded; pass 2 starts now" "$NLOG" ||
	die "STATUS= did not follow the reload: $(grep STATUS= "$NLOG" | tail -n 3)"
state_has config_ok true || die "state file: config_ok is $(state_field config_ok)"
deleted=$(state_field deleted)
journal=$(grep -E "Pass 2 changed: .* $deleted deleted," "$WORK/daemon.err") ||
	die "no 'Pass 2 changed: ... $deleted deleted' record (the state file says $deleted)"
[ "$deleted" = "$would" ] || die "pass 2 deleted $deleted, the dry run would have deleted $would"
check "state file: pass $INVOCATION-2 changed, $deleted deleted, as the pass's record says"

STATE_DIRECTORY=$STATE "$CSMS_TAGD" --status >"$WORK/status" || die "--status exited $? after a good pass"
grep -q "^State *: running (pid $DAEMON)$" "$WORK/status" || die "--status: $(cat "$WORK/status")"
grep -q "^Instance *: csms-tagd, project 0123456789abcdef0123456789abcdef (cn-north-4)$" "$WORK/status" ||
	die "--status: $(cat "$WORK/status")"
grep -q "^Last pass *: $INVOCATION-2$" "$WORK/status" || die "--status: $(cat "$WORK/status")"
grep -q "^Outcome *: changed$" "$WORK/status" || die "--status: $(cat "$WORK/status")"
grep -qE "^Tags *: [0-9]+ planned, $deleted deleted," "$WORK/status" || die "--status: $(cat "$WORK/status")"
check "--status agrees with the journal"

wait_for 5 "STATUS= after pass 2" grep -q "STATUS=pass 2 ok:" "$NLOG"
grep -qE "STATUS=pass 2 ok: [0-9]+ secrets, $deleted tags deleted; next at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC$" "$NLOG" ||
	die "STATUS= does not give the next pass as an absolute time: $(grep STATUS=pass "$NLOG" | tail -n 1)"
check "STATUS= gives the next pass as an absolute time"

# Every record from "Pass 1 started" to the pass's end carries the id, and
# only those.
awk -v id="CSMS_PASS_ID=$INVOCATION-1" '
	/Pass 1 started/ { inside = 1 }
	inside && index($0, id) == 0 { print "without id: " $0; bad = 1 }
	!inside && /Pass 2 started/ { exit bad || n != 1 }
	!inside && index($0, "CSMS_PASS_ID=") { print "outside the pass: " $0; bad = 1 }
	/Pass 1 changed/ { inside = 0; n++ }
	END { exit bad || n != 1 }' "$WORK/daemon.err" >"$WORK/ids" ||
	die "CSMS_PASS_ID: $(head -n 5 "$WORK/ids")"
n=$(grep -c "CSMS_PASS_ID=$INVOCATION-1" "$WORK/daemon.err")
check "CSMS_PASS_ID=$INVOCATION-1 on all $n records of pass 1, on no other"
# One pass id: the retired per-process counter CSMS_PASS= is on no record.
! grep -m 3 " CSMS_PASS=" "$WORK/daemon.err" || die "records still carry CSMS_PASS="
check "no record carries a second pass id (CSMS_PASS=)"

metrics
[ "$(metric_value 'csms_tagd_last_pass_tags{result="deleted"}')" = "$deleted" ] ||
	die "metrics: last_pass_tags deleted is not $deleted: $(grep last_pass_tags "$WORK/metrics")"
[ "$(metric_value 'csms_tagd_passes_total{outcome="changed"}')" = 2 ] || die "metrics: passes_total"
[ "$(metric_value 'csms_tagd_config_load_success{}')" = 1 ] || die "metrics: config_load_success"
[ "$(metric_value 'csms_tagd_last_pass_success{}')" = 1 ] || die "metrics: last_pass_success"
by_rule=$(grep '^csms_tagd_tags_deleted_total{rule="' "$WORK/metrics" | awk '{ n += $NF } END { print n + 0 }')
[ "$by_rule" = "$deleted" ] || die "metrics: tags_deleted_total by rule sums to $by_rule, not $deleted"
grep -q '^csms_tagd_tags_deleted_total{rule="\[secrets\? \\"[^"]*\\"\] [^"]*"} ' "$WORK/metrics" ||
	die "metrics: rules are not section and key glob: $(grep tags_deleted_total "$WORK/metrics")"
! grep -q '^csms_tagd_tags_deleted_total{rule="[^"]*:[0-9]' "$WORK/metrics" ||
	die "metrics: a rule label is FILE:LINE: $(grep tags_deleted_total "$WORK/metrics")"
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
wait_for 15 "pass 3 in the state file" state_has pass_id "$INVOCATION-3"
wait_for 15 "pass 3 to end" state_has outcome failed
metrics
[ "$(metric_value 'csms_tagd_request_errors_total{api="ListResourceInstances",code="CSMS.0403"}')" = 1 ] ||
	die "metrics: the 403 is not counted: $(grep request_errors "$WORK/metrics")"
[ "$(metric_value 'csms_tagd_passes_total{outcome="failed"}')" = 1 ] || die "metrics: failed pass not counted"
[ "$(metric_value 'csms_tagd_last_pass_success{}')" = 0 ] || die "metrics: last_pass_success after a failure"
STATE_DIRECTORY=$STATE "$CSMS_TAGD" --status >"$WORK/status"
rc=$?
[ "$rc" = 2 ] || die "--status exited $rc after a failed pass, expected 2 (running, unhealthy)"
check "a failing API: request_errors_total{api=ListResourceInstances,code=CSMS.0403} 1, --status exits 2"
emu_post /_emulator/faults '{"rules": []}' >/dev/null || die "cannot clear the faults"

# --- a rejected reload, then a config that governs nothing ----------------------------
cp "$CONF" "$WORK/good.conf"
echo "bogus line" >>"$CONF"
kill -HUP "$DAEMON"
wait_for 10 "the rejected reload in the state file" state_has config_ok false
metrics
[ "$(metric_value 'csms_tagd_config_load_success{}')" = 0 ] || die "metrics: config_load_success after a rejected reload"
state_field config_error | grep -q "$CONF:" || die "state file: config_error is $(state_field config_error)"
STATE_DIRECTORY=$STATE "$CSMS_TAGD" --status >"$WORK/status"
grep -q "^Config loaded *: REJECTED (the daemon keeps the configuration it had), " "$WORK/status" ||
	die "--status after a rejected reload: $(grep Config "$WORK/status")"
check "a rejected reload: config_load_success 0, the error in the state file and --status"

sed '/^\[secret/,$d' "$WORK/good.conf" >"$CONF"
kill -HUP "$DAEMON"
wait_for 10 "the reload" state_has config_ok true
wait_for 15 "pass 4, started by the reload" grep -q "STATUS=pass 4 ok" "$NLOG"
grep "STATUS=pass 4 ok" "$NLOG" | grep -qF "governs no secret: add [secret \"NAME\"] or [secrets \"GLOB\"] sections in $CONF.d/*.conf, check them with csms-tagd --plan -c $CONF, then systemctl reload csms-tagd" ||
	die "STATUS= does not say what to do next: $(grep 'STATUS=pass 4' "$NLOG")"
check "a config that governs nothing: STATUS= says what to do next"

kill "$DAEMON"
wait "$DAEMON" || die "the daemon exited $? on SIGTERM"
DAEMON=
metrics
[ "$(metric_value 'csms_tagd_up{}')" = 0 ] || die "metrics after the stop: $(grep csms_tagd_up "$WORK/metrics")"
STATE_DIRECTORY=$STATE "$CSMS_TAGD" --status >"$WORK/status"
rc=$?
[ "$rc" = 3 ] || die "--status exited $rc after the daemon stopped, expected 3"
grep -q "^State *: not running " "$WORK/status" || die "--status after the stop: $(head -n 1 "$WORK/status")"
grep -q "^Next pass *: none: not running$" "$WORK/status" || die "--status after the stop: $(cat "$WORK/status")"
check "stopped: csms_tagd_up 0, --status says not running and exits 3"
echo "monitor: $checks checks passed"
