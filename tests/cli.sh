#!/bin/sh
# cli.sh - the real csms-tagd binary: --check-config, --plan and --explain on
# the files in tests/data, and the exit codes scripts rely on
# (0 clean, 2 deletions planned, 1 error).
#
# Run by `make check` with CSMS_TAGD, top_srcdir and top_builddir set.

: "${top_srcdir:?}" "${CSMS_TAGD:?}"
. "$top_srcdir/tests/lib.sh"

PYTHON3=${PYTHON3:-python3}
data=$top_srcdir/tests/data
conf=$data/plan.conf
observed=$data/observed-example.json
shipped=$top_srcdir/etc/csms-tagd.conf

[ -x "$CSMS_TAGD" ] || fail "$CSMS_TAGD is not an executable"

# The number of the line of FILE that is exactly TEXT.
line_of() {
	n=$(grep -nxF -- "$2" "$1" | head -n 1 | cut -d: -f1)
	[ -n "$n" ] || fail "$(basename "$1") has no line '$2'"
	echo "$n"
}

# Columns of tables and explain output are padded with two or more spaces;
# make them '|' so that rows compare as fixed text (single spaces, as in
# "legacy id", stay).
columns() {
	sed 's/   */|/g' "$1"
}

# Fail unless FILE, with its columns joined by '|', has the line TEXT.
assert_row() {
	checks=$((checks + 1))
	columns "$1" | grep -qxF -- "$2" || fail "$(basename "$1") lacks the row '$2'"
}

l_section=$(line_of "$conf" '[secret "payments-db"]')
l_owner=$(line_of "$conf" 'owner = alice|bob')
l_env=$(line_of "$conf" 'env = prod|staging')
l_cost=$(line_of "$conf" 'cost-center = cc-*')
l_apps=$(line_of "$conf" '[secrets "app-*"]')
l_temp=$(line_of "$conf" 'temp-* = !')
l_any=$(line_of "$conf" '* = *')

# Credentials as systemd's LoadCredential= would provide them.
creds=$tmpdir/creds
mkdir -m 700 "$creds" || exit 99
for f in token csms-ak csms-sk; do
	printf 'not-a-real-%s\n' "$f" >"$creds/$f"
	chmod 600 "$creds/$f"
done
CREDENTIALS_DIRECTORY=$creds
export CREDENTIALS_DIRECTORY

# --- --check-config -----------------------------------------------------------

assert_exit 0 "$CSMS_TAGD" --check-config -c "$conf"
assert_contains "$tmpdir/out" "configuration is valid"
assert_contains "$tmpdir/out" "governed sections: 2 (1 exact, 1 glob)"
assert_contains "$tmpdir/out" "token"
assert_contains "$tmpdir/out" "https://kms.cn-north-4.myhuaweicloud.com"

# The shipped main file holds defaults only (and dry_run = yes): alone it
# names no project, and the policy goes in drop-ins.  site DIR PROJECT_ID:
# the shipped file as DIR/csms-tagd.conf, with the minimal drop-in its
# header shows as csms-tagd.conf.d/50-site.conf.
site() {
	mkdir -p "$1/csms-tagd.conf.d"
	cp "$shipped" "$1/csms-tagd.conf"
	sed -n '/^# A minimal drop-in/,/^# Check it/ s/^#   //p' "$shipped" |
		sed "s/<your project id>/$2/" >"$1/csms-tagd.conf.d/50-site.conf"
	grep -q '^\[secrets "app-\*"\]$' "$1/csms-tagd.conf.d/50-site.conf" ||
		fail "the shipped file's header shows no minimal drop-in"
}
assert_exit 1 "$CSMS_TAGD" --check-config -c "$shipped"
assert_contains "$tmpdir/err" "[csms] region is required"
# The placeholder project id, copied into a drop-in, is refused (the daemon
# would only fail to authenticate), naming its file and line; a real one
# is valid, and with an endpoint of its own (an emulator, a private cloud)
# the placeholder is no mistake.
site "$tmpdir/placeholder" 0123456789abcdef0123456789abcdef
dropin=$tmpdir/placeholder/csms-tagd.conf.d/50-site.conf
l_project=$(line_of "$dropin" 'project_id = 0123456789abcdef0123456789abcdef')
assert_exit 1 "$CSMS_TAGD" --check-config -c "$tmpdir/placeholder/csms-tagd.conf"
assert_contains "$tmpdir/err" "$dropin:$l_project: project_id 0123456789abcdef0123456789abcdef is the placeholder of the shipped file"
[ ! -s "$tmpdir/out" ] || fail "--check-config printed a summary for the placeholder project_id"
site "$tmpdir/site" 5e5a7c1d2b3f4e6a8c9d0e1f2a3b4c5d
assert_exit 0 "$CSMS_TAGD" --check-config -c "$tmpdir/site/csms-tagd.conf"
assert_contains "$tmpdir/out" "configuration is valid"
assert_contains "$tmpdir/out" "dry run:           yes"
printf '[csms]\nendpoint = http://127.0.0.1:9\n' >"$tmpdir/placeholder/csms-tagd.conf.d/60-endpoint.conf"
assert_exit 0 "$CSMS_TAGD" --check-config -c "$tmpdir/placeholder/csms-tagd.conf"

