#!/bin/bash
# journal-flood.sh - 50,000 deletions in one pass under a real journald.
#
# The record of a deletion is data: the ledger holds every one, and the
# journal, the operator's view, must not lose them to journald's rate limit
# (the units raise it).  In a throw-away systemd guest (tests/nspawn/guest.sh)
# the emulator holds 2,500 secrets with 20 stray tags each; csms-tagd.service
# runs one pass that deletes all 50,000.  Then:
#   - the emulator recorded 50,000 deletions;
#   - the ledger has 50,000 outcomes "deleted", none pending;
#   - the journal has 50,000 TAG_DELETED records of the unit, and journald
#     suppressed none of the unit's messages;
#   - csms-tagd --restore --dry-run finds all 50,000 in the ledger.
# Run under the nspawn lock when run by hand:
#   flock /tmp/csms-nspawn.lock env top_srcdir=. top_builddir=. CSMS_TAGD=./csms-tagd \
#     bash tests/long/journal-flood.sh

. "${top_srcdir:?}/tests/nspawn/guest.sh"
: "${CSMS_TAGD:?}"

SECRETS=2500
TAGS=20                         # CSMS's limit of tags per secret
TOTAL=$((SECRETS * TAGS))
MID_TAG_DELETED=$(mid TAG_DELETED)
[ -n "$MID_TAG_DELETED" ] || fail "MID_TAG_DELETED is missing from src/base/log.h"
[ -x "$CSMS_TAGD" ] || fail "CSMS_TAGD=$CSMS_TAGD is not an executable"

# gl SECONDS CMD...: like g, for the commands that read 50,000 of anything.
gl() {
	local t=$1
	shift
	nsenter --target "$GUEST" --all -- timeout "$t" "$@"
}

guest_root

# The emulator generates the secrets: every tag is named stray-N.
sed -i "s|--seed /opt/csms-test/seed.json|& --generate $SECRETS --tags-per-secret $TAGS --stray-fraction 1|" \
	"$ROOT/etc/systemd/system/csms-emulator.service"

if [ -n "${top_builddir:-}" ] && [ -f "$top_builddir/systemd/csms-tagd.service" ]; then
	cp "$top_builddir/systemd/csms-tagd.service" "$ROOT/etc/systemd/system/"
else
	sed 's|@sbindir@|/usr/local/sbin|g' "$top_srcdir/systemd/csms-tagd.service.in" \
		>"$ROOT/etc/systemd/system/csms-tagd.service"
fi
exe=/usr/local/sbin/csms-tagd
sed -i "s|^ExecStart=\([-@:+!]*\)[^ ]*|ExecStart=\1$exe|; s|^ExecReload=\([-@:+!]*\)[^ ]*csms-tagd |ExecReload=\1$exe |" \
	"$ROOT/etc/systemd/system/csms-tagd.service"
mkdir -p "$ROOT/usr/local/sbin" "$ROOT/usr/lib/systemd/catalog" "$ROOT/etc/systemd/system/csms-tagd.service.d"
install -m 0755 "$CSMS_TAGD" "$ROOT$exe"
cp "$top_srcdir/systemd/csms-tagd.catalog" "$ROOT/usr/lib/systemd/catalog/"
{
	echo "[Service]"
	echo "TimeoutStartSec=30s"
	grep -q __asan_init "$CSMS_TAGD" && echo "Environment=ASAN_OPTIONS=detect_leaks=0"
} >"$ROOT/etc/systemd/system/csms-tagd.service.d/test.conf"

