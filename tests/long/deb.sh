#!/bin/bash
# deb.sh - the Debian package, built, checked and installed as an admin would.
#
#   1. "make deb" builds it from the distribution tarball; lintian prints
#      nothing (not even info tags: the one override is justified in
#      debian/csms-tagd.lintian-overrides).
#   2. In a throw-away systemd guest (tests/nspawn/guest.sh), "dpkg -i"
#      installs it: the service is disabled and not running, the config is a
#      conffile, the journal catalog is compiled by systemd's trigger, the
#      bash completion and man pages are in place.
#   3. The shipped config, with a drop-in (csms-tagd.conf.d/50-site.conf)
#      that names the project, points it at the emulator and gives it the
#      emulator's keys: the service starts, the pass governs nothing and
#      deletes nothing, and StatusText says so and what to do next.
#   4. A real config (tests/nspawn/csms-tagd.conf, with metrics_file in
#      /run/csms-tagd): the stray tags are deleted; the metrics file passes
#      promtool check metrics (if installed) and a strict parser
#      (tests/promcheck.py); csms-tagd --status agrees with the journal
#      (pass id, outcome, deleted count); against a server that echoes
#      requests (the emulator's echo fault) the journal and StatusText show
#      the echo but no credential, and the failing API shows in
#      request_errors_total; the state directory exists; core dumps are off
#      (LimitCORE=0, and the kernel shows the process non-dumpable).
#   5. "dpkg --purge" removes the package and its state and leaves the
#      administrator's credentials alone.
# Run under the nspawn lock when run by hand:
#   flock /tmp/csms-nspawn.lock env top_srcdir=. top_builddir=. bash tests/long/deb.sh

. "${top_srcdir:?}/tests/nspawn/guest.sh"
: "${top_builddir:?}"

MID_TAG_DELETED=$(mid TAG_DELETED)
MID_PASS_FINISHED=$(mid PASS_FINISHED)
[ -n "$MID_TAG_DELETED" ] && [ -n "$MID_PASS_FINISHED" ] || fail "message ids are missing from src/base/log.h"
command -v dpkg-buildpackage >/dev/null 2>&1 || skip "dpkg-dev not installed (.ci/install-deps)"
command -v lintian >/dev/null 2>&1 || skip "lintian not installed (.ci/install-deps)"

# --- 1. build and lintian -------------------------------------------------------------

# The unit tests run in make check; the package build need not repeat them.
MAKEFLAGS= DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck make -s -C "$top_builddir" deb >"$tmpdir/build.log" 2>&1 ||
	fail "make deb failed: $(tail -n 30 "$tmpdir/build.log")"