# A credential file others can read, or one that is missing, rejects the
# config, naming the [auth] key and the file (tests/config-check.sh has
# every defect).
chmod 640 "$creds/token"
assert_exit 1 "$CSMS_TAGD" --check-config -c "$conf"
assert_contains "$tmpdir/err" "token_file $creds/token is readable by group or others (mode 0640)"
[ ! -s "$tmpdir/out" ] || fail "--check-config printed a summary for a rejected config"
# ... unless the credentials are left out, as ExecReload= does.
assert_exit 0 "$CSMS_TAGD" --check-config --no-credentials -c "$conf"
assert_contains "$tmpdir/out" "configuration is valid (credential files not read)"
chmod 600 "$creds/token"
mv "$creds/token" "$creds/token.moved"
assert_exit 1 "$CSMS_TAGD" --check-config -c "$conf"
assert_contains "$tmpdir/err" "token_file $creds/token: No such file or directory"
mv "$creds/token.moved" "$creds/token"

# Invalid configs: each is rejected with "FILE:LINE: message" for the line
# at fault, and nothing goes to stdout.
check_invalid() {
	name=$1 line=$2 body=$3
	f=$tmpdir/$name.conf
	printf '%s\n%s\n' "$prologue" "$body" >"$f"
	assert_exit 1 "$CSMS_TAGD" --check-config -c "$f"
	checks=$((checks + 1))
	head -n 1 "$tmpdir/err" | grep -qF -- "$f:$line: " ||
		fail "$name: expected a '$f:$line: ' message"
	[ ! -s "$tmpdir/out" ] || fail "$name: summary printed for a rejected config"
	# The same file must not produce a plan either: 1, never 0 or 2.
	assert_exit 1 "$CSMS_TAGD" -c "$f" --plan --observed "$observed"
}
check_invalid unknown-section 8 '[secret "a"]
[bogus]'
check_invalid unknown-key 8 '[daemon]
frobnicate = yes'
check_invalid bad-span 9 '[daemon]
dry_run = no
interval = soon'
check_invalid duplicate-section 9 '[secret "a"]
x = *
[secret "a"]'
check_invalid bad-glob 7 '[secrets "app-["]
x = *'
check_invalid bad-escape 8 '[secret "a"]
a%zz = 1'

assert_exit 1 "$CSMS_TAGD" --check-config -c "$tmpdir/does-not-exist.conf"
assert_contains "$tmpdir/err" "does-not-exist.conf"

# --- --plan -------------------------------------------------------------------

assert_exit 2 "$CSMS_TAGD" -c "$conf" --plan --observed "$observed"
columns "$tmpdir/out" >"$tmpdir/table"
cat >"$tmpdir/expected" <<EOF
SECRET|KEY|VALUE|REASON|RULE
app-frontend|temp-debug|true|forbidden|$conf:$l_temp
app-worker|temp-owner|bob|forbidden|$conf:$l_temp
payments-db|env|dev|value-not-allowed|$conf:$l_env
payments-db|legacy id|7|no-rule|$conf:$l_section

4 deletions planned across 3 of 6 secrets (4 governed, 1 pending deletion skipped, 12 tags examined).
EOF
checks=$((checks + 1))
diff -u "$tmpdir/expected" "$tmpdir/table" >&2 || fail "--plan table differs"

