#!/bin/bash
# agency.sh - csms-tagd --once governing a project of another account
# through an IAM agency (method agency), against the emulator's
# organisation seed (tests/data/org-seed.json): the management account's
# AK/SK (or its ECS keys) assume agency tag-keeper of a member account with
# STS v5 or IAM v3.0.  Every project of every account gets a tag the
# policy forbids; the emulator's per-account deletion record must show
# exactly the one of the governed project and nothing in any other
# project or account.  Then the refusals: an agency that does not trust
# the caller, a missing and a wrong external id (each a clear error naming
# the agency and the account, one STS request, nothing deleted), and no
# credential (base keys, external id, temporary keys) in any output.
set -uo pipefail
. "$top_srcdir/tests/emulator-lib.sh"
write_org_creds

MGMT=a0000000000000000000000000000001
PROD=a0000000000000000000000000000002
DEV=a0000000000000000000000000000003
LOCKED=a0000000000000000000000000000004
ACCOUNTS="$MGMT $PROD $DEV $LOCKED"
EXTERNAL_ID=acme-ext-0001
printf '%s\n' "$EXTERNAL_ID" > "$CREDENTIALS_DIRECTORY/org-ext"
printf 'wrong-ext-id\n' > "$CREDENTIALS_DIRECTORY/org-ext-wrong"
chmod 0600 "$CREDENTIALS_DIRECTORY"/org-ext*

# Project ids of ACCOUNT (b<n>...).
projects_of() {
	emu_get "/_emulator/accounts?account=$1" | "$PYTHON3" -c '
import json, sys
print(" ".join(p["id"] for p in json.load(sys.stdin)["accounts"][0]["projects"]))'
}

# A forbidden tag (temp-* = ! in the example policy) on app-0 of every project.
org_start() {
	emu_start --seed "$ORG_SEED" "$@"
	for a in $ACCOUNTS; do
		for p in $(projects_of "$a"); do
			emu_post /_emulator/tags "{\"secret\": \"app-0\", \"set\": {\"temp-build\": \"$p\"}, \"project\": \"$p\"}" \
				>/dev/null || fail "cannot tag app-0 in $p"
		done
	done
}

# "account<TAB>project<TAB>secret<TAB>key<TAB>value" of every deletion, sorted.
org_deleted() {
	for a in $ACCOUNTS; do
		emu_get "/_emulator/accounts?account=$a" | "$PYTHON3" -c '
import json, sys
a = json.load(sys.stdin)["accounts"][0]
for d in a["deleted"]:
    print("\t".join((a["id"], d["project_id"], d["secret_name"], d["key"], d["value"])))'
	done | LC_ALL=C sort
}

# How many requests of API the management account made.
mgmt_count() {
	emu_get "/_emulator/accounts?account=$MGMT" | "$PYTHON3" -c '
import json, sys
print(json.load(sys.stdin)["accounts"][0]["counts"].get(sys.argv[1], 0))' "$1"
}

no_credential() {
	local name=$1; shift
	if grep -qF -e "$ORG_SK" -e "$EXTERNAL_ID" -e "mgmtEcsSecretKey" -e "mgmt-ecs-token" "$@" ||
		grep -qiE 'x-security-token: [^*]' "$@"; then
		fail "$name: a credential appears in the output"
	fi
}

