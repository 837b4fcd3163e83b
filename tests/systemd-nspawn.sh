#!/bin/bash
# systemd-nspawn.sh - csms-tagd under a real systemd.
#
# Boots systemd as PID 1 in a throw-away systemd-nspawn container on an
# overlay of the host's root (docs: systemd-testing.md), installs the built
# daemon, the shipped units, the catalog and the CSMS emulator in it, and
# checks what an operator relies on:
#   - the template unit csms-tagd@.service runs an instance in dry-run mode:
#     would-delete records, nothing deleted;
#   - "systemctl start csms-tagd" returns once the daemon is READY, as a
#     dynamic user, with its AK/SK from LoadCredential=; StatusText reports
#     the first pass; the stray tags are deleted, and the journal holds one
#     record per deletion with the documented fields, which journalctl -x
#     explains from the catalog;
#   - "systemctl reload" with a good config applies the new policy; with a
#     bad one it fails (ExecReload= runs --check-config --no-credentials),
#     the journal names the bad line and the old config keeps running;
#   - the test wedge (CSMS_TAGD_TEST_HOOKS=1, SIGUSR2) makes systemd's
#     watchdog kill and restart it: NRestarts grows, UNIT_RESULT=watchdog;
#   - "systemctl stop" is quick and clean (exit 0, STOPPING logged);
#   - "csms-tagd --restore" reads the unit's deletion records from the
#     journal (sd-journal) and recreates the four deleted tags;
#   - a bad config at start ends in "failed" with exit status 78 (EX_CONFIG),
#     and RestartPreventExitStatus= keeps it there: no restart loop.
# Test drop-in, only for what cannot be the shipped value: a short start
# timeout and watchdog, a short restart delay, the test-hook variable.
#
# Everything lives in a private mount namespace and a mktemp directory, and is
# torn down on every exit, failures included.  Skips (77) only when not root
# or systemd-nspawn is missing.
#
# Environment (as automake's check sets it): CSMS_TAGD, top_srcdir,
# top_builddir, PYTHON3.

. "${top_srcdir:?}/tests/nspawn/guest.sh"

: "${CSMS_TAGD:?}"
MID_TAG_DELETED=$(mid TAG_DELETED)
MID_PASS_STARTED=$(mid PASS_STARTED)
MID_TAG_WOULD_DELETE=$(mid TAG_WOULD_DELETE)
MID_CONFIG_RELOADED=$(mid CONFIG_RELOADED)
MID_CONFIG_REJECTED=$(mid CONFIG_REJECTED)
MID_DAEMON_STOPPING=$(mid DAEMON_STOPPING)
for m in "$MID_TAG_DELETED" "$MID_PASS_STARTED" "$MID_TAG_WOULD_DELETE" "$MID_CONFIG_RELOADED" \
	"$MID_CONFIG_REJECTED" "$MID_DAEMON_STOPPING"; do
	[ -n "$m" ] || fail "a MESSAGE_ID is missing from src/base/log.h"
done

[ -x "$CSMS_TAGD" ] || fail "CSMS_TAGD=$CSMS_TAGD is not an executable"

# The shipped units as the build generated them, else rendered from the templates.
unit_source() {
	if [ -n "${top_builddir:-}" ] && [ -f "$top_builddir/systemd/$1" ]; then
		cat "$top_builddir/systemd/$1"
	else
		sed 's|@sbindir@|/usr/local/sbin|g' "$top_srcdir/systemd/$1.in"
	fi
}

guest_root