# The shipped config with a drop-in that names the project and no section
# governs nothing: no plan at all.
mkdir -p "$tmpdir/examples.conf.d"
sed -n '/^# A minimal drop-in/,/^#   \[secrets/ s/^#   //p' "$shipped" | sed -e '/^\[secrets/d' \
	-e 's/<your project id>/5e5a7c1d2b3f4e6a8c9d0e1f2a3b4c5d/' >"$tmpdir/examples.conf.d/50-site.conf"
cp "$shipped" "$tmpdir/examples.conf"
assert_exit 0 "$CSMS_TAGD" -c "$tmpdir/examples.conf" --plan --observed "$observed"
assert_contains "$tmpdir/out" "No deletions planned"
# Its commented examples, uncommented (with the example protect list),
# govern the example observation as plan.conf does.
examples_of "$shipped" | sed 's/^#protect = /protect = /' >"$tmpdir/examples.conf"
assert_exit 2 "$CSMS_TAGD" -c "$tmpdir/examples.conf" --plan --observed "$observed"
checks=$((checks + 1))
columns "$tmpdir/out" | grep -q '^payments-db|env|dev|value-not-allowed|' ||
	fail "shipped examples: payments-db env=dev not planned"
assert_contains "$tmpdir/out" "4 deletions planned across 3 of 6 secrets (4 governed, 1 pending deletion skipped, 12 tags examined)."
assert_not_contains "$tmpdir/out" "legacy-ldap"

assert_exit 2 "$CSMS_TAGD" -c "$conf" --plan --json --observed "$observed"
checks=$((checks + 1))
"$PYTHON3" -m json.tool "$tmpdir/out" >/dev/null || fail "--plan --json is not JSON"
checks=$((checks + 1))
"$PYTHON3" - "$tmpdir/out" "$conf" "$l_section" "$l_env" "$l_temp" <<'EOF' || fail "--plan --json content"
import json, sys

path, conf, l_section, l_env, l_temp = sys.argv[1:]
with open(path, encoding="utf-8") as f:
    plan = json.load(f)
want_summary = {"secrets": 6, "governed": 4, "pending_delete_skipped": 1,
                "incomplete_skipped": 0, "tags_examined": 12, "deletions": 4,
                "waiting": 0, "exempted": 0, "required_missing": 0, "required_invalid": 0}
want = [
    ("1c7d2b3f-4a5e-4f6b-8c9d-0e1f2a3b4c5d", "app-frontend", "temp-debug", "true", "forbidden", l_temp),
    ("3e9f4d5b-6c7a-4b8d-8e1f-2a3b4c5d6e7f", "app-worker", "temp-owner", "bob", "forbidden", l_temp),
    ("0b6c1a2e-3f4d-4e5a-9b7c-8d1e2f3a4b5c", "payments-db", "env", "dev", "value-not-allowed", l_env),
    ("0b6c1a2e-3f4d-4e5a-9b7c-8d1e2f3a4b5c", "payments-db", "legacy id", "7", "no-rule", l_section),
]
assert set(plan) == {"summary", "deletions", "waiting", "exempted", "required",
                     "unused_exemptions"}, plan.keys()
assert not any(plan[k] for k in ("waiting", "exempted", "required", "unused_exemptions"))
assert plan["summary"] == want_summary, plan["summary"]
got = [(d["secret_id"], d["secret_name"], d["key"], d["value"], d["reason"], d["rule"])
       for d in plan["deletions"]]
assert got == [w[:5] + (f"{conf}:{w[5]}",) for w in want], got
assert all(len(d) == 6 for d in plan["deletions"])
EOF