# governs NAME ACCOUNT PROJECT [AGENCY_AUTH lines]: a dry run deletes
# nothing; a pass deletes exactly PROJECT's forbidden tag; the next pass
# has nothing left to do.
governs() {
	local name=$1 account=$2 project=$3 rc conf="$WORK/$1.conf"
	echo "--- $name"
	org_start
	AGENCY_ACCOUNT=$account PROJECT_ID=$project AGENCY_AUTH=${4:-} write_config "$conf" agency
	"$CSMS_TAGD" -c "$conf" --once --dry-run > "$WORK/out" 2>&1; rc=$?
	[ $rc -eq 2 ] || { cat "$WORK/out"; fail "$name: dry run exit $rc, want 2"; }
	[ -z "$(org_deleted)" ] || fail "$name: the dry run deleted something"
	"$CSMS_TAGD" -c "$conf" --once > "$WORK/out" 2>&1; rc=$?
	[ $rc -eq 2 ] || { cat "$WORK/out"; fail "$name: exit $rc, want 2"; }
	printf '%s\t%s\tapp-0\ttemp-build\t%s\n' "$account" "$project" "$project" > "$WORK/expected"
	org_deleted > "$WORK/deleted"
	diff -u "$WORK/expected" "$WORK/deleted" || fail "$name: the deletions differ"
	grep -q "Assumed agency tag-keeper of account $account" "$WORK/out" ||
		{ cat "$WORK/out"; fail "$name: no word of the agency"; }
	"$CSMS_TAGD" -c "$conf" --once > "$WORK/out2" 2>&1; rc=$?
	[ $rc -eq 0 ] || { cat "$WORK/out2"; fail "$name: second pass exit $rc, want 0"; }
	no_credential "$name" "$WORK/out" "$WORK/out2" "$WORK/emulator.log"
}

governs sts "$PROD" b2000000000000000000000000000001
governs sts-other-region "$PROD" b2000000000000000000000000000002 "agency_session_name = ops.tagd"
governs iam "$PROD" b2000000000000000000000000000001 $'api = iam\nagency_duration = 2h'
governs iam-domain-name "$PROD" b2000000000000000000000000000001 $'api = iam\nagency_domain = acme-prod'
governs external-id "$DEV" b3000000000000000000000000000001 "external_id_file = org-ext"

# The management account's ECS keys as the base identity.
echo "--- base ecs"
org_start
AGENCY_ACCOUNT=$PROD PROJECT_ID=b2000000000000000000000000000001 AGENCY_AUTH="base = ecs" \
	write_config "$WORK/ecs.conf" agency
sed -i -e '/^access_key_file/d' -e '/^secret_key_file/d' "$WORK/ecs.conf"
"$CSMS_TAGD" -c "$WORK/ecs.conf" --once > "$WORK/out" 2>&1; rc=$?
[ $rc -eq 2 ] || { cat "$WORK/out"; fail "base ecs: exit $rc, want 2"; }
printf '%s\t%s\tapp-0\ttemp-build\t%s\n' "$PROD" b2000000000000000000000000000001 \
	b2000000000000000000000000000001 > "$WORK/expected"
org_deleted | diff -u "$WORK/expected" - || fail "base ecs: the deletions differ"
no_credential "base ecs" "$WORK/out" "$WORK/emulator.log"

# daemon_until NAME CONF CONDITION: run the daemon on CONF until the shell
# CONDITION holds (at most 10 s), then stop it; its output is $WORK/daemon.
daemon_until() {
	local name=$1 conf=$2 cond=$3
	mkdir -p "$WORK/state"
	STATE_DIRECTORY="$WORK/state" "$CSMS_TAGD" -c "$conf" --log-target stderr > "$WORK/daemon" 2>&1 &
	DAEMON=$!
	for _ in $(seq 200); do eval "$cond" && break; sleep 0.05; done
	kill $DAEMON; wait $DAEMON; DAEMON=
	eval "$cond" || { cat "$WORK/daemon"; fail "$name"; }
	no_credential "$name" "$WORK/daemon" "$WORK/emulator.log"
}
DAEMON=
trap '[ -n "$DAEMON" ] && kill $DAEMON 2>/dev/null && wait $DAEMON; _emu_cleanup' EXIT
assumed() { [ "$(grep -c "Assumed agency tag-keeper" "$WORK/daemon")" -ge "$1" ]; }

# Temporary keys that stop working early (a 401) are replaced by assuming
# the agency again, and governance goes on.
echo "--- re-assumed after a 401"
org_start
AGENCY_ACCOUNT=$PROD PROJECT_ID=b2000000000000000000000000000001 write_config "$WORK/d.conf" agency
(
	for _ in $(seq 200); do grep -q "Pass 1 " "$WORK/daemon" 2>/dev/null && break; sleep 0.05; done
	emu_post /_emulator/expire-tokens '{}' >/dev/null
	emu_post /_emulator/tags '{"secret": "app-1", "set": {"temp-late": "1"},
		"project": "b2000000000000000000000000000001"}' >/dev/null
) &
helper=$!
daemon_until "the agency was not assumed again after a 401, or no pass followed" "$WORK/d.conf" \
	'assumed 2 && org_deleted | grep -q "app-1	temp-late"'
