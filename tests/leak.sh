#!/bin/bash
# leak.sh - no credential leaks through a server that echoes requests.
#
# The emulator's "echo" fault answers with an error whose message is the
# whole request: body, every header (X-Auth-Token, X-Security-Token, the
# Authorization line with the AK) and the request line.  For every auth
# method (aksk, password with the IAM request echoed and with the CSMS
# requests echoed, token, ecs, agency with the STS request echoed and with
# the CSMS requests echoed), csms-tagd --once (stderr), the daemon
# (stderr and every STATUS= it sends, through the fake notify socket of
# notify.sh) and --check-credentials (stdout) must show the echo - else this
# test proves nothing - and must not contain a credential; neither must the
# daemon's state file and metrics file (which quote server errors and their
# codes; they need not show the echo: no pass ends before the IAM echo).
# Credentials are the seed's AK,
# SK, password, static token and ECS temporary keys (for agency: the org
# seed's management keys and the external id), nor any value after an
# x-auth-token or x-security-token header (IAM tokens are made up by the
# emulator as it goes).

set -u
. "${top_srcdir:?}/tests/emulator-lib.sh"

SEED="$top_srcdir/tests/emulator/seed-example.json"
SOCK="$WORK/notify.sock"
LISTENER_PID=
DAEMON=
checks=0

cleanup() {
	for p in $DAEMON $LISTENER_PID; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	_emu_cleanup
}
trap cleanup EXIT

seed_value() {
	"$PYTHON3" -c 'import json, sys
c = json.load(open(sys.argv[1]))["credentials"]
print(eval(sys.argv[2], {"c": c}))' "$SEED" "$1"
}
SECRETS=(
	"$(seed_value 'c["aksk"][0]["ak"]')" "$(seed_value 'c["aksk"][0]["sk"]')"
	"$(seed_value 'c["users"][0]["password"]')" "$(seed_value 'c["tokens"][0]')"
	"$(seed_value 'c["ecs"]["ak"]')" "$(seed_value 'c["ecs"]["sk"]')"
	"$(seed_value 'c["ecs"]["security_token"]')"
)
for s in "${SECRETS[@]}"; do
	[ ${#s} -ge 8 ] || fail "cannot read the seed's credentials"
done

write_creds
printf '%s\n' "$(seed_value 'c["tokens"][0]')" >"$CREDENTIALS_DIRECTORY/csms-token"
chmod 0600 "$CREDENTIALS_DIRECTORY/csms-token"

notify_listen "$SOCK" "$WORK/notify.log"

# echo_rules API...: an echo fault (HTTP 400) on each API.
echo_rules() {
	local sep= a
	printf '{"rules": ['
	for a in "$@"; do
		printf '%s{"kind": "echo", "api": "%s", "status": 400}' "$sep" "$a"
		sep=,
	done
	printf ']}'
}
CSMS_APIS=(ListResourceInstances ListSecrets ListSecretTags DeleteSecretTag)

# assert_clean NAME FILE: FILE shows the echo and holds no credential.
assert_clean() {
	local name=$1 file=$2
	checks=$((checks + 1))
	grep -q 'you sent' "$file" || fail "$name: $(basename "$file") does not show the echo: $(head -c 600 "$file")"
	assert_no_credential "$name" "$file"
}

# assert_no_credential NAME FILE: FILE exists and holds no credential.
assert_no_credential() {
	local name=$1 file=$2 s
	checks=$((checks + 1))
	[ -s "$file" ] || fail "$name: $(basename "$file") is missing or empty"
	for s in "${SECRETS[@]}"; do
		checks=$((checks + 1))
		if grep -qF -- "$s" "$file"; then
			fail "$name: $(basename "$file") holds a credential: $(grep -F -- "$s" "$file" | head -c 600)"
		fi
	done
	checks=$((checks + 1))
	if grep -qiE 'x-(auth|security)-token: [^*]' "$file"; then
		fail "$name: $(basename "$file") holds a token: $(grep -oiE 'x-(auth|security)-token: [^*].{0,40}' "$file" | head -n 3)"
	fi
}

# run_case NAME METHOD API...: echo on those APIs, then the three runs.
run_case() {
	local name=$1 method=$2 conf="$WORK/$1.conf" n
	shift 2
	echo "--- $name"
	emu_start --seed "$SEED"
	write_config "$conf" "$method" "metrics_file = $WORK/$name.prom"
	mkdir -p "$WORK/$name-state"
	emu_post /_emulator/faults "$(echo_rules "$@")" >/dev/null || fail "$name: cannot set the faults"

	"$CSMS_TAGD" -c "$conf" --once --log-target stderr >"$WORK/$name.once" 2>&1
	assert_clean "$name" "$WORK/$name.once"

	"$CSMS_TAGD" -c "$conf" --check-credentials >"$WORK/$name.check" 2>&1 &&
		fail "$name: --check-credentials succeeded against an echoing server"
	assert_clean "$name" "$WORK/$name.check"

	: >"$WORK/notify.log"
	(
		export NOTIFY_SOCKET="$SOCK" STATE_DIRECTORY="$WORK/$name-state"
		exec "$CSMS_TAGD" --config "$conf" --log-target stderr
	) >"$WORK/$name.daemon" 2>&1 &
	DAEMON=$!
	for n in $(seq 200); do
		grep -q '^STATUS=.*you sent' <(cut -d' ' -f3- "$WORK/notify.log") && break
		sleep 0.05
	done
	kill "$DAEMON"
	wait "$DAEMON"
	DAEMON=
	cut -d' ' -f3- "$WORK/notify.log" | grep '^STATUS=' >"$WORK/$name.status"
	assert_clean "$name" "$WORK/$name.status"
	assert_clean "$name" "$WORK/$name.daemon"
	assert_no_credential "$name" "$WORK/$name-state/state.json"
	assert_no_credential "$name" "$WORK/$name.prom"
}

run_case aksk aksk '*'
run_case token token '*'
run_case password-iam password KeystoneCreateUserTokenByPassword
run_case password-csms password "${CSMS_APIS[@]}"
run_case ecs ecs "${CSMS_APIS[@]}"

# The agency method, on the organisation seed: a member account's agency
# whose trust policy wants an external id (a secret; in the STS body).
SEED=$ORG_SEED
write_org_creds
printf 'acme-ext-0001\n' > "$CREDENTIALS_DIRECTORY/org-ext"
chmod 0600 "$CREDENTIALS_DIRECTORY/org-ext"
SECRETS+=("$ORG_AK" "$ORG_SK" acme-ext-0001)
export AGENCY_ACCOUNT=a0000000000000000000000000000003 PROJECT_ID=b3000000000000000000000000000001
export AGENCY_AUTH="external_id_file = org-ext"
run_case agency-sts agency AssumeAgency
run_case agency-csms agency "${CSMS_APIS[@]}"

echo "leak: $checks checks passed"
