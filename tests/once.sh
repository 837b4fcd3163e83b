#!/bin/bash
# csms-tagd --once against the emulator: every auth method, both observation
# modes, HTTP and HTTPS.  The oracle for "what must be deleted" is --plan
# (unit-tested on its own) over the emulator's state before the pass; the
# truth for "what was deleted" is the emulator's own record.
set -uo pipefail
. "$top_srcdir/tests/emulator-lib.sh"
SEED="$top_srcdir/tests/emulator/seed-example.json"
write_creds

ecs_secret() {
	"$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["credentials"]["ecs"][sys.argv[2]])' "$SEED" "$1"
}

# run_case NAME METHOD OBSERVE [emulator options...]
run_case() {
	local name=$1 method=$2 observe=$3; shift 3
	local conf="$WORK/$name.conf" rc
	echo "--- $name"
	emu_start --seed "$SEED" "$@"
	write_config "$conf" "$method" "observe = $observe"
	emu_observed "$WORK/before.json"
	plan_expected "$conf" "$WORK/before.json" > "$WORK/expected"
	[ -s "$WORK/expected" ] || fail "$name: the seed has nothing to delete"

	"$CSMS_TAGD" -c "$conf" --once --dry-run > "$WORK/out" 2>&1; rc=$?
	[ $rc -eq 2 ] || { cat "$WORK/out"; fail "$name: dry run exit $rc, want 2"; }
	[ -z "$(emu_deleted)" ] || fail "$name: dry run deleted something"

	"$CSMS_TAGD" -c "$conf" --once > "$WORK/out" 2>&1; rc=$?
	[ $rc -eq 2 ] || { cat "$WORK/out"; fail "$name: exit $rc, want 2"; }
	emu_deleted > "$WORK/deleted"
	diff -u "$WORK/expected" "$WORK/deleted" || fail "$name: deleted set differs from the plan"
	grep -q "deleted" "$WORK/out" || fail "$name: output does not say what was deleted"

	"$CSMS_TAGD" -c "$conf" --once > "$WORK/out" 2>&1; rc=$?
	[ $rc -eq 0 ] || { cat "$WORK/out"; fail "$name: second pass exit $rc, want 0 (converged)"; }
	# No credential in csms-tagd's output or in what the emulator logged of
	# the requests (the ECS keys are the emulator's temporary ones).
	if grep -rqF -e "$SK" -e "demo-pass" -e "static-token-text" \
		-e "$(ecs_secret sk)" -e "$(ecs_secret security_token)" "$WORK/out" "$WORK/emulator.log"; then
		fail "$name: a credential appears in the output or logs"
	fi
}

run_case aksk-ri aksk resource_instances
run_case aksk-list aksk list_secrets
run_case aksk-auto aksk auto
run_case password password auto
run_case ecs ecs auto

printf 'static-token-text\n' > "$WORK/credentials/csms-token"
chmod 0600 "$WORK/credentials/csms-token"
run_case token token auto

# HTTPS with a private CA, and both failure modes of TLS.
"$top_srcdir/tests/emulator/make-certs.sh" "$WORK/certs" >/dev/null || fail "make-certs.sh"
EMU_CA="$WORK/certs/ca.pem"
TLS="--tls-cert $WORK/certs/server.pem --tls-key $WORK/certs/server-key.pem"
run_case https-aksk-ri aksk resource_instances $TLS
run_case https-aksk-list aksk list_secrets $TLS
run_case https-password password auto $TLS
run_case https-token token auto $TLS
run_case https-ecs ecs list_secrets $TLS

echo "--- TLS fails closed"
for cert in self-signed wrong-host; do
	emu_start --seed "$SEED" --tls-cert "$WORK/certs/$cert.pem" --tls-key "$WORK/certs/$cert-key.pem"
	write_config "$WORK/tls.conf" aksk
	"$CSMS_TAGD" -c "$WORK/tls.conf" --once > "$WORK/out" 2>&1; rc=$?
	[ $rc -eq 1 ] || { cat "$WORK/out"; fail "TLS $cert: exit $rc, want 1"; }
	grep -qi -e certificate -e SSL "$WORK/out" || { cat "$WORK/out"; fail "TLS $cert: no clear error"; }
	[ -z "$(emu_deleted)" ] || fail "TLS $cert: something was deleted"
done
unset EMU_CA
echo "PASS"