wait $helper

# refused NAME ACCOUNT PROJECT WORDS AGENCY_AUTH: exit 1 with a message
# naming the agency, the account and WORDS; one assumption, nothing deleted.
refused() {
	local name=$1 account=$2 project=$3 words=$4 rc conf="$WORK/$1.conf"
	echo "--- refused: $name"
	org_start
	AGENCY_ACCOUNT=$account PROJECT_ID=$project AGENCY_AUTH=${5:-} write_config "$conf" agency
	"$CSMS_TAGD" -c "$conf" --once > "$WORK/out" 2>&1; rc=$?
	[ $rc -eq 1 ] || { cat "$WORK/out"; fail "$name: exit $rc, want 1"; }
	grep -q "agency tag-keeper of account $account $words" "$WORK/out" ||
		{ cat "$WORK/out"; fail "$name: the error does not name the agency and account"; }
	[ -z "$(org_deleted)" ] || fail "$name: something was deleted"
	n=$(mgmt_count "${6:-AssumeAgency}")
	[ "$n" -eq 1 ] || fail "$name: $n assumption requests, want 1"
	no_credential "$name" "$WORK/out" "$WORK/emulator.log"
}

refused untrusted "$LOCKED" b4000000000000000000000000000001 "refused to be assumed"
refused no-external-id "$DEV" b3000000000000000000000000000001 "refused to be assumed"
refused wrong-external-id "$DEV" b3000000000000000000000000000001 "refused to be assumed" \
	"external_id_file = org-ext-wrong"
refused iam-external-id "$DEV" b3000000000000000000000000000001 "refused to be assumed" \
	"api = iam" CreateTemporaryAccessKeyByAgency
refused unknown-account a00000000000000000000000000000ff b4000000000000000000000000000001 \
	"does not exist"

# --discover: the projects of the identity (here the member account the
# agency reaches), and the organisation's accounts as its base identity
# (the management account) lists them.
echo "--- discover"
org_start
AGENCY_ACCOUNT=$PROD PROJECT_ID=b2000000000000000000000000000001 write_config "$WORK/disc.conf" agency
"$CSMS_TAGD" -c "$WORK/disc.conf" --discover > "$WORK/out" 2>"$WORK/err" || { cat "$WORK/err"; fail "--discover"; }
grep -q "^Projects (2):" "$WORK/out" || { cat "$WORK/out"; fail "--discover: no projects table"; }
grep -q "^b2000000000000000000000000000002  cn-east-3 .* $PROD  yes" "$WORK/out" ||
	{ cat "$WORK/out"; fail "--discover: project missing"; }
grep -q "^Accounts (4):" "$WORK/out" || { cat "$WORK/out"; fail "--discover: no accounts table"; }
grep -q "^$LOCKED  acme-locked  *active" "$WORK/out" || { cat "$WORK/out"; fail "--discover: account missing"; }
"$CSMS_TAGD" -c "$WORK/disc.conf" --discover --json > "$WORK/out.json" || fail "--discover --json"
"$PYTHON3" - "$WORK/out.json" <<'PY' || fail "--discover --json: wrong content"
import json, sys
d = json.load(open(sys.argv[1]))
assert [p["id"] for p in d["projects"]] == ["b2000000000000000000000000000001",
                                             "b2000000000000000000000000000002"], d