install -d -m 0755 "$ROOT/etc/csms-tagd"
install -d -m 0700 "$ROOT/etc/csms-tagd/credentials"
printf '%s\n' "$AK" >"$ROOT/etc/csms-tagd/credentials/csms-ak"
printf '%s\n' "$SK" >"$ROOT/etc/csms-tagd/credentials/csms-sk"
chmod 0600 "$ROOT"/etc/csms-tagd/credentials/*
# The generated secrets are in the seed's project, with its keys.
cat >"$ROOT/etc/csms-tagd/csms-tagd.conf" <<EOF
[csms]
region = cn-north-4
project_id = 0123456789abcdef0123456789abcdef
endpoint = http://localhost:$EMU_PORT

[auth]
method = aksk
access_key_file = csms-ak
secret_key_file = csms-sk

[daemon]
interval = 1h
jitter = 0s
request_timeout = 10s
pass_timeout = 30min
max_parallel_requests = 16
max_requests_per_second = 0
max_deletes_per_pass = $TOTAL

[secrets "app-*"]
stray-* = !
* = *
EOF
chmod 0644 "$ROOT/etc/csms-tagd/csms-tagd.conf"

guest_boot
g env CREDENTIALS_DIRECTORY=/etc/csms-tagd/credentials "$exe" --check-config -c /etc/csms-tagd/csms-tagd.conf >"$tmpdir/check" 2>&1 ||
	fail "--check-config: $(cat "$tmpdir/check")"

g systemctl start csms-tagd.service || fail "systemctl start csms-tagd failed"
wait_until 900 "the pass that deletes $TOTAL tags" prop_matches csms-tagd.service StatusText '^pass 1 (ok|partial|held|failed)'
status=$(prop csms-tagd.service StatusText)
[[ $status == "pass 1 ok: $SECRETS secrets, $TOTAL tags deleted"* ]] || fail "StatusText: $status"
check "one pass: $status"

emulator_state >"$tmpdir/state.json" || fail "cannot read the emulator's state"
deleted=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["deleted"]))' "$tmpdir/state.json")
[ "$deleted" -eq "$TOTAL" ] || fail "the emulator recorded $deleted deletions, not $TOTAL"
check "the emulator recorded $TOTAL deletions"

# The ledger, read by SQLite itself (Python's module), not by csms-tagd.
ledger=$(g readlink -f /var/lib/csms-tagd)/ledger.db
gl 60 "$PY" -c '
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for outcome, n in db.execute("SELECT outcome, count(*) FROM deletions GROUP BY outcome"):
    print(outcome, n)' "$ledger" >"$tmpdir/ledger" || fail "cannot read $ledger: $(cat "$tmpdir/ledger")"
[ "$(cat "$tmpdir/ledger")" = "deleted $TOTAL" ] || fail "ledger outcomes: $(tr '\n' ' ' <"$tmpdir/ledger")"
check "the ledger: $TOTAL outcomes 'deleted', none pending"

gl 120 journalctl -q --no-pager -u csms-tagd.service MESSAGE_ID="$MID_TAG_DELETED" -o cat >"$tmpdir/journal" ||
	fail "journalctl failed"
n=$(grep -c . "$tmpdir/journal")
[ "$n" -eq "$TOTAL" ] || fail "the journal has $n deletion records of csms-tagd.service, not $TOTAL"
g journalctl -q --no-pager -o cat -u systemd-journald.service >"$tmpdir/journald" 2>&1
if grep 'Suppressed' "$tmpdir/journald" | grep -q 'csms-tagd'; then
	fail "journald suppressed csms-tagd's messages: $(grep Suppressed "$tmpdir/journald" | head -n 3)"
fi
check "the journal: $TOTAL deletion records, none suppressed"

gl 600 env CREDENTIALS_DIRECTORY=/etc/csms-tagd/credentials "$exe" -c /etc/csms-tagd/csms-tagd.conf \
	--restore --dry-run --since @0 >"$tmpdir/restore" 2>"$tmpdir/restore-err" ||
	fail "csms-tagd --restore --dry-run failed: $(tail -n 5 "$tmpdir/restore-err")"
n=$(grep -c '^would-restore ' "$tmpdir/restore")
[ "$n" -eq "$TOTAL" ] || fail "--restore --dry-run found $n of $TOTAL: $(grep -v '^would-restore ' "$tmpdir/restore" | head -n 5)"
check "--restore --dry-run finds all $TOTAL in the ledger"

echo "journal-flood: $checks checks passed in $(elapsed)"
