#!/bin/bash
# fleet.sh - the package as an admin of many hosts runs it: csms-tagd plus
# two template instances with their policy in conf.d, upgraded by apt and by
# unattended-upgrades, with a reload-rejected config, removed and purged,
# and scraped by monitoring.  In a throw-away systemd guest
# (tests/nspawn/guest.sh), with the Debian 12 systemd of the host.
#
#   1. "make deb" builds version N; N+1, N+2 and N+3 are the same package
#      repacked with a higher version and a changed shipped main file (what
#      a release that touches csms-tagd.conf does to a host).  The guest
#      gets a local apt repository (dpkg-scanpackages, a Release file).
#   2. N installed; csms-tagd (live, interval 3s), csms-tagd@a (dry run) and
#      csms-tagd@b (live, grace 1h: clocks run) enabled, every policy in
#      NAME.conf.d/ drop-ins, the main files as shipped.
#   3. Monitoring: the three metrics files, each valid for promtool, with
#      distinct series (instance, project and region labels) once
#      collected together -- also by node_exporter's textfile collector
#      when prometheus-node-exporter is installed (no scrape error, every
#      series scraped); a's dry run is would_delete, never deleted;
#      --status and --status --instance exit 0 running and tell a non-root
#      user what is needed.
#   4. N+1 with DEBIAN_FRONTEND=noninteractive apt-get install -y, and N+2
#      with a real unattended-upgrade run: no conffile prompt, the shipped
#      main file replaced, the drop-ins kept, every running service
#      restarted on the new binary (a new process whose exe is the
#      installed file), b's grace clocks kept.
#   5. N+3 with a config that "systemctl reload" rejected on disk for b:
#      the upgrade succeeds and says b was not restarted; b's old process
#      keeps running, the others run the new binary; b's metrics say
#      config_load_success 0.
#   6. A stopped instance: its metrics file stays, with csms_tagd_up 0;
#      --status --instance exits 3 and says "not running".  Stopping
#      csms-tagd.target stops all three.
#   7. apt-get remove: every service stopped, no DELETE reaches the
#      emulator afterwards though a tag the live policy deletes appears;
#      purge: no enable link left, credentials and the enabled instances'
#      state kept (and named).
# Run under the nspawn lock when run by hand:
#   flock /tmp/csms-nspawn.lock env top_srcdir=. top_builddir=. bash tests/long/fleet.sh

. "${top_srcdir:?}/tests/nspawn/guest.sh"
: "${top_builddir:?}"

command -v dpkg-buildpackage >/dev/null 2>&1 || skip "dpkg-dev not installed (.ci/install-deps)"
command -v dpkg-scanpackages >/dev/null 2>&1 || skip "dpkg-scanpackages not installed (dpkg-dev)"

# --- 1. packages and a repository -------------------------------------------------------

MAKEFLAGS= DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck make -s -C "$top_builddir" deb >"$tmpdir/build.log" 2>&1 ||
	fail "make deb failed: $(tail -n 30 "$tmpdir/build.log")"
deb=$(ls "$top_builddir"/deb/csms-tagd_*_*.deb)
v0=$(dpkg-deb -f "$deb" Version)

# repack VERSION: the package N as VERSION, its shipped main file changed.
repack() {
	local d="$tmpdir/repack-$1"
	dpkg-deb -R "$deb" "$d" || fail "dpkg-deb -R failed"
	sed -i "s/^Version: .*/Version: $1/" "$d/DEBIAN/control"
	echo "# $1: the release changed this file" >>"$d/etc/csms-tagd/csms-tagd.conf"
	dpkg-deb --root-owner-group -b "$d" "$tmpdir/csms-tagd_$1.deb" >/dev/null || fail "dpkg-deb -b failed"
	rm -rf "$d"
}