# Nothing to delete: exit 0, in both formats.
cat >"$tmpdir/clean.json" <<'EOF'
{"resources": [
  {"resource_id": "0b6c1a2e-3f4d-4e5a-9b7c-8d1e2f3a4b5c", "resource_name": "payments-db",
   "resource_detail": {"state": "ENABLED"},
   "tags": [{"key": "owner", "value": "bob"}, {"key": "billing-ref", "value": "x"}],
   "sys_tags": []},
  {"resource_id": "4f0a5e6c-7d8b-4c9e-9f2a-3b4c5d6e7f80", "resource_name": "unmanaged",
   "resource_detail": {"state": "ENABLED"},
   "tags": [{"key": "temp-x", "value": "1"}], "sys_tags": []}
], "total_count": 2}
EOF
assert_exit 0 "$CSMS_TAGD" -c "$conf" --plan --observed "$tmpdir/clean.json"
assert_contains "$tmpdir/out" "No deletions planned."
assert_exit 0 "$CSMS_TAGD" -c "$conf" --plan --json --observed "$tmpdir/clean.json"
checks=$((checks + 1))
"$PYTHON3" -c '
import json, sys
p = json.load(open(sys.argv[1]))
assert p["deletions"] == [] and p["summary"]["deletions"] == 0 and p["summary"]["governed"] == 1
' "$tmpdir/out" || fail "--plan --json of a clean observation"

# Hostile text from the API never reaches the terminal raw.
cat >"$tmpdir/hostile.json" <<'EOF'
{"resources": [
  {"resource_id": "2d8e3c4a-5b6f-4a7c-9d0e-1f2a3b4c5d6e", "resource_name": "app-x",
   "resource_detail": {"state": "ENABLED"},
   "tags": [{"key": "temp-\u001b]0;pwned\u0007", "value": "a\nb"}], "sys_tags": []}
], "total_count": 1}
EOF
assert_exit 2 "$CSMS_TAGD" -c "$conf" --plan --observed "$tmpdir/hostile.json"
assert_contains "$tmpdir/out" 'temp-\x1b]0;pwned\x07'
assert_contains "$tmpdir/out" 'a\x0ab'
checks=$((checks + 1))
! grep -q "$(printf '\033')" "$tmpdir/out" || fail "raw escape character in the table"

# Errors are exit 1, never 0 or 2, and name the file.
printf '{"resources": [' >"$tmpdir/truncated.json"
printf '' >"$tmpdir/empty.json"
printf '{"resources": 5}' >"$tmpdir/mistyped.json"
printf '{"resources": [{"resource_id": 7}]}' >"$tmpdir/bad-id.json"
for f in truncated empty mistyped bad-id does-not-exist; do
	assert_exit 1 "$CSMS_TAGD" -c "$conf" --plan --observed "$tmpdir/$f.json"
	assert_contains "$tmpdir/err" "$f.json"
	[ ! -s "$tmpdir/out" ] || fail "$f.json: output on stdout despite the error"
	assert_exit 1 "$CSMS_TAGD" -c "$conf" --plan --json --observed "$tmpdir/$f.json"
done

# --- --explain ----------------------------------------------------------------

assert_exit 0 "$CSMS_TAGD" -c "$conf" --explain payments-db --observed "$observed"
assert_contains "$tmpdir/out" "secret payments-db (0b6c1a2e-3f4d-4e5a-9b7c-8d1e2f3a4b5c): governed by [secret \"payments-db\"] at $conf:$l_section"
assert_row "$tmpdir/out" "|keep|owner=alice|allowed by $conf:$l_owner"
assert_row "$tmpdir/out" "|delete|env=dev|value not allowed by $conf:$l_env"
assert_row "$tmpdir/out" "|keep|cost-center=cc-1042|allowed by $conf:$l_cost"
assert_row "$tmpdir/out" "|delete|legacy id=7|no rule of the section at $conf:$l_section matches the key"
assert_row "$tmpdir/out" "|keep|billing-code=PAY-7|protected by [daemon] protect glob \"billing-*\""
assert_row "$tmpdir/out" "|system|_sys_enterprise_project_id=0|in sys_tags; never touched"

assert_exit 0 "$CSMS_TAGD" -c "$conf" --explain app-frontend --observed "$observed"
assert_contains "$tmpdir/out" "governed by [secrets \"app-*\"] at $conf:$l_apps"
assert_row "$tmpdir/out" "|delete|temp-debug=true|forbidden by $conf:$l_temp"
assert_row "$tmpdir/out" "|keep|负责人=张伟|allowed by $conf:$l_any"
assert_row "$tmpdir/out" "|keep|k8s:namespace=frontend/prod|allowed by $conf:$l_any"

