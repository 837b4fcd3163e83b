#!/bin/bash
# status.sh - csms-tagd --status and --check-credentials, as an operator and
# a script use them.
#   --status: prints the state file (tests/data/state-example.json, in the
#   format metrics.c writes; test-metrics checks the writer) for a human,
#   finds it through $STATE_DIRECTORY (or --instance NAME), exits like
#   systemctl is-active: 0 running, 2 running but the last pass failed, 3
#   not running (stopped, killed, or no state file: with a hint); 1 naming
#   the field when the file is bad, and 1 with what a non-root user needs
#   when the file cannot be read.
#   --check-credentials: against the emulator, prints method, project and
#   result; exit 0 when ListSecrets answers, 1 when the key is refused
#   (nothing is deleted either way).
#   --plan and --explain without --observed: read the project live, say so,
#   plan as from a file, delete nothing; a failed listing is exit 1.

set -u
. "${top_srcdir:?}/tests/emulator-lib.sh"
. "$top_srcdir/tests/lib.sh"
trap 'rm -rf "$tmpdir"; _emu_cleanup' EXIT     # both helpers' clean-ups

state=$top_srcdir/tests/data/state-example.json

# --- --status ----------------------------------------------------------------
assert_exit 0 "$CSMS_TAGD" --status --state-file "$state"
assert_contains "$tmpdir/out" "Last pass        : 0f3c5b59ac7546d8b70b3423b9f88a23-3"
assert_contains "$tmpdir/out" "Outcome          : changed"
assert_contains "$tmpdir/out" "Finished         : 2026-11-29 21:30:02 UTC ("
assert_contains "$tmpdir/out" "Tags             : 3 planned, 3 deleted, 0 kept, 0 failed, 0 held"
assert_contains "$tmpdir/out" "Deleted by rule  : /etc/csms-tagd/csms-tagd.conf:41 3"
assert_contains "$tmpdir/out" "Credentials      : aksk, no expiry"

mkdir -p "$tmpdir/state"
sed -e 's/"outcome": "changed"/"outcome": "failed"/' \
    -e 's/"error": null/"error": "ListResourceInstances: HTTP 503"/' "$state" >"$tmpdir/state/state.json"
STATE_DIRECTORY="$tmpdir/state" assert_exit 2 "$CSMS_TAGD" --status
assert_contains "$tmpdir/out" "Error            : ListResourceInstances: HTTP 503"

# Like systemctl is-active: 3 when not running -- stopped (up false), killed
# (its pid gone), or never started (no state file).
sed -e 's/"format": /"up": false, "pid": 1, "format": /' "$state" >"$tmpdir/state/state.json"
STATE_DIRECTORY="$tmpdir/state" assert_exit 3 "$CSMS_TAGD" --status
assert_contains "$tmpdir/out" "State            : not running (state as written "
assert_contains "$tmpdir/out" "Next pass        : none: not running"
sleep 0 & dead=$!
wait $dead
sed -e "s/\"format\": /\"up\": true, \"pid\": $dead, \"format\": /" "$state" >"$tmpdir/state/state.json"
STATE_DIRECTORY="$tmpdir/state" assert_exit 3 "$CSMS_TAGD" --status
sed -e "s/\"format\": /\"up\": true, \"pid\": $$, \"format\": /" "$state" >"$tmpdir/state/state.json"
STATE_DIRECTORY="$tmpdir/state" assert_exit 0 "$CSMS_TAGD" --status
assert_contains "$tmpdir/out" "State            : running (pid $$)"
assert_contains "$tmpdir/out" "Next pass        : 2026-"

STATE_DIRECTORY="$tmpdir/none" assert_exit 3 "$CSMS_TAGD" --status
assert_contains "$tmpdir/err" "$tmpdir/none/state.json does not exist: csms-tagd.service has not run yet (systemctl status csms-tagd.service)"
# --instance NAME: the state directory of csms-tagd@NAME.service.
assert_exit 3 "$CSMS_TAGD" --status --instance no-such-test-instance
assert_contains "$tmpdir/err" "/var/lib/csms-tagd-no-such-test-instance/state.json does not exist: csms-tagd@no-such-test-instance.service has not run yet"
assert_exit 1 "$CSMS_TAGD" --instance b --once
assert_contains "$tmpdir/err" "--state-file and --instance go with --status"

# Not root: the state directory of a DynamicUser= service is root's only;
# say what is needed instead of "Permission denied".
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	mkdir -m 0700 "$tmpdir/private"
	cp "$state" "$tmpdir/private/state.json"
	chmod 0755 "$tmpdir"
	assert_exit 1 setpriv --reuid=65534 --regid=65534 --clear-groups "$CSMS_TAGD" --status \
		--state-file "$tmpdir/private/state.json"
	assert_contains "$tmpdir/err" "permission denied: csms-tagd.service runs as a dynamic user, whose state directory only root can enter (/var/lib/private); run sudo csms-tagd --status, or, without root, systemctl status csms-tagd.service or the metrics file"
fi

sed 's/"planned": 3/"planned": "3"/' "$state" >"$tmpdir/bad.json"
assert_exit 1 "$CSMS_TAGD" --status --state-file "$tmpdir/bad.json"
assert_contains "$tmpdir/err" "$tmpdir/bad.json: planned: expected a non-negative integer"
assert_exit 1 "$CSMS_TAGD" --state-file "$state" --once
assert_contains "$tmpdir/err" "--state-file and --instance go with --status"

