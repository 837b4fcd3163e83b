#!/bin/bash
# dumpable.sh - csms-tagd makes itself non-dumpable before it reads anything:
# no core dump and no ptrace by other processes of its user can expose a
# credential.  The kernel shows it: /proc/PID/status of a non-dumpable process is
# owned by root, whoever runs it.  Run as an unprivileged user (needs root to
# switch; skips otherwise), blocked on reading a FIFO so it can be looked at.

. "${top_srcdir:?}/tests/lib.sh"
: "${CSMS_TAGD:?}"

[ "$(id -u)" -eq 0 ] || skip "needs root to run csms-tagd as another user"
command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) not installed"
user=nobody
id "$user" >/dev/null 2>&1 || skip "no user $user"

chmod 0755 "$tmpdir"
mkfifo -m 0666 "$tmpdir/observed"
cp "$top_srcdir/tests/data/plan.conf" "$tmpdir/plan.conf"
chmod 0644 "$tmpdir/plan.conf"

# The control: an ordinary process of that user owns its /proc entry.
setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups sleep 30 &
ctl=$!
setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
	"$CSMS_TAGD" -c "$tmpdir/plan.conf" --plan --observed "$tmpdir/observed" \
	>"$tmpdir/out" 2>"$tmpdir/err" &
pid=$!
# Look once it sleeps in open() of the FIFO, long after main() began.
blocked() {
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$CSMS_TAGD")" ] &&
		[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = S ]
}
for _ in $(seq 200); do
	blocked && break
	sleep 0.05
done
blocked || fail "csms-tagd did not block on the FIFO"
ctl_owner=$(stat -c %U "/proc/$ctl/status")
owner=$(stat -c %U "/proc/$pid/status")
kill "$ctl"
echo >"$tmpdir/observed"
wait "$pid"         # it fails on the FIFO's content: only the wait matters
checks=$((checks + 1))
[ "$ctl_owner" = "$user" ] || fail "the control process's /proc entry is owned by $ctl_owner, not $user"
checks=$((checks + 1))
[ "$owner" = root ] || fail "/proc/$pid/status of csms-tagd is owned by $owner: it is dumpable"
echo "dumpable: $checks checks passed (csms-tagd's /proc/PID/status is root's, the control's $ctl_owner's)"