assert all(p["domain_id"] == "a0000000000000000000000000000002" for p in d["projects"])
assert [a["name"] for a in d["accounts"]] == ["acme-mgmt", "acme-prod", "acme-dev", "acme-locked"]
assert d["accounts_note"] is None
PY
no_credential discover "$WORK/out" "$WORK/out.json" "$WORK/err"
[ "$(emu_get "/_emulator/accounts?account=$PROD" | "$PYTHON3" -c 'import json, sys
print(json.load(sys.stdin)["accounts"][0]["deleted"])')" = "[]" ] || fail "--discover deleted something"

# A member account's own keys: its projects, and no account list (it is
# not the management account), which is a note and not a failure.
printf 'PRODAK00000000000000\n' > "$CREDENTIALS_DIRECTORY/prod-ak"
printf 'prodSecretKey000000000000000000000000000\n' > "$CREDENTIALS_DIRECTORY/prod-sk"
chmod 0600 "$CREDENTIALS_DIRECTORY"/prod-*
PROJECT_ID=b2000000000000000000000000000001 write_config "$WORK/member.conf" aksk
sed -i 's/= csms-ak/= prod-ak/; s/= csms-sk/= prod-sk/' "$WORK/member.conf"
"$CSMS_TAGD" -c "$WORK/member.conf" --discover > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "--discover as a member"; }
grep -q "^Accounts: not listed: the identity is not the management account" "$WORK/out" ||
	{ cat "$WORK/out"; fail "--discover as a member: no note"; }

# Paging: 1201 accounts come in three pages of at most 500.
echo "--- discover: paging"
emu_start --generate-accounts 1200 --generate 1
printf 'ORGMGMTAK00000000000\n' > "$CREDENTIALS_DIRECTORY/gen-ak"
printf 'orgMgmtSecretKey00000000000000000000\n' > "$CREDENTIALS_DIRECTORY/gen-sk"
chmod 0600 "$CREDENTIALS_DIRECTORY"/gen-*
PROJECT_ID=pr000000000000000000000000000000 write_config "$WORK/gen.conf" aksk
sed -i 's/= csms-ak/= gen-ak/; s/= csms-sk/= gen-sk/' "$WORK/gen.conf"
"$CSMS_TAGD" -c "$WORK/gen.conf" --discover --json > "$WORK/gen.json" || fail "--discover: paging"
"$PYTHON3" - "$WORK/gen.json" <<'PY' || fail "--discover: paging lost or repeated accounts"
import json, sys
ids = [a["id"] for a in json.load(open(sys.argv[1]))["accounts"]]
assert len(ids) == 1201 and len(set(ids)) == 1201, len(ids)
PY
n=$(emu_get /_emulator/state | "$PYTHON3" -c 'import json, sys
print(json.load(sys.stdin)["counts"].get("ListAccounts", 0))')
[ "$n" -eq 3 ] || fail "--discover: $n ListAccounts requests, want 3"

# SIGINT while ListAccounts is parked: --discover runs on the manager, so it
# stops ("interrupted"), drains the request in flight (at most 5 s) and
# exits 1 without printing a partial list.
echo "--- discover: SIGINT while a request is pending"
emu_post /_emulator/faults '{"rules": [{"api": "ListAccounts", "kind": "hold", "count": 1, "hold_ms": 30000}]}' >/dev/null
"$CSMS_TAGD" -c "$WORK/gen.conf" --discover > "$WORK/out" 2>"$WORK/err" &
pid=$!
i=0
until [ "$(emu_get /_emulator/holds | "$PYTHON3" -c 'import json, sys
print(json.load(sys.stdin)["parked"])')" = 1 ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { kill $pid; fail "--discover: ListAccounts never parked"; }
	sleep 0.1
done
t0=$(date +%s)
kill -INT $pid
wait $pid; rc=$?
t=$(( $(date +%s) - t0 ))
[ $rc -eq 1 ] || { cat "$WORK/err"; fail "--discover after SIGINT: exit $rc, want 1"; }
[ $t -le 7 ] || fail "--discover after SIGINT: took ${t}s, the drain is 5 s"
grep -q "Discovery: interrupted" "$WORK/err" || { cat "$WORK/err"; fail "--discover: not interrupted"; }
[ ! -s "$WORK/out" ] || { cat "$WORK/out"; fail "--discover printed a partial list after SIGINT"; }
emu_post /_emulator/release '{}' >/dev/null

echo "PASS"
