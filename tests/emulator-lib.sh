# emulator-lib.sh - shell helpers for tests that run csms-tagd against the
# CSMS emulator.  Source it; it sets a trap that stops the emulator and
# removes the work directory.
: "${top_srcdir:?}" "${CSMS_TAGD:?}"
PYTHON3=${PYTHON3:-python3}
EMULATOR="$top_srcdir/tests/emulator/csms-emulator.py"
AK=EXAMPLEAK0000000000
SK=exampleSecretKey0000000000000000000000

WORK=$(mktemp -d /tmp/csms-tagd-test.XXXXXX)
EMU_PID=
_emu_cleanup() {
	if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null; fi
	rm -rf "$WORK"
}
trap _emu_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# emu_start [emulator options...]: start it on a free port; sets EMU_URL.
emu_start() {
	local scheme=http
	if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null; fi
	rm -f "$WORK/port"
	case " $* " in *" --tls-cert "*) scheme=https ;; esac
	"$PYTHON3" "$EMULATOR" --port 0 --port-file "$WORK/port" --log-file "$WORK/emulator.log" "$@" &
	EMU_PID=$!
	for _ in $(seq 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
	[ -s "$WORK/port" ] || fail "emulator did not start"
	EMU_URL="$scheme://127.0.0.1:$(cat "$WORK/port")"
	EMU_CONTROL="$EMU_URL"
}

# emu_get PATH / emu_post PATH JSON: the emulator's control API.
emu_get() {
	"$PYTHON3" - "$EMU_CONTROL$1" <<'PY'
import ssl, sys, urllib.request
ctx = ssl._create_unverified_context()  # the test harness talking to its own emulator
sys.stdout.write(urllib.request.urlopen(sys.argv[1], context=ctx).read().decode())
PY
}
emu_post() {
	"$PYTHON3" - "$EMU_CONTROL$1" "$2" <<'PY'
import ssl, sys, urllib.request
ctx = ssl._create_unverified_context()  # the test harness talking to its own emulator
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                             headers={"Content-Type": "application/json"})
sys.stdout.write(urllib.request.urlopen(req, context=ctx).read().decode())
PY
}

# emu_observed FILE: the emulator's current state as a ListResourceInstances
# answer, the input of `csms-tagd --plan --observed`.
emu_observed() {
	emu_get /_emulator/state | "$PYTHON3" -c '
import json, sys
st = json.load(sys.stdin)
res = [{"resource_id": s["id"], "resource_name": s["name"],
        "resource_detail": {"id": s["id"], "name": s["name"], "state": s.get("state", "ENABLED")},
        "tags": [{"key": k, "value": v} for k, v in s.get("tags", {}).items()],
        "sys_tags": [{"key": k, "value": v} for k, v in s.get("sys_tags", {}).items()]}
       for s in st["secrets"]]
json.dump({"resources": res, "total_count": len(res)}, sys.stdout)' > "$1"
}

# emu_deleted: "secret<TAB>key<TAB>value" lines of what the emulator deleted, sorted.
emu_deleted() {
	emu_get /_emulator/state | "$PYTHON3" -c '
import json, sys
for d in json.load(sys.stdin)["deleted"]:
    print("\t".join((d["secret_name"], d["key"], d["value"])))' | LC_ALL=C sort
}

# plan_expected CONF OBSERVED: the same lines for what --plan says should go.
plan_expected() {
	"$CSMS_TAGD" -c "$1" --plan --json --observed "$2" | "$PYTHON3" -c '
import json, sys
for d in json.load(sys.stdin)["deletions"]:
    print("\t".join((d["secret_name"], d["key"], d["value"])))' | LC_ALL=C sort
}