# An organisation (a state file with targets): the whole, a summary and one
# line per target; --target GLOB (name, account id or name, project id)
# prints those in full; 2 while one of them is failing or partial.
org=$top_srcdir/tests/data/state-org-example.json
assert_exit 2 "$CSMS_TAGD" --status --state-file "$org"
assert_contains "$tmpdir/out" "Targets          : 4: 2 converged, 1 changed, 1 failing"
assert_contains "$tmpdir/out" "TARGET                    ACCOUNT    REGION          STATE      ENDED (UTC)  DELETED  ERROR"
assert_contains "$tmpdir/out" "self/cn-north-4           (own)      cn-north-4      converged  2026-11-29        ~2"
assert_contains "$tmpdir/out" "acme-dev/cn-north-4       acme-dev   cn-north-4      failing    2026-11-29         0  agency refused: IAM.0101 the ag..."
assert_exit 0 "$CSMS_TAGD" --status --state-file "$org" --target 'self/*'
assert_contains "$tmpdir/out" "Target           : self/cn-north-4"
assert_contains "$tmpdir/out" "Account          : the base identity's own"
assert_contains "$tmpdir/out" "Outcome          : converged (dry run)"
assert_not_contains "$tmpdir/out" "acme-prod"
assert_exit 0 "$CSMS_TAGD" --status --state-file "$org" --target acme-prod
assert_contains "$tmpdir/out" "Target           : acme-prod/ap-southeast-1"
assert_exit 2 "$CSMS_TAGD" --status --state-file "$org" --target a0000000000000000000000000000002
assert_contains "$tmpdir/out" "Error            : agency refused: IAM.0101 the agency csms-tagd does not exist in account a0000000000000000000000000000002"
assert_exit 1 "$CSMS_TAGD" --status --state-file "$org" --target 'no-such-*'
assert_contains "$tmpdir/err" "no target of $org matches no-such-* (4 targets)"
[ -s "$tmpdir/out" ] && fail "--status --target printed something for no target"
sed 's/"failing"/"pending"/' "$org" >"$tmpdir/org.json"
assert_exit 0 "$CSMS_TAGD" --status --state-file "$tmpdir/org.json"
assert_contains "$tmpdir/out" "Targets          : 4: 2 converged, 1 changed, 1 pending"
sed 's/"state": "converged"/"state": 7/' "$org" >"$tmpdir/org.json"
assert_exit 1 "$CSMS_TAGD" --status --state-file "$tmpdir/org.json"
assert_contains "$tmpdir/err" "targets[1].state: "
assert_exit 1 "$CSMS_TAGD" --status --state-file "$state" --target '*'
assert_contains "$tmpdir/err" "is of a daemon of one project"
assert_exit 1 "$CSMS_TAGD" --target '*' --check-config
assert_contains "$tmpdir/err" "--target goes with"

# --- --check-credentials -------------------------------------------------------
write_creds
emu_start --seed "$top_srcdir/tests/emulator/seed-example.json"
for method in aksk password; do
	write_config "$WORK/$method.conf" "$method"
	assert_exit 0 "$CSMS_TAGD" -c "$WORK/$method.conf" --check-credentials
	assert_contains "$tmpdir/out" "method:  $method"
	assert_contains "$tmpdir/out" "project: 0123456789abcdef0123456789abcdef (cn-north-4) at $EMU_URL"
	assert_contains "$tmpdir/out" "result:  ok: ListSecrets answered HTTP 200 (request id "
done
printf 'wrongSecretKey000000000000000000000000\n' >"$CREDENTIALS_DIRECTORY/csms-sk"
assert_exit 1 "$CSMS_TAGD" -c "$WORK/aksk.conf" --check-credentials
assert_contains "$tmpdir/out" "result:  failed: ListSecrets: HTTP 401"
emu_get /_emulator/state | "$PYTHON3" -c '
import json, sys
st = json.load(sys.stdin)
sys.exit(1 if st["deleted"] or set(k for k, v in st["counts"].items() if v) - {"ListSecrets", "KeystoneCreateUserTokenByPassword"} else 0)' ||
	fail "--check-credentials sent more than ListSecrets (and the IAM token request)"
checks=$((checks + 1))

# --- --plan and --explain without --observed: the project, read live -------------
printf '%s\n' "$SK" >"$CREDENTIALS_DIRECTORY/csms-sk"
emu_post /_emulator/reset '{}' >/dev/null || fail "cannot reset the emulator"
assert_exit 2 "$CSMS_TAGD" -c "$WORK/aksk.conf" --plan
assert_contains "$tmpdir/err" "reading project 0123456789abcdef0123456789abcdef at $EMU_URL (read-only: nothing is deleted)"
assert_contains "$tmpdir/out" "10 deletions planned"
assert_exit 0 "$CSMS_TAGD" -c "$WORK/aksk.conf" --explain payments-db
assert_contains "$tmpdir/out" "debug"
assert_exit 1 "$CSMS_TAGD" -c "$WORK/aksk.conf" --explain no-such-secret
assert_contains "$tmpdir/err" "the project: no secret named 'no-such-secret'"
emu_get /_emulator/state | "$PYTHON3" -c '
import json, sys
st = json.load(sys.stdin)
sys.exit(1 if st["deleted"] or st["counts"].get("DeleteSecretTag") else 0)' ||
	fail "--plan or --explain deleted a tag"
checks=$((checks + 1))
# A listing that fails is an error, not an empty plan.
emu_post /_emulator/faults '{"rules": [{"api": "*", "kind": "status", "status": 503}]}' >/dev/null ||
	fail "cannot set the fault"
assert_exit 1 "$CSMS_TAGD" -c "$WORK/aksk.conf" --plan
assert_contains "$tmpdir/err" "the listing is incomplete, so no plan is shown"
emu_post /_emulator/faults '{"rules": []}' >/dev/null
echo "status: $checks checks passed"