assert_exit 0 "$CSMS_TAGD" -c "$conf" --explain app-billing --observed "$observed"
assert_contains "$tmpdir/out" "PENDING_DELETE"
assert_row "$tmpdir/out" "|skip|temp-migration=2024-q2|forbidden by $conf:$l_temp"

assert_exit 0 "$CSMS_TAGD" -c "$conf" --explain legacy-ldap --observed "$observed"
assert_contains "$tmpdir/out" "not governed: no section matches; its tags are never touched"
assert_row "$tmpdir/out" "|keep|owner=mallory|not governed"

assert_exit 1 "$CSMS_TAGD" -c "$conf" --explain no-such-secret --observed "$observed"
assert_contains "$tmpdir/err" "no-such-secret"
assert_exit 1 "$CSMS_TAGD" -c "$conf" --explain payments-db --observed "$tmpdir/truncated.json"

# --- usage errors -------------------------------------------------------------

assert_exit 1 "$CSMS_TAGD" -c "$conf" --plan
assert_exit 1 "$CSMS_TAGD" -c "$conf" --explain payments-db
assert_exit 1 "$CSMS_TAGD" -c "$conf" --explain payments-db --json --observed "$observed"
assert_exit 1 "$CSMS_TAGD" -c "$conf" --plan --check-config --observed "$observed"
assert_exit 1 "$CSMS_TAGD" -c "$conf" --no-such-option
# Reviewed plans and undo: each option only with its mode, refused up front.
assert_exit 1 "$CSMS_TAGD" -c "$conf" --once --save-plan "$tmpdir/p.json"
assert_contains "$tmpdir/err" "--save-plan goes with --once --dry-run"
assert_exit 1 "$CSMS_TAGD" -c "$conf" --once --apply-plan "$tmpdir/p.json"
assert_exit 1 "$CSMS_TAGD" -c "$conf" --once --max-plan-age 1h
assert_exit 1 "$CSMS_TAGD" -c "$conf" --apply-plan "$tmpdir/p.json" --max-plan-age soon
assert_contains "$tmpdir/err" "--max-plan-age: 'soon' is not a time span"
assert_exit 1 "$CSMS_TAGD" -c "$conf" --restore
assert_contains "$tmpdir/err" "--restore needs --since TIME"
assert_exit 1 "$CSMS_TAGD" -c "$conf" --once --since @0
assert_exit 1 "$CSMS_TAGD" -c "$conf" --restore --since yesterday --from /dev/null
assert_contains "$tmpdir/err" "relative times such as '-1h' or 'yesterday' are refused"
# A local time the clocks repeat or skip names no one instant: refused,
# saying so (issue 14), rather than guessed.
if [ -r /usr/share/zoneinfo/Europe/Berlin ]; then
	assert_exit 1 env TZ=Europe/Berlin "$CSMS_TAGD" -c "$conf" --restore --since '2026-10-25 02:30' --from /dev/null
	assert_contains "$tmpdir/err" "--since: cannot use '2026-10-25 02:30': that local time happens twice"
	assert_exit 1 env TZ=Europe/Berlin "$CSMS_TAGD" -c "$conf" --restore --since @0 --until '2026-03-29 02:30' --from /dev/null
	assert_contains "$tmpdir/err" "--until: cannot use '2026-03-29 02:30': that local time does not exist"
fi
assert_exit 1 "$CSMS_TAGD" -c "$conf" --restore --since @100 --until @99 --from /dev/null
[ ! -e "$tmpdir/p.json" ] || fail "a refused command wrote a plan"
# --restore reads the deletion ledger of the service that runs the config
# it is given; a file that no unit runs has no service ledger to share and
# must name its own state_directory.
cp "$conf" "$tmpdir/plan.ini"
assert_exit 1 "$CSMS_TAGD" -c "$tmpdir/plan.ini" --restore --since @100 --dry-run
assert_contains "$tmpdir/err" "no deletion ledger for $tmpdir/plan.ini: no csms-tagd unit runs this configuration"
mkdir "$tmpdir/state"
sed "s|^\[daemon\]\$|[daemon]\nstate_directory = $tmpdir/state|" "$conf" >"$tmpdir/plan.ini"
assert_exit 0 "$CSMS_TAGD" -c "$tmpdir/plan.ini" --restore --since @100 --dry-run

echo "cli.sh: $checks checks passed"