unit_source csms-tagd.service >"$ROOT/etc/systemd/system/csms-tagd.service"
unit_source csms-tagd@.service >"$ROOT/etc/systemd/system/csms-tagd@.service"
exe=$(sed -n 's/^ExecStart=[-@:+!]*\([^ ]*\).*/\1/p' "$ROOT/etc/systemd/system/csms-tagd.service")
[ -n "$exe" ] || fail "no ExecStart= in csms-tagd.service"
# A build under /tmp (make distcheck installs into /tmp/.../_inst) names a
# binary that PrivateTmp= hides from the service: run it from /usr/local.
case $exe in
/tmp/* | /var/tmp/*)
	sed -i "s|$exe|/usr/local/sbin/csms-tagd|" "$ROOT"/etc/systemd/system/csms-tagd*.service
	exe=/usr/local/sbin/csms-tagd ;;
esac
mkdir -p "$ROOT$(dirname "$exe")"
install -m 0755 "$CSMS_TAGD" "$ROOT$exe"
mkdir -p "$ROOT/usr/lib/systemd/catalog"
cp "$top_srcdir/systemd/csms-tagd.catalog" "$ROOT/usr/lib/systemd/catalog/"

mkdir -p "$ROOT/etc/systemd/system/csms-tagd.service.d" "$ROOT/etc/systemd/system/csms-tagd@.service.d"
{
	echo "# Test values; see tests/systemd-nspawn.sh."
	echo "[Service]"
	echo "# A daemon that never sends READY=1 fails in seconds, not 90."
	echo "TimeoutStartSec=15s"
	echo "# The watchdog test waits for a kill: keep it short, and restart fast."
	echo "WatchdogSec=2s"
	echo "RestartSec=100ms"
	echo "Environment=CSMS_TAGD_TEST_HOOKS=1"
	# A sanitizer build: LeakSanitizer needs ptrace(), which the unit's
	# system call filter denies (leaks are checked outside the sandbox).
	if grep -q __asan_init "$CSMS_TAGD"; then
		echo "Environment=ASAN_OPTIONS=detect_leaks=0"
	fi
} >"$ROOT/etc/systemd/system/csms-tagd.service.d/test.conf"
cp "$ROOT/etc/systemd/system/csms-tagd.service.d/test.conf" "$ROOT/etc/systemd/system/csms-tagd@.service.d/"

# Config and credentials, as an operator would install them.
install -d -m 0755 "$ROOT/etc/csms-tagd"
install -m 0644 "$NSPAWN_DIR/csms-tagd.conf" "$ROOT/etc/csms-tagd/csms-tagd.conf"
install -d -m 0700 "$ROOT/etc/csms-tagd/credentials" "$ROOT/etc/csms-tagd/credentials/dryrun"
for d in "" dryrun/; do
	printf '%s\n' "$AK" >"$ROOT/etc/csms-tagd/credentials/${d}csms-ak"
	printf '%s\n' "$SK" >"$ROOT/etc/csms-tagd/credentials/${d}csms-sk"
	chmod 0600 "$ROOT/etc/csms-tagd/credentials/${d}csms-ak" "$ROOT/etc/csms-tagd/credentials/${d}csms-sk"
done
{
	sed -n '1,/^\[daemon\]$/p' "$NSPAWN_DIR/csms-tagd.conf"
	echo "dry_run = yes"
	sed -n '/^\[daemon\]$/,$p' "$NSPAWN_DIR/csms-tagd.conf" | sed 1d
} >"$ROOT/etc/csms-tagd/dryrun.conf"
chmod 0644 "$ROOT/etc/csms-tagd/dryrun.conf"

# --- boot ------------------------------------------------------------------------

guest_boot

# --- the template: an instance in dry-run mode -------------------------------------

g systemctl start csms-tagd@dryrun.service || fail "systemctl start csms-tagd@dryrun failed"
wait_until 15 "the dry-run pass" prop_matches csms-tagd@dryrun.service StatusText \
	'^pass 1 ok: 3 secrets, 3 tags would be deleted'
printf '%s\n' \
	$'22222222-2222-4222-8222-222222222201\tpayments-db\tenv\tdev' \
	$'22222222-2222-4222-8222-222222222201\tpayments-db\tstray\tx' \
	$'22222222-2222-4222-8222-222222222202\tapp-web\ttemp-debug\t1' >"$tmpdir/expected1"
wait_until 5 "three would-delete records" journal_count_ge 3 csms-tagd@dryrun.service \
	MESSAGE_ID=$MID_TAG_WOULD_DELETE
journal csms-tagd@dryrun.service MESSAGE_ID=$MID_TAG_WOULD_DELETE |
	"$PY" "$NSPAWN_DIR/check.py" records "$tmpdir/expected1" \
		--require CSMS_RULE --require CSMS_PASS_ID --absent CSMS_PASS DRY_RUN=1 ||
	fail "dry-run journal records"
deleted_count_is 0 || fail "the dry run deleted something"
g systemctl stop csms-tagd@dryrun.service || fail "cannot stop csms-tagd@dryrun"
prop_is csms-tagd@dryrun.service Result success ||
	fail "csms-tagd@dryrun stopped with Result=$(prop csms-tagd@dryrun.service Result)"
check "csms-tagd@dryrun: 3 would-delete records with DRY_RUN=1, nothing deleted"

# --- start: READY, dynamic user, credentials, status ------------------------------------

t0=$(now_ms)
g systemctl start csms-tagd.service || fail "systemctl start csms-tagd failed"
prop_is csms-tagd.service ActiveState active || fail "not active after start returned"
check "systemctl start returned on READY=1 after $(($(now_ms) - t0)) ms"

pid=$(prop csms-tagd.service MainPID)
[ "$pid" -gt 0 ] 2>/dev/null || fail "no MainPID"
# MainPID is a pid of the guest's PID namespace: read its /proc in there.
uid=$(g awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || fail "runs as uid $uid, not a dynamic user"
user=$(g getent passwd "$uid" | cut -d: -f1)
[ "$user" = csms-tagd ] || fail "uid $uid is '$user', not the dynamic user csms-tagd"
check "runs as the dynamic user csms-tagd (uid $uid)"

g cat "/proc/$pid/environ" | tr '\0' '\n' | grep -qx 'CREDENTIALS_DIRECTORY=/run/credentials/csms-tagd.service' ||
	fail "no CREDENTIALS_DIRECTORY in the daemon's environment"
g test -s /run/credentials/csms-tagd.service/csms-ak || fail "credential csms-ak not loaded"
g test -s /run/credentials/csms-tagd.service/csms-sk || fail "credential csms-sk not loaded"
[ "$(stat -c %a:%u "$ROOT/etc/csms-tagd/credentials/csms-ak")" = 600:0 ] ||
	fail "the credential source is not root-only"
if g cat "/proc/$pid/cmdline" "/proc/$pid/environ" | tr '\0' '\n' | grep -qF -e "$SK" -e "$AK"; then
	fail "a credential appears in the daemon's argv or environment"
fi
check "AK/SK arrive through LoadCredential= only"

wait_until 15 "pass 1 to finish" prop_matches csms-tagd.service StatusText \
	'^pass 1 ok: 3 secrets, 3 tags deleted; next at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC$'
check "StatusText: $(prop csms-tagd.service StatusText)"

wait_until 5 "the emulator to record three deletions" deleted_count_ge 3
emulator_deleted >"$tmpdir/deleted"
diff -u "$tmpdir/expected1" "$tmpdir/deleted" || fail "the emulator's deletions differ from the plan"
wait_until 5 "three tag-deleted records" journal_count_ge 3 csms-tagd.service \
	MESSAGE_ID=$MID_TAG_DELETED
# Pass 1's one id, as its "Pass 1 started" record gives it: INVOCATION_ID-1.
pass1=$(journal csms-tagd.service MESSAGE_ID=$MID_PASS_STARTED | "$PY" -c '
import json, sys
ids = [r.get("CSMS_PASS_ID") for r in map(json.loads, sys.stdin)
       if r.get("MESSAGE", "").startswith("Pass 1 started")]
print(ids[0] if len(ids) == 1 else "")')
[ "$pass1" = "$(prop csms-tagd.service InvocationID)-1" ] ||
	fail "pass 1 started with CSMS_PASS_ID='$pass1', not INVOCATION_ID-1"
journal csms-tagd.service MESSAGE_ID=$MID_TAG_DELETED |
	"$PY" "$NSPAWN_DIR/check.py" records "$tmpdir/expected1" --require CSMS_RULE \
		--require CSMS_REQUEST_ID --absent CSMS_PASS DRY_RUN=0 CSMS_PASS_ID="$pass1" ||
	fail "tag-deleted journal records"
check "3 stray tags deleted, one journal record each with the fields"

# The operator's question: who deleted temp-debug from app-web, by which rule?
rule_line=$(grep -n '^temp-\* = !$' "$NSPAWN_DIR/csms-tagd.conf" | cut -d: -f1)
journal csms-tagd.service CSMS_TAG_KEY=temp-debug CSMS_SECRET_NAME=app-web >"$tmpdir/who"
[ "$(grep -c . "$tmpdir/who")" -eq 1 ] || fail "journalctl CSMS_TAG_KEY=temp-debug CSMS_SECRET_NAME=app-web: not one record"
grep -qF "\"CSMS_RULE\":\"/etc/csms-tagd/csms-tagd.conf:$rule_line\"" "$tmpdir/who" ||
	fail "CSMS_RULE does not name /etc/csms-tagd/csms-tagd.conf:$rule_line: $(cat "$tmpdir/who")"
g journalctl -q --no-pager -x -u csms-tagd.service CSMS_TAG_KEY=temp-debug >"$tmpdir/explained"
grep -q 'csms-tagd deleted the tag temp-debug' "$tmpdir/explained" ||
	fail "journalctl -x does not explain the deletion from the catalog: $(cat "$tmpdir/explained")"
check "journalctl CSMS_TAG_KEY=temp-debug CSMS_SECRET_NAME=app-web names rule line $rule_line; -x explains it"

# --- reload: a good config applies, a bad one is rejected ------------------------------

install -m 0644 "$NSPAWN_DIR/reload-good.conf" "$ROOT/etc/csms-tagd/csms-tagd.conf"
g systemctl reload csms-tagd.service || fail "systemctl reload failed"
wait_until 10 "the reload to be applied" journal_count_is 1 csms-tagd.service \
	MESSAGE_ID=$MID_CONFIG_RELOADED
wait_until 5 "the unit to be active again" prop_is csms-tagd.service ActiveState active
sig csms-tagd.service SIGUSR1
wait_until 15 "pass 2 to finish" prop_matches csms-tagd.service StatusText '^pass 2 ok: 3 secrets, 1 tags deleted'
wait_until 5 "the emulator to record the fourth deletion" deleted_count_ge 4
deleted_count_is 4 || fail "more than one deletion in pass 2: $(emulator_deleted)"
emulator_deleted | grep -qx $'22222222-2222-4222-8222-222222222203\tother-secret\ttemp-z\t1' ||
	fail "the reloaded policy did not delete other-secret's temp-z"
check "reload with a good config: the new policy deleted other-secret/temp-z"

bad_line=$(wc -l <"$NSPAWN_DIR/reload-bad.conf")
install -m 0644 "$NSPAWN_DIR/reload-bad.conf" "$ROOT/etc/csms-tagd/csms-tagd.conf"
# ExecReload= checks the config first: the reload fails and says why, and
# the daemon never sees the bad config.
if g systemctl reload csms-tagd.service 2>"$tmpdir/reload-err"; then
	fail "systemctl reload with a bad config succeeded"
fi
grep -q 'csms-tagd.service' "$tmpdir/reload-err" ||
	fail "systemctl reload did not say which unit failed: $(cat "$tmpdir/reload-err")"
g journalctl -q --no-pager -u csms-tagd.service -o cat >"$tmpdir/reload-journal"
grep -qF "/etc/csms-tagd/csms-tagd.conf:$bad_line: " "$tmpdir/reload-journal" ||
	fail "the journal does not say csms-tagd.conf:$bad_line is wrong: $(tail -n 5 "$tmpdir/reload-journal")"
wait_until 5 "the unit to be active again" prop_is csms-tagd.service ActiveState active
[ "$(prop csms-tagd.service MainPID)" = "$pid" ] || fail "the daemon was restarted by a bad reload"
sig csms-tagd.service SIGUSR1
wait_until 15 "pass 3 to finish" prop_matches csms-tagd.service StatusText '^pass 3 ok: 3 secrets, 0 tags deleted'
deleted_count_is 4 || fail "deletions after the rejected reload"
journal_count_is 1 csms-tagd.service MESSAGE_ID=$MID_CONFIG_RELOADED ||
	fail "the rejected config was reported as applied"
check "reload with a bad config: systemctl reload failed naming line $bad_line, the old config keeps running"

# --- watchdog: a wedged daemon is killed and restarted -------------------------------------

install -m 0644 "$NSPAWN_DIR/reload-good.conf" "$ROOT/etc/csms-tagd/csms-tagd.conf"
[ "$(prop csms-tagd.service NRestarts)" = 0 ] || fail "NRestarts is not 0 before the wedge"
t0=$(now_ms)
sig csms-tagd.service SIGUSR2
restarted() {
	[ "$(prop csms-tagd.service NRestarts)" -ge 1 ] 2>/dev/null &&
		prop_is csms-tagd.service ActiveState active &&
		[ "$(prop csms-tagd.service MainPID)" != "$pid" ]
}
wait_until 20 "the watchdog to restart the daemon" restarted
wait_until 5 "the watchdog record" journal_count_is 1 csms-tagd.service UNIT_RESULT=watchdog \
	MESSAGE_ID=$MID_UNIT_FAILURE_RESULT
check "wedged: killed by the watchdog and restarted after $(($(now_ms) - t0)) ms (NRestarts=$(prop csms-tagd.service NRestarts), UNIT_RESULT=watchdog)"
wait_until 15 "the restarted daemon's first pass" prop_matches csms-tagd.service StatusText \
	'^pass 1 ok: 3 secrets, 0 tags deleted'

# --- stop ------------------------------------------------------------------------------

pid=$(prop csms-tagd.service MainPID)
t0=$(now_ms)
g systemctl stop csms-tagd.service || fail "systemctl stop failed"
stop_ms=$(($(now_ms) - t0))
[ "$stop_ms" -lt 5000 ] || fail "stopping took $stop_ms ms"
prop_is csms-tagd.service ActiveState inactive || fail "not inactive after stop"
prop_is csms-tagd.service Result success || fail "Result=$(prop csms-tagd.service Result) after stop"
prop_is csms-tagd.service ExecMainStatus 0 || fail "exit status $(prop csms-tagd.service ExecMainStatus) after stop"
wait_until 5 "the stopping record" journal_count_is 1 csms-tagd.service \
	MESSAGE_ID=$MID_DAEMON_STOPPING _PID="$pid"
check "systemctl stop: $stop_ms ms, exit 0, STOPPING logged"

journal_count_is 4 csms-tagd.service MESSAGE_ID=$MID_TAG_DELETED ||
	fail "the journal does not hold exactly one record per deletion"
deleted_count_is 4 || fail "unexpected deletions"

# --- undo: --restore reads the unit's deletion records from the journal -----------------

MID_TAG_RESTORED=$(mid TAG_RESTORED)
tags_of_deleted() {
	emulator_state | "$PY" -c '
import json, sys
st = json.load(sys.stdin)
tags = {s["id"]: s["tags"] for s in st["secrets"]}
for line in open(sys.argv[1]):
    sid, name, key, value = line.rstrip("\n").split("\t")
    print(sid, name, key, tags.get(sid, {}).get(key))' "$1"
}
cat "$tmpdir/expected1" >"$tmpdir/deleted-all"
emulator_deleted | grep other-secret >>"$tmpdir/deleted-all"
g env CREDENTIALS_DIRECTORY=/etc/csms-tagd/credentials "$exe" -c /etc/csms-tagd/csms-tagd.conf --restore --since @0 \
	--log-target journal >"$tmpdir/restore-out" 2>&1 ||
	fail "csms-tagd --restore failed: $(cat "$tmpdir/restore-out")"
[ "$(grep -c '^restored ' "$tmpdir/restore-out")" -eq 4 ] ||
	fail "--restore did not restore four tags: $(cat "$tmpdir/restore-out")"
tags_of_deleted "$tmpdir/deleted-all" >"$tmpdir/restored"
awk -F'\t' '{ print $1, $2, $3, $4 }' "$tmpdir/deleted-all" | diff -u - "$tmpdir/restored" ||
	fail "the restored tags differ from the deleted ones"
wait_until 5 "four tag-restored records" eval \
	'[ "$(g journalctl -q --no-pager -o json MESSAGE_ID=$MID_TAG_RESTORED | grep -c .)" -eq 4 ]'
check "csms-tagd --restore --since @0: the unit's 4 deletions read from the journal and restored, values identical"

# --- a bad config at start: failed with 78 (EX_CONFIG), not a restart loop ------------

install -m 0644 "$NSPAWN_DIR/reload-bad.conf" "$ROOT/etc/csms-tagd/csms-tagd.conf"
restarts=$(prop csms-tagd.service NRestarts)
if g systemctl start csms-tagd.service 2>/dev/null; then
	fail "systemctl start with a bad config succeeded"
fi
wait_until 5 "the unit to fail" prop_is csms-tagd.service ActiveState failed
prop_is csms-tagd.service ExecMainStatus 78 ||
	fail "exit status $(prop csms-tagd.service ExecMainStatus), not 78, for a bad config at start"
# RestartSec=100ms in the test drop-in: a restart loop would have begun.
sleep 1
prop_is csms-tagd.service ActiveState failed || fail "the unit left the failed state: restarted?"
[ "$(prop csms-tagd.service NRestarts)" = "$restarts" ] ||
	fail "NRestarts went from $restarts to $(prop csms-tagd.service NRestarts) for a bad config"
check "a bad config at start: failed, exit status 78, not restarted"
echo "systemd-nspawn: $checks checks passed in $(elapsed)"
