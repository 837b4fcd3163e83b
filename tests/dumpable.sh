#!/bin/bash
# dumpable.sh - csms-tagd makes itself non-dumpable before it reads anything:
# no core dump and no ptrace by other processes of its user can expose a
# credential.  The kernel shows it: /proc/PID/status of a non-dumpable process is
# owned by root, whoever runs it.  Run as an unprivileged user (needs root to
# switch; skips otherwise), waiting on a server that never answers so it can be
# looked at.

. "${top_srcdir:?}/tests/lib.sh"
: "${CSMS_TAGD:?}"

[ "$(id -u)" -eq 0 ] || skip "needs root to run csms-tagd as another user"
command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) not installed"
user=nobody
id "$user" >/dev/null 2>&1 || skip "no user $user"

chmod 0755 "$tmpdir"
# A server that takes the connection and never answers: csms-tagd --once,
# after it read its credential, sits waiting for the answer.
python3 -c 'import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
time.sleep(120)' >"$tmpdir/port" &
srv=$!
for _ in $(seq 100); do [ -s "$tmpdir/port" ] && break; sleep 0.05; done
port=$(cat "$tmpdir/port")
[ -n "$port" ] || fail "the silent server did not start"
install -d -m 0700 -o "$user" "$tmpdir/cred"
(umask 077; printf 'dumpable-test-token-0000\n' >"$tmpdir/cred/token")
chown "$user" "$tmpdir/cred/token"
cat >"$tmpdir/once.conf" <<EOF
[csms]
region = cn-north-4
project_id = 0123456789abcdef0123456789abcdef
endpoint = http://127.0.0.1:$port
[auth]
method = token
token_file = token
[daemon]
dry_run = yes
[secret "a"]
owner = alice
EOF
chmod 0644 "$tmpdir/once.conf"

# The control: an ordinary process of that user owns its /proc entry.
setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups sleep 30 &
ctl=$!
CREDENTIALS_DIRECTORY=$tmpdir/cred setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
	"$CSMS_TAGD" -c "$tmpdir/once.conf" --once >"$tmpdir/out" 2>"$tmpdir/err" &
pid=$!
# Look once it sleeps waiting for the answer: long after main() began, and
# after it read the credential.
blocked() {
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$CSMS_TAGD")" ] &&
		[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = S ] &&
		grep -q "Pass 1 started" "$tmpdir/err"
}
for _ in $(seq 200); do
	blocked && break
	sleep 0.05
done
blocked || fail "csms-tagd did not wait for the silent server: $(cat "$tmpdir/err")"
ctl_owner=$(stat -c %U "/proc/$ctl/status")
owner=$(stat -c %U "/proc/$pid/status")
kill "$ctl" "$pid" "$srv"
wait "$pid" || true  # stopped by SIGTERM mid-pass: only the wait matters
checks=$((checks + 1))
[ "$ctl_owner" = "$user" ] || fail "the control process's /proc entry is owned by $ctl_owner, not $user"
checks=$((checks + 1))
[ "$owner" = root ] || fail "/proc/$pid/status of csms-tagd is owned by $owner: it is dumpable"
echo "dumpable: $checks checks passed (csms-tagd's /proc/PID/status is root's, the control's $ctl_owner's)"