# write_creds: credential files in $WORK/credentials (0600), as systemd's
# LoadCredential= would provide them.
write_creds() {
	mkdir -p -m 0700 "$WORK/credentials"
	printf '%s\n' "$AK" > "$WORK/credentials/csms-ak"
	printf '%s\n' "$SK" > "$WORK/credentials/csms-sk"
	printf 'demo-pass\n' > "$WORK/credentials/csms-password"
	chmod 0600 "$WORK/credentials"/*
	export CREDENTIALS_DIRECTORY="$WORK/credentials"
}

# write_org_creds: org-ak and org-sk, the keys of tests/data/org-seed.json's
# management account (ORG_AK, ORG_SK), beside write_creds' files.
ORG_SEED="$top_srcdir/tests/data/org-seed.json"
ORG_AK=MGMTAK00000000000000
ORG_SK=mgmtSecretKey000000000000000000000000000
write_org_creds() {
	[ -n "${CREDENTIALS_DIRECTORY:-}" ] || write_creds
	printf '%s\n' "$ORG_AK" > "$CREDENTIALS_DIRECTORY/org-ak"
	printf '%s\n' "$ORG_SK" > "$CREDENTIALS_DIRECTORY/org-sk"
	chmod 0600 "$CREDENTIALS_DIRECTORY"/org-*
}

# write_config FILE [AUTH_METHOD [EXTRA_DAEMON_LINES]]: the example policy
# pointed at the emulator.
write_config() {
	local file=$1 method=${2:-aksk} extra=${3:-} auth=
	case $method in
	aksk) auth=$'access_key_file = csms-ak\nsecret_key_file = csms-sk' ;;
	password) auth=$'user = demo\ndomain = demo-domain\npassword_file = csms-password' ;;
	token) auth='token_file = csms-token' ;;
	# tests/data/org-seed.json: the management account's keys
	# (write_org_creds) assume AGENCY_ACCOUNT's agency tag-keeper; more
	# [auth] lines in AGENCY_AUTH, the governed project in PROJECT_ID.
	agency) auth=$'access_key_file = org-ak\nsecret_key_file = org-sk\nagency_name = tag-keeper'
		auth+=$'\nagency_account_id = '"${AGENCY_ACCOUNT:-a0000000000000000000000000000002}"
		[ -n "${AGENCY_AUTH:-}" ] && auth+=$'\n'"$AGENCY_AUTH" ;;
	esac
	{
		echo "[csms]"
		echo "region = cn-north-4"
		echo "project_id = ${PROJECT_ID:-0123456789abcdef0123456789abcdef}"
		echo "endpoint = $EMU_URL"
		echo "iam_endpoint = $EMU_URL"
		echo "metadata_endpoint = $EMU_URL"
		echo "sts_endpoint = $EMU_URL"
		echo "organizations_endpoint = $EMU_URL"
		[ -n "${EMU_CA:-}" ] && echo "ca_file = $EMU_CA"
		echo
		echo "[auth]"
		echo "method = $method"
		[ -n "$auth" ] && echo "$auth"
		echo
		echo "[daemon]"
		echo "interval = 2s"
		echo "jitter = 0s"
		echo "request_timeout = 5s"
		echo "max_parallel_requests = 8"
		echo "max_requests_per_second = 0"
		echo "max_deletes_per_pass = 100"
		# Each test its own ledger (and grace clocks), never the system's.
		case $extra in *state_directory*) ;; *) echo "state_directory = $(cd "$(dirname "$file")" && pwd)" ;; esac
		[ -n "$extra" ] && echo "$extra"
		echo
		cat "$top_srcdir/tests/data/policy-example.ini"
	} > "$file"
}

# notify_listen SOCK LOG: tests/notify-listener.py plays systemd's
# notification socket at SOCK, one line per datagram in LOG; sets
# LISTENER_PID (the caller stops it).
notify_listen() {
	"$PYTHON3" "$top_srcdir/tests/notify-listener.py" "$1" "$2" &
	LISTENER_PID=$!
	touch "$2"
	for _ in $(seq 100); do [ -S "$1" ] && break; sleep 0.05; done
	[ -S "$1" ] || fail "notify listener did not start"
}