# publish DEB: the guest's repository holds DEB (and what it held before).
REPO=$ROOT/opt/csms-test/repo
publish() {
	cp "$1" "$REPO/"
	(cd "$REPO" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null) ||
		fail "dpkg-scanpackages failed"
	{
		printf 'Origin: csms-test\nLabel: csms-test\nSuite: stable\nCodename: csms-test\n'
		printf 'Date: %s\nArchitectures: %s\nSHA256:\n' "$(date -Ru)" "$(dpkg --print-architecture)"
		printf ' %s %s Packages\n' "$(sha256sum <"$REPO/Packages" | cut -d' ' -f1)" "$(stat -c %s "$REPO/Packages")"
	} >"$REPO/Release"
	g apt-get update -qq >"$tmpdir/apt-update" 2>&1 || fail "apt-get update: $(cat "$tmpdir/apt-update")"
}

for v in 1 2 3; do
	repack "$v0+fleet$v"
done
check "packages: $v0 built, $v0+fleet1..3 repacked with a changed csms-tagd.conf"

guest_root
# Maintainer scripts must really start and stop services here.
rm -f "$ROOT/usr/sbin/policy-rc.d"
mkdir -p "$REPO"
rm -f "$ROOT"/etc/apt/sources.list.d/* "$ROOT/etc/apt/sources.list"
echo "deb [trusted=yes] file:/opt/csms-test/repo ./" >"$ROOT/etc/apt/sources.list.d/csms-test.list"
cat >"$ROOT/etc/apt/apt.conf.d/51csms-test" <<'EOF'
Unattended-Upgrade::Origins-Pattern { "origin=csms-test"; };
Unattended-Upgrade::OnlyOnACPower "false";
EOF
guest_boot

# --- 2. version N, three services, policy in drop-ins ------------------------------------

publish "$deb"
g env DEBIAN_FRONTEND=noninteractive apt-get install -y -q csms-tagd </dev/null >"$tmpdir/apt.log" 2>&1 ||
	fail "apt-get install: $(tail -n 20 "$tmpdir/apt.log")"

E=/etc/csms-tagd
# setup NAME DIR: credentials, the main file as shipped, and the drop-ins.
setup() {
	local conf=$1 creds=$2
	install -d -m 0700 "$ROOT$E/credentials" "$ROOT$creds"
	printf '%s\n' "$AK" >"$ROOT$creds/csms-ak"
	printf '%s\n' "$SK" >"$ROOT$creds/csms-sk"
	chmod 0600 "$ROOT$creds"/csms-*
	[ -f "$ROOT$conf" ] || cp "$ROOT$E/csms-tagd.conf" "$ROOT$conf"
	mkdir -p "$ROOT$conf.d"
	cp "$NSPAWN_DIR/site.conf" "$ROOT$conf.d/50-site.conf"
}
setup $E/csms-tagd.conf $E/credentials
cat >"$ROOT$E/csms-tagd.conf.d/60-policy.conf" <<'EOF'
[daemon]
dry_run = no
interval = 3s
metrics_file = /run/csms-tagd/csms-tagd.prom

[secret "payments-db"]
owner = alice|bob
env = prod|staging
cost-center = cc-*
EOF
setup $E/a.conf $E/credentials/a
cat >"$ROOT$E/a.conf.d/60-policy.conf" <<'EOF'
[daemon]
metrics_file = /run/csms-tagd-a/csms-tagd.prom

[secrets "app-*"]
temp-* = !
* = *
EOF
setup $E/b.conf $E/credentials/b
cat >"$ROOT$E/b.conf.d/60-policy.conf" <<'EOF'
[daemon]
dry_run = no
grace = 1h
metrics_file = /run/csms-tagd-b/csms-tagd.prom

[secrets "other-*"]
temp-* = !
* = *
EOF
chmod -R a+rX "$ROOT$E"/*.conf "$ROOT$E"/*.conf.d
chmod 0700 "$ROOT$E/credentials"
UNITS="csms-tagd.service csms-tagd@a.service csms-tagd@b.service"
g systemctl enable --now $UNITS >"$tmpdir/enable" 2>&1 || fail "systemctl enable --now: $(cat "$tmpdir/enable")"
for u in $UNITS; do
	wait_until 20 "$u's first pass" prop_matches "$u" StatusText '^pass [0-9]+ ok: '
done
wait_until 10 "main's two deletions" deleted_count_ge 2
deleted_count_is 2 || fail "deleted: $(emulator_deleted)"
[ "$(g systemctl is-active csms-tagd.target)" = active ] || fail "csms-tagd.target is not active"
[[ $(prop csms-tagd@b.service StatusText) == *"; next at "* ]] || fail "b: $(prop csms-tagd@b.service StatusText)"
[[ $(prop csms-tagd@a.service StatusText) == *"systemctl reload csms-tagd@a" ]] ||
	fail "a's advice does not name its unit: $(prop csms-tagd@a.service StatusText)"
# b's grace clocks, as its ledger holds them (SQLite, read by Python's module).
clocks() {
	g "$PY" -c '
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for d, t in db.execute("SELECT hex(digest), first_seen_usec FROM grace_clocks ORDER BY digest"):
    print(d, t)' /var/lib/private/csms-tagd-b/ledger.db
}
clocks >"$tmpdir/clocks" && [ -s "$tmpdir/clocks" ] || fail "b keeps no grace clocks"
check "$v0 installed; csms-tagd, @a (dry run), @b (grace 1h) run with policy drop-ins; a's advice names csms-tagd@a"

# --- 3. monitoring ---------------------------------------------------------------------------

# collect: the three files as node_exporter's textfile collector would
# read them; each valid, and no series twice among them.
collect() {
	local f n=0
	: >"$tmpdir/series"
	for f in /run/csms-tagd/csms-tagd.prom /run/csms-tagd-a/csms-tagd.prom /run/csms-tagd-b/csms-tagd.prom; do
		n=$((n + 1))
		g cat "$f" >"$tmpdir/prom$n" || fail "no $f"
		if command -v promtool >/dev/null 2>&1; then
			promtool check metrics <"$tmpdir/prom$n" >"$tmpdir/promtool" 2>&1 ||
				fail "promtool check metrics $f: $(cat "$tmpdir/promtool")"
		fi
		"$PY" "$top_srcdir/tests/promcheck.py" "$tmpdir/prom$n" >"$tmpdir/samples$n" || fail "$f is not valid"
		sed 's/ [^ ]*$//' "$tmpdir/samples$n" >>"$tmpdir/series"
	done
	[ -z "$(sort "$tmpdir/series" | uniq -d)" ] ||
		fail "series collide: $(sort "$tmpdir/series" | uniq -d | head -n 3)"
}
collect
grep -q '^csms_tagd_last_pass_tags{instance="csms-tagd@a",project="0123456789abcdef0123456789abcdef",region="cn-north-4",result="would_delete"} 1$' "$tmpdir/samples2" ||
	fail "a's dry run: $(grep last_pass_tags "$tmpdir/samples2")"
grep -q 'result="deleted"} 0$' "$tmpdir/samples2" || fail "a's dry run counted as deleted"
! grep -q '^csms_tagd_tags_deleted_total' "$tmpdir/samples2" || fail "a's dry run in tags_deleted_total"
grep -q '^csms_tagd_tags_deleted_total{instance="csms-tagd",.*rule="\[secret \\"payments-db\\"\] env"} 1$' "$tmpdir/samples1" ||
	fail "main's rule labels: $(grep tags_deleted_total "$tmpdir/samples1")"
grep -q '^csms_tagd_up{instance="csms-tagd@b",[^}]*} 1$' "$tmpdir/samples3" || fail "b is not up"
check "metrics: 3 files valid, $(wc -l <"$tmpdir/series") series all distinct; a's dry run would_delete 1, deleted 0"

# node_exporter's textfile collector itself, when installed (Debian package
# prometheus-node-exporter; optional): the three files linked into its
# directory, every series scraped, no scrape error.
NE=
if g test -x /usr/bin/prometheus-node-exporter; then
	NE=/var/lib/csms-test-textfile
	g mkdir -p $NE
	g ln -s /run/csms-tagd/csms-tagd.prom $NE/csms-tagd.prom
	g ln -s /run/csms-tagd-a/csms-tagd.prom $NE/csms-tagd-a.prom
	g ln -s /run/csms-tagd-b/csms-tagd.prom $NE/csms-tagd-b.prom
	g systemd-run --quiet --unit=csms-test-node-exporter /usr/bin/prometheus-node-exporter \
		--collector.disable-defaults --collector.textfile --collector.textfile.directory=$NE \
		--web.listen-address=127.0.0.1:9100 || fail "cannot start node_exporter"
fi
scrape() {
	timeout 10 nsenter --target "$GUEST" --net -- "$PY" -c '
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:9100/metrics", timeout=5).read().decode())' \
		>"$tmpdir/scraped" 2>/dev/null && grep -q '^node_textfile_scrape_error ' "$tmpdir/scraped"
}
if [ -n "$NE" ]; then
	wait_until 10 "node_exporter" scrape
	grep -qx 'node_textfile_scrape_error 0' "$tmpdir/scraped" ||
		fail "node_exporter: $(grep scrape_error "$tmpdir/scraped")"
	scraped=$(grep -c '^csms_tagd_' "$tmpdir/scraped")
	[ "$scraped" = "$(wc -l <"$tmpdir/series")" ] ||
		fail "node_exporter scraped $scraped csms_tagd_ series of $(wc -l <"$tmpdir/series")"
	check "node_exporter's textfile collector: all $scraped series scraped, node_textfile_scrape_error 0"
else
	echo "note: prometheus-node-exporter not installed: its textfile collector is not checked"
fi

g csms-tagd --status >"$tmpdir/status" || fail "--status exited $?: $(cat "$tmpdir/status")"
grep -q '^State *: running (pid ' "$tmpdir/status" || fail "--status: $(head -n 2 "$tmpdir/status")"
g csms-tagd --status --instance b >"$tmpdir/status" || fail "--status --instance b exited $?"
grep -q '^Instance *: csms-tagd@b, project ' "$tmpdir/status" || fail "--status --instance b: $(head -n 3 "$tmpdir/status")"
rc=0
g setpriv --reuid=65534 --regid=65534 --clear-groups csms-tagd --status --instance b >/dev/null 2>"$tmpdir/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'run sudo csms-tagd --status --instance b' "$tmpdir/err" ||
	fail "--status as nobody: exit $rc, $(cat "$tmpdir/err")"
check "--status: 0 and running, --instance b finds b, a non-root user is told to use sudo"

# --- 4. upgrades: apt-get, then unattended-upgrade ---------------------------------------------

# running_new UNIT OLD_PID: UNIT runs, as a new process, the installed binary.
running_new() {
	local pid exe
	pid=$(prop "$1" MainPID)
	[ "$pid" != 0 ] && [ "$pid" != "$2" ] || return 1
	exe=$(g readlink "/proc/$pid/exe")
	[ "$exe" = /usr/sbin/csms-tagd ] &&
		[ "$(g stat -L -c %i "/proc/$pid/exe")" = "$(g stat -c %i /usr/sbin/csms-tagd)" ]
}

pids() {
	for u in $UNITS; do prop "$u" MainPID; done
}

upgraded_checks() {
	local version=$1 how=$2 i=0
	[ "$(g dpkg-query -W -f='${Version} ${db:Status-Abbrev}' csms-tagd)" = "$version ii " ] ||
		fail "$how: csms-tagd is $(g dpkg-query -W -f='${Version} ${db:Status-Abbrev}' csms-tagd)"
	grep -qi 'conffile\|configuration file' "$tmpdir/upgrade.log" &&
		fail "$how: a conffile question: $(grep -i 'conffile\|configuration file' "$tmpdir/upgrade.log")"
	g grep -q "^# $version: the release changed this file" $E/csms-tagd.conf ||
		fail "$how: the shipped main file was not replaced"
	g test -f $E/csms-tagd.conf.d/60-policy.conf -a -f $E/b.conf.d/60-policy.conf ||
		fail "$how: a drop-in is gone"
	for u in $UNITS; do
		i=$((i + 1))
		wait_until 20 "$u on the new binary" running_new "$u" "$(echo "$old" | sed -n "${i}p")"
	done
	clocks | cmp -s - "$tmpdir/clocks" ||
		fail "$how: b's grace clocks changed"
}

old=$(pids)
publish "$tmpdir/csms-tagd_$v0+fleet1.deb"
g env DEBIAN_FRONTEND=noninteractive apt-get install -y -q csms-tagd </dev/null >"$tmpdir/upgrade.log" 2>&1 ||
	fail "apt-get install (upgrade): $(tail -n 20 "$tmpdir/upgrade.log")"
upgraded_checks "$v0+fleet1" "apt-get"
check "apt-get upgrade to $v0+fleet1: no prompt, main file replaced, drop-ins kept, all 3 restarted on the new binary, grace clocks kept"

if g test -x /usr/bin/unattended-upgrade; then
	old=$(pids)
	publish "$tmpdir/csms-tagd_$v0+fleet2.deb"
	g unattended-upgrade -v >"$tmpdir/upgrade.log" 2>&1 || fail "unattended-upgrade: $(tail -n 20 "$tmpdir/upgrade.log")"
	g grep -q "csms-tagd" /var/log/unattended-upgrades/unattended-upgrades.log ||
		fail "unattended-upgrade did not consider csms-tagd: $(tail -n 20 "$tmpdir/upgrade.log")"
	upgraded_checks "$v0+fleet2" "unattended-upgrade"
	check "unattended-upgrade to $v0+fleet2: upgraded, all 3 restarted on the new binary, grace clocks kept"
else
	echo "note: unattended-upgrades not installed (.ci/install-test-deps): its run is not checked"
fi

# --- 5. an upgrade with a config that a reload rejected ------------------------------------------

printf '[daemon]\ninterval = soon\n' >"$ROOT$E/b.conf.d/70-broken.conf"
chmod 0644 "$ROOT$E/b.conf.d/70-broken.conf"
g systemctl reload csms-tagd@b.service 2>/dev/null && fail "systemctl reload accepted a broken config"
wait_until 10 "b's metrics to show the rejection" \
	g grep -q '^csms_tagd_config_load_success{[^}]*} 0$' /run/csms-tagd-b/csms-tagd.prom
old=$(pids)
b_pid=$(prop csms-tagd@b.service MainPID)
cp "$tmpdir/csms-tagd_$v0+fleet3.deb" "$ROOT/opt/csms-test/"
g env DEBIAN_FRONTEND=noninteractive dpkg -i "/opt/csms-test/csms-tagd_$v0+fleet3.deb" \
	>"$tmpdir/upgrade.log" 2>&1 </dev/null || fail "dpkg -i failed: $(tail -n 20 "$tmpdir/upgrade.log")"
grep -q 'WARNING: csms-tagd@b.service NOT restarted: /etc/csms-tagd/b.conf fails the check' "$tmpdir/upgrade.log" ||
	fail "the upgrade did not say b was kept: $(tail -n 10 "$tmpdir/upgrade.log")"
prop_is csms-tagd@b.service ActiveState active || fail "b is $(prop csms-tagd@b.service ActiveState)"
prop_is csms-tagd@b.service MainPID "$b_pid" || fail "b was restarted with a broken config"
[[ $(g readlink "/proc/$b_pid/exe") == *" (deleted)" ]] || fail "b does not run the old binary"
wait_until 20 "main on the new binary" running_new csms-tagd.service "$(echo "$old" | sed -n 1p)"
wait_until 20 "a on the new binary" running_new csms-tagd@a.service "$(echo "$old" | sed -n 2p)"
g journalctl -q --no-pager -t csms-tagd -p warning | grep -q 'csms-tagd@b.service NOT restarted' ||
	fail "the warning is not in the journal"
rm -f "$ROOT$E/b.conf.d/70-broken.conf"
g systemctl restart csms-tagd@b.service || fail "b does not restart with its config fixed"
check "upgrade with b's config rejected: dpkg succeeds and warns (stderr, journal), b's old process runs on, main and a restarted"

# --- 6. a stopped instance --------------------------------------------------------------------------

g systemctl stop csms-tagd@a.service
g grep -q '^csms_tagd_up{instance="csms-tagd@a",[^}]*} 0$' /run/csms-tagd-a/csms-tagd.prom ||
	fail "a's metrics after the stop: $(g grep csms_tagd_up /run/csms-tagd-a/csms-tagd.prom)"
rc=0
g csms-tagd --status --instance a >"$tmpdir/status" || rc=$?
[ "$rc" = 3 ] && grep -q '^State *: not running ' "$tmpdir/status" ||
	fail "--status --instance a after the stop: exit $rc, $(head -n 1 "$tmpdir/status")"
collect
if [ -n "$NE" ]; then
	scrape || fail "node_exporter does not answer"
	grep -qx 'node_textfile_scrape_error 0' "$tmpdir/scraped" ||
		fail "node_exporter after a stop: $(grep scrape_error "$tmpdir/scraped")"
	grep -q '^csms_tagd_up{instance="csms-tagd@a",[^}]*} 0$' "$tmpdir/scraped" ||
		fail "node_exporter does not show a as down: $(grep '^csms_tagd_up' "$tmpdir/scraped")"
fi
check "stopped @a: metrics file kept with csms_tagd_up 0 (no dangling link${NE:+, no scrape error}), --status exits 3, not running"

# The target: stopping it stops every service of the host.
g systemctl start csms-tagd@a.service
g systemctl stop csms-tagd.target || fail "systemctl stop csms-tagd.target failed"
for u in $UNITS; do
	[ "$(g systemctl is-active "$u")" != active ] || fail "$u still runs after stopping csms-tagd.target"
done
g systemctl start $UNITS || fail "cannot start the services again"
check "systemctl stop csms-tagd.target stops all three"

# --- 7. remove and purge --------------------------------------------------------------------------

g env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q csms-tagd </dev/null >"$tmpdir/apt.log" 2>&1 ||
	fail "apt-get remove: $(tail -n 20 "$tmpdir/apt.log")"
for u in $UNITS; do
	[ "$(g systemctl is-active "$u")" != active ] || fail "$u still runs after remove"
done
! g pgrep -x csms-tagd >/dev/null || fail "a csms-tagd process survived the remove"
before=$(emulator_deleted | grep -c .)
timeout 10 nsenter --target "$GUEST" --net -- "$PY" -c '
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()' "http://127.0.0.1:$EMU_PORT/_emulator/tags" \
	'{"secret": "payments-db", "set": {"stray-after-remove": "1"}}' || fail "cannot add a tag"
sleep 7     # two of main's intervals
deleted_count_is "$before" || fail "a DELETE reached the emulator after remove: $(emulator_deleted)"
check "apt-get remove: all services stopped, no DELETE afterwards"

g env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q csms-tagd </dev/null >"$tmpdir/apt.log" 2>&1 ||
	fail "apt-get purge: $(tail -n 20 "$tmpdir/apt.log")"
links=$(g find /etc/systemd/system -name 'csms-tagd*')
[ -z "$links" ] || fail "left after purge: $links"
for f in $E/credentials/csms-ak $E/credentials/a/csms-sk $E/credentials/b/csms-ak; do
	g test -f "$f" || fail "purge removed $f"
done
g test -f /var/lib/private/csms-tagd-b/ledger.db || fail "purge removed the state of enabled b"
grep -q 'keeping /var/lib/private/csms-tagd-b: csms-tagd@b.service is running or enabled' "$tmpdir/apt.log" ||
	fail "purge did not say what it kept: $(tail -n 10 "$tmpdir/apt.log")"
check "purge: no enable link left, credentials kept, the enabled instances' state kept and named"
echo "fleet: $checks checks passed in $(elapsed)"
