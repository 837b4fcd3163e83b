#!/bin/bash
# make demo: the main job on an embedded default.  With no cloud account at
# hand, csms-tagd reconciles the bundled CSMS emulator, seeded with example
# secrets and stray tags, using the shipped example policy.  Shows the plan,
# runs one real pass (--once), and shows that a second pass finds nothing.
set -euo pipefail
: "${top_srcdir:?}" "${CSMS_TAGD:?}"
PYTHON3=${PYTHON3:-python3}
. "$top_srcdir/tests/lib.sh"   # examples_of

work=$tmpdir
emu_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

"$PYTHON3" "$top_srcdir/tests/emulator/csms-emulator.py" \
	--seed "$top_srcdir/tests/emulator/seed-example.json" \
	--port 0 --port-file "$work/port" --log-file "$work/emulator.log" &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "demo: the emulator did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$work/port")"

# Credentials as systemd would pass them: files in $CREDENTIALS_DIRECTORY.
mkdir -m 0700 "$work/credentials"
printf 'EXAMPLEAK0000000000\n' > "$work/credentials/csms-ak"
printf 'exampleSecretKey0000000000000000000000\n' > "$work/credentials/csms-sk"
chmod 0600 "$work/credentials"/*
export CREDENTIALS_DIRECTORY="$work/credentials"
# And a state directory, as StateDirectory= would make it: the demo's
# deletion ledger must not be the host's csms-tagd.service's.
mkdir -m 0700 "$work/state"
export STATE_DIRECTORY="$work/state"

# The shipped example policy (its commented examples made active), pointed
# at the emulator.
examples_of "$top_srcdir/etc/csms-tagd.conf" | sed -e "s|^#* *endpoint *=.*|endpoint = $url|" \
    -e "s/^#\(region\|project_id\|method\|access_key_file\|secret_key_file\) = /\1 = /" \
    -e "s|^#* *iam_endpoint *=.*|iam_endpoint = $url|" \
    -e "s|^#* *metadata_endpoint *=.*|metadata_endpoint = $url|" \
    > "$work/csms-tagd.conf"
grep -q "^endpoint = $url" "$work/csms-tagd.conf" ||
	sed -i "s|^\[csms\]|[csms]\nendpoint = $url|" "$work/csms-tagd.conf"

echo "== csms-tagd --check-config"
"$CSMS_TAGD" -c "$work/csms-tagd.conf" --check-config
echo
echo "== csms-tagd --once --dry-run   (what would be deleted)"
"$CSMS_TAGD" -c "$work/csms-tagd.conf" --once --dry-run || [ $? -eq 2 ]
echo
echo "== csms-tagd --once             (a real reconcile pass)"
"$CSMS_TAGD" -c "$work/csms-tagd.conf" --once || [ $? -eq 2 ]
echo
echo "== csms-tagd --once             (again: nothing left to delete)"
"$CSMS_TAGD" -c "$work/csms-tagd.conf" --once
echo
echo "== tags deleted, as the emulator recorded them"
"$PYTHON3" - "$url" <<'PY'
import json, sys, urllib.request
state = json.load(urllib.request.urlopen(sys.argv[1] + "/_emulator/state"))
for d in state["deleted"]:
    print(f"  {d['secret_name']:<16} {d['key']}={d['value']}")
counts = ", ".join(f"{k} {v}" for k, v in sorted(state["counts"].items()) if v)
print(f"  {len(state['deleted'])} tags deleted; requests by API: {counts}")
PY