deb=$(ls "$top_builddir"/deb/csms-tagd_*_*.deb)
[ -f "$deb" ] || fail "make deb made no csms-tagd .deb"
version=$(sed -n 's/^AC_INIT(\[csms-tagd\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] ||
	fail "the package is version $(dpkg-deb -f "$deb" Version), configure.ac says $version (debian/changelog)"
lintian -I --pedantic "$top_builddir"/deb/*.changes 2>&1 | grep -v 'running with root privileges' >"$tmpdir/lintian"
[ ! -s "$tmpdir/lintian" ] || fail "lintian: $(cat "$tmpdir/lintian")"
check "make deb: $(basename "$deb"), lintian silent"

# --- 2. install ---------------------------------------------------------------------------

guest_root
cp "$deb" "$ROOT/opt/csms-test/csms-tagd.deb"
guest_boot

g dpkg -i /opt/csms-test/csms-tagd.deb >"$tmpdir/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$tmpdir/dpkg.log")"
[ "$(g systemctl is-enabled csms-tagd.service)" = disabled ] ||
	fail "csms-tagd.service is $(g systemctl is-enabled csms-tagd.service) after install"
prop_is csms-tagd.service ActiveState inactive || fail "the service was started by the install"
g dpkg-query -W -f='${Conffiles}\n' csms-tagd | grep -q '^ /etc/csms-tagd/csms-tagd.conf ' ||
	fail "/etc/csms-tagd/csms-tagd.conf is not a conffile"
g journalctl --list-catalog "$MID_TAG_DELETED" | grep -q 'csms-tagd' ||
	fail "the catalog was not compiled on install"
for f in /usr/share/bash-completion/completions/csms-tagd /usr/share/man/man8/csms-tagd.8.gz \
	/usr/share/man/man5/csms-tagd.conf.5.gz /usr/share/doc/csms-tagd/README.Debian \
	/lib/systemd/system/csms-tagd@.service /lib/systemd/system/csms-tagd.target; do
	# dh_compress gzips documents over 4 kB.
	g test -f "$f" || g test -f "$f.gz" || fail "$f is not installed"
done
check "dpkg -i: unit disabled and inactive, conffile, catalog compiled, docs and completion installed"

# --- 3. the shipped config ------------------------------------------------------------------

install -d -m 0700 "$ROOT/etc/csms-tagd/credentials"
printf '%s\n' "$AK" >"$ROOT/etc/csms-tagd/credentials/csms-ak"
printf '%s\n' "$SK" >"$ROOT/etc/csms-tagd/credentials/csms-sk"
chmod 0600 "$ROOT"/etc/csms-tagd/credentials/*
g test -d /etc/csms-tagd/csms-tagd.conf.d && fail "the package made csms-tagd.conf.d: it is the administrator's"
mkdir -p "$ROOT/etc/csms-tagd/csms-tagd.conf.d"
cp "$NSPAWN_DIR/site.conf" "$ROOT/etc/csms-tagd/csms-tagd.conf.d/50-site.conf"
g systemctl start csms-tagd.service || fail "systemctl start csms-tagd failed"
wait_until 15 "the first pass" prop_matches csms-tagd.service StatusText '^pass 1 ok: '
status=$(prop csms-tagd.service StatusText)
deleted_count_is 0 || fail "the shipped config deleted: $(emulator_deleted)"
journal_count_is 0 csms-tagd.service MESSAGE_ID="$MID_TAG_DELETED" ||
	fail "the shipped config logged deletions"
[[ $status == *"; governs no secret: add [secret \"NAME\"] or [secrets \"GLOB\"] sections in /etc/csms-tagd/csms-tagd.conf.d/*.conf, check them with csms-tagd --plan, then systemctl reload csms-tagd" ]] ||
	fail "StatusText does not say what to do next: $status"
check "shipped config: started, deleted nothing; StatusText: $status"

# --- 4. a real config -----------------------------------------------------------------------

sed 's|^\[daemon\]$|&\nmetrics_file = /run/csms-tagd/csms-tagd.prom|' "$NSPAWN_DIR/csms-tagd.conf" \
	>"$ROOT/etc/csms-tagd/csms-tagd.conf"
chmod 0644 "$ROOT/etc/csms-tagd/csms-tagd.conf"
g systemctl restart csms-tagd.service || fail "systemctl restart csms-tagd failed"
wait_until 15 "the pass with the real config" prop_matches csms-tagd.service StatusText \
	'^pass 1 ok: 3 secrets, 3 tags deleted'
wait_until 5 "three deletions" deleted_count_ge 3
deleted_count_is 3 || fail "deleted: $(emulator_deleted)"
check "real config: 3 stray tags deleted"

# metrics_check: the metrics file, strictly parsed, into $tmpdir/metrics.
metrics_check() {
	g cat /run/csms-tagd/csms-tagd.prom >"$tmpdir/prom" || fail "no /run/csms-tagd/csms-tagd.prom"
	if command -v promtool >/dev/null 2>&1; then
		promtool check metrics <"$tmpdir/prom" >"$tmpdir/promtool" 2>&1 ||
			fail "promtool check metrics: $(cat "$tmpdir/promtool")"
	fi
	"$PY" "$top_srcdir/tests/promcheck.py" "$tmpdir/prom" >"$tmpdir/metrics" ||
		fail "the metrics file is not valid exposition text"
}
metrics_check
grep -qx 'csms_tagd_last_pass_tags{instance="csms-tagd",project="0123456789abcdef0123456789abcdef",region="cn-north-4",result="deleted"} 3' "$tmpdir/metrics" ||
	fail "metrics: $(grep last_pass_tags "$tmpdir/metrics")"
check "metrics file: $(grep -c . "$tmpdir/metrics") series, $(command -v promtool >/dev/null && echo 'promtool and ')strict parser agree it is valid"

# --status (as root: /var/lib/csms-tagd is the dynamic user's state
# directory) against the pass's own journal record.
g csms-tagd --status >"$tmpdir/status" || fail "csms-tagd --status exited $?: $(cat "$tmpdir/status")"
journal csms-tagd.service MESSAGE_ID="$MID_PASS_FINISHED" | tail -n 1 | "$PY" -c '
import json, sys
r = json.loads(sys.stdin.read())
print(r["CSMS_PASS_ID"], r["CSMS_OUTCOME"])' >"$tmpdir/last" || fail "no pass record with CSMS_PASS_ID"
read -r pass_id outcome <"$tmpdir/last"
[[ $pass_id =~ ^[0-9a-f]{32}-1$ ]] || fail "CSMS_PASS_ID $pass_id is not INVOCATION_ID-1"
[ "$pass_id" = "$(prop csms-tagd.service InvocationID)-1" ] || fail "CSMS_PASS_ID $pass_id is not the unit's invocation"
grep -qx "Last pass *: $pass_id" "$tmpdir/status" || fail "--status: $(cat "$tmpdir/status")"
grep -qx "Outcome *: $outcome" "$tmpdir/status" || fail "--status: $(cat "$tmpdir/status")"
grep -qE "^Tags *: 3 planned, 3 deleted, " "$tmpdir/status" || fail "--status: $(cat "$tmpdir/status")"
check "csms-tagd --status agrees with the journal: pass $pass_id $outcome, 3 deleted"

# The journal and StatusText of a pass against a server that echoes the
# request (the AK is in its Authorization header): echoed, but no AK.
timeout 10 nsenter --target "$GUEST" --net -- "$PY" -c '
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()' "http://127.0.0.1:$EMU_PORT/_emulator/faults" \
	'{"rules": [{"kind": "echo", "api": "*", "status": 400}]}' || fail "cannot set the echo fault"
sig csms-tagd.service SIGUSR1
wait_until 15 "the pass against the echoing server" prop_matches csms-tagd.service StatusText '^pass 2 '
journal csms-tagd.service >"$tmpdir/journal"
prop csms-tagd.service StatusText >>"$tmpdir/journal"
grep -q 'you sent' "$tmpdir/journal" || fail "the echo is not in the journal: $(tail -n 3 "$tmpdir/journal")"
if grep -qF -e "$AK" -e "$SK" "$tmpdir/journal"; then
	fail "a credential is in the journal or StatusText: $(grep -F -e "$AK" -e "$SK" "$tmpdir/journal" | head -c 500)"
fi
check "a server echoing the request: the journal and StatusText show the echo, no credential"
metrics_check
grep -q '^csms_tagd_request_errors_total{api="ListResourceInstances",code="CSMS.0002",instance="csms-tagd",[^}]*} [1-9]' "$tmpdir/metrics" ||
	fail "the failing API is not in the metrics: $(grep request_errors "$tmpdir/metrics")"
if grep -qF -e "$AK" -e "$SK" "$tmpdir/prom"; then
	fail "a credential is in the metrics file"
fi
check "the failing API in the metrics: $(grep -c '^csms_tagd_request_errors_total' "$tmpdir/metrics") error series"

pid=$(prop csms-tagd.service MainPID)
uid=$(g awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
owner=$(g stat -c %u "/proc/$pid/status")
[ "$uid" -ge 61184 ] && [ "$owner" = 0 ] ||
	fail "/proc/$pid/status of the daemon (uid $uid) is owned by $owner: it is dumpable"
prop_is csms-tagd.service LimitCORE 0 || fail "LimitCORE=$(prop csms-tagd.service LimitCORE)"
g test -d /var/lib/private/csms-tagd || fail "no StateDirectory /var/lib/private/csms-tagd"
[ "$(g stat -c %U /etc/csms-tagd)" = root ] || fail "/etc/csms-tagd is not root's"
check "no core dumps (LimitCORE=0, not dumpable), StateDirectory made, /etc/csms-tagd stays root's"

# --- 5. purge ---------------------------------------------------------------------------------

g systemctl stop csms-tagd.service || fail "systemctl stop failed"
g dpkg --purge csms-tagd >"$tmpdir/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$tmpdir/dpkg.log")"
for f in /usr/sbin/csms-tagd /lib/systemd/system/csms-tagd.service /etc/csms-tagd/csms-tagd.conf \
	/var/lib/private/csms-tagd /var/lib/csms-tagd; do
	g test ! -e "$f" || fail "$f is left after purge"
done
g test -f /etc/csms-tagd/credentials/csms-ak || fail "purge removed the administrator's credentials"
check "dpkg --purge: package, config and state gone, credentials kept"
echo "deb: $checks checks passed in $(elapsed)"
