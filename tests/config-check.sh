#!/bin/bash
# config-check.sh - configuration mistakes and credential-file defects, as
# an admin meets them: each is refused with the same message by
# "csms-tagd --check-config" (exit 1) and by the daemon at start (exit 78,
# EX_CONFIG, which the units do not restart), before anything runs.  Also:
# config paths that are not files, lines of any length, the credential
# search path when run by hand, --no-credentials, and that only
# src/config/credentials.c opens credential files.
#
# Run by `make check` with CSMS_TAGD, top_srcdir and top_builddir set.

: "${top_srcdir:?}" "${CSMS_TAGD:?}"
. "$top_srcdir/tests/lib.sh"

creds=$tmpdir/creds
mkdir -m 700 "$creds" || exit 99
export CREDENTIALS_DIRECTORY=$creds
printf 'not-a-real-token\n' >"$creds/token"
chmod 600 "$creds/token"


# Both ways of reading the config must refuse FILE with exactly MESSAGE:
# --check-config prints "csms-tagd: MESSAGE"; the daemon and --once (one
# manager) log "Cannot start: MESSAGE" and exit 78.
expect_refused() {
	local f=$1 message=$2 got
	assert_exit 1 "$CSMS_TAGD" --check-config -c "$f"
	got=$(head -n 1 "$tmpdir/err")
	[ "$got" = "csms-tagd: $message" ] ||
		fail "--check-config -c $f:
got:      $got
expected: csms-tagd: $message"
	[ ! -s "$tmpdir/out" ] || fail "--check-config printed a summary for $f"
	assert_exit 78 "$CSMS_TAGD" -c "$f" --log-target stderr
	checks=$((checks + 1))
	grep -qxF -- "csms-tagd: error: Cannot start: $message" "$tmpdir/err" ||
		fail "daemon start with $f: no 'Cannot start: $message' in: $(cat "$tmpdir/err")"
	assert_exit 78 "$CSMS_TAGD" -c "$f" --once
	checks=$((checks + 1))
	grep -qxF -- "csms-tagd: error: Cannot start: $message" "$tmpdir/err" ||
		fail "--once with $f: no 'Cannot start: $message' in: $(cat "$tmpdir/err")"
}

# --- organisation mode ---------------------------------------------------------

# A target makes it an organisation: [csms] project_id is then per target,
# and one token cannot serve many projects.
printf '[csms]\nproject_id = 5e5a7c1d2b3f4e6a8c9d0e1f2a3b4c5d\n[auth]\nmethod = ecs\n[target "a"]\nregion = cn-north-4\nproject_id = b1\n' >"$tmpdir/org-csms.conf"
expect_refused "$tmpdir/org-csms.conf" "$tmpdir/org-csms.conf:2: project_id is set per target ([target] or [discover]); remove it from [csms]"
printf '[auth]\nmethod = token\ntoken_file = token\n[discover]\nregions = cn-north-4\n' >"$tmpdir/org-token.conf"
expect_refused "$tmpdir/org-token.conf" "$tmpdir/org-token.conf:2: method token cannot be used with [target] or [discover] sections: one token cannot serve many projects; use aksk, ecs or agency"
# With one target a scope would be ignored.
printf '%s\n[secrets "*"]\n/accounts = acme\nowner = *\n' "$prologue" >"$tmpdir/scope-single.conf"
expect_refused "$tmpdir/scope-single.conf" "$tmpdir/scope-single.conf:$((prologue_lines + 2)): /accounts, /regions and /projects scope a section to targets: they need [target] or [discover] sections"
# --check-config lists the targets and what applies to each.
printf '[auth]\nmethod = ecs\n[target "a"]\nregion = cn-north-4\nproject_id = b1\n[target "b"]\naccount_name = acme\nregion = cn-east-3\nproject_id = b2\n[discover]\nregions = cn-north-4\n[secrets "*"]\n/accounts = acme\nowner = *\n' >"$tmpdir/org.conf"
assert_exit 0 "$CSMS_TAGD" --check-config -c "$tmpdir/org.conf"
assert_contains "$tmpdir/out" "    a: project b1 in cn-north-4, the base identity's own account"
assert_contains "$tmpdir/out" "      not touched: no governance section applies"
assert_contains "$tmpdir/out" "      governed by [secrets \"*\"] at $tmpdir/org.conf:12"
assert_contains "$tmpdir/out" "  discover regions:  cn-north-4"

# --- mistakes that would delete tags their author wanted kept -------------------

# NAME, line within BODY, BODY, message after "FILE:LINE: ".
mistake() {
	local name=$1 line=$(($2 + prologue_lines)) body=$3 message=$4 f=$tmpdir/$1.conf
	printf '%s\n%s\n' "$prologue" "$body" >"$f"
	expect_refused "$f" "$f:$line: $message"
}

mistake inline-hash 2 '[secret "payments-db"]
owner = alice # the DBA' \
"'owner = alice # the DBA': '#' starts a comment only at the start of a line, so here it would be \
part of the value; put the comment on a line of its own or after ' ;', and write a '#' that belongs \
to the value as %23"
mistake comma-list 2 '[secret "payments-db"]
env = prod, staging' \
"value 'prod, staging' of 'env' holds a ',': alternatives are separated by '|' (env = prod | staging); \
write a ',' that belongs to the value as %2C"
mistake shadowed-section 3 '[secrets "*"]
owner = *
[secrets "payments-*"]
owner = alice' \
"section [secrets \"payments-*\"] can never apply: [secrets \"*\"] at line $((1 + prologue_lines)) comes \
first and governs every secret it would match; put the more specific section first"
mistake double-star 3 '[secret "payments-db"]
** = !
owner = alice' \
"the rule for 'owner' can never match: the catch-all '**' rule at line $((2 + prologue_lines)) comes \
first and decides every tag"
mistake tiny-rate 2 '[daemon]
max_requests_per_second = 0.0000000001' \
"max_requests_per_second is too low: a pass makes up to 51 requests (1 listing + max_deletes_per_pass), \
which must fit in pass_timeout 10min; write at least 0.09, or 0 for no limit"
mistake colon-key 2 '[secret "a"]
urn:x = 1' \
"expected 'KEY = VALUE'; a ':' in a key is written %3A"

# --- credential files -------------------------------------------------------------

good=$tmpdir/good.conf
printf '%s\n[secret "a"]\nowner = alice\n' "$prologue" >"$good"

# NAME, printf format of the content, mode, message after "token_file PATH".
defect() {
	local name=$1 content=$2 mode=$3 problem=$4
	printf "$content" >"$creds/token"
	chmod "$mode" "$creds/token"
	expect_refused "$good" "token_file $creds/token$problem"
}
defect empty '' 600 ' is empty'
defect newline-only '\n' 600 ' is empty'
defect two-lines 'tok\nmore\n' 600 \
	' holds more than one line; it must hold only the value (one trailing newline is allowed)'
defect two-newlines 'tok\n\n' 600 \
	' holds more than one line; it must hold only the value (one trailing newline is allowed)'
defect crlf 'tok\r\n' 600 \
	' ends with a carriage return (a Windows line end); save it with a plain newline or none'
defect leading-space ' tok\n' 600 ' has whitespace at its start or end, which would be sent as part of the value'
defect trailing-tab 'tok\t\n' 600 ' has whitespace at its start or end, which would be sent as part of the value'
defect bom '\357\273\277tok\n' 600 ' starts with a byte order mark; save it without one'
defect control 'to\033k\n' 600 ' holds a control character'
defect nul 'to\000k\n' 600 ' holds a NUL byte'
defect not-utf8 'tok\377\n' 600 ' is not valid UTF-8'
defect non-ascii 'tök\n' 600 ' holds a non-ASCII character; keys and tokens are ASCII'
defect group-readable 'tok\n' 640 ' is readable by group or others (mode 0640); chmod 600 it'
defect other-writable 'tok\n' 602 ' is accessible by group or others (mode 0602); chmod 600 it'
head -c 65537 /dev/zero | tr '\0' x >"$creds/token"
chmod 600 "$creds/token"
expect_refused "$good" "token_file $creds/token is larger than 64 KiB, too large for a credential"
rm -f "$creds/token"
mkfifo -m 600 "$creds/token"
expect_refused "$good" "token_file $creds/token is a FIFO, not a regular file"
rm -f "$creds/token"
expect_refused "$good" "token_file $creds/token: No such file or directory; bare names are looked up in \
\$CREDENTIALS_DIRECTORY, which systemd fills from the unit's LoadCredential= lines when the service \
starts: list the file there (systemctl edit csms-tagd) and run systemctl restart, not reload (a reload \
does not copy credentials again)"

# Exactly one trailing newline, or none, is fine.
for content in 'tok' 'tok\n'; do
	printf "$content" >"$creds/token"
	chmod 600 "$creds/token"
	assert_exit 0 "$CSMS_TAGD" --check-config -c "$good"
	assert_contains "$tmpdir/out" "configuration is valid"
done

# By hand, without $CREDENTIALS_DIRECTORY: the shipped directory, and how
# to point it elsewhere.
(
	unset CREDENTIALS_DIRECTORY
	assert_exit 1 "$CSMS_TAGD" --check-config -c "$good"
	assert_contains "$tmpdir/err" "/csms-tagd/credentials/token: No such file or directory (bare names are \
looked up in \$CREDENTIALS_DIRECTORY, or in "
	assert_contains "$tmpdir/err" "/csms-tagd/credentials when it is unset; set CREDENTIALS_DIRECTORY=DIR \
to read them from DIR)"
	# What ExecReload= runs needs no credentials at all.
	assert_exit 0 "$CSMS_TAGD" --check-config --no-credentials -c "$good"
	assert_contains "$tmpdir/out" "configuration is valid (credential files not read)"
) || exit 1
checks=$((checks + 5))
assert_exit 1 "$CSMS_TAGD" --no-credentials -c "$good"
assert_contains "$tmpdir/err" "--no-credentials goes with --check-config"

# --- config paths that are not files: refused at once, never blocking ----------------

mkfifo "$tmpdir/fifo"
for path in /dev/zero "$tmpdir/fifo"; do
	assert_exit 1 timeout 10 "$CSMS_TAGD" --check-config -c "$path"
	assert_contains "$tmpdir/err" "$path: is a device, FIFO or socket, not a regular file; --config names the configuration file"
done
assert_exit 1 "$CSMS_TAGD" --check-config -c "$tmpdir"
assert_contains "$tmpdir/err" "$tmpdir: is a directory; --config names the configuration file"
assert_exit 78 timeout 10 "$CSMS_TAGD" -c "$tmpdir/fifo" --log-target stderr

# --- drop-ins: NAME.conf.d/*.conf after NAME.conf ----------------------------------------

main=$tmpdir/main.conf
dropins=$tmpdir/main.conf.d
printf '%s\n[daemon]\ndry_run = yes\n' "$prologue" >"$main"
mkdir "$dropins"
printf '[secret "payments-db"]\nowner = alice\n' >"$dropins/20-payments.conf"
printf '\n[secrets "app-*"]\n* = *\n' >"$dropins/10-apps.conf"
printf '[daemon]\ndry_run = no\n' >"$dropins/30-live.conf"
printf 'not read\n' >"$dropins/.30-live.conf.swp"
printf 'not read\n' >"$dropins/30-live.conf.dpkg-old"
assert_exit 0 "$CSMS_TAGD" --check-config -c "$main"
assert_contains "$tmpdir/out" "  dry run:           no"
assert_contains "$tmpdir/out" "  files:             4 (the main file and 3 drop-ins)"
checks=$((checks + 1))
sed -n '/^  files:/,/^  sections from:/p' "$tmpdir/out" | sed '1d;$d' >"$tmpdir/files"
printf '    %s\n' "$main" "$dropins/10-apps.conf" "$dropins/20-payments.conf" "$dropins/30-live.conf" |
	cmp -s - "$tmpdir/files" || fail "files not listed in lexical order: $(cat "$tmpdir/files")"
assert_contains "$tmpdir/out" "    [secrets \"app-*\"] at $dropins/10-apps.conf:2"
assert_contains "$tmpdir/out" "    [secret \"payments-db\"] at $dropins/20-payments.conf:1"
[ ! -s "$tmpdir/err" ] || fail "warnings for readable drop-ins: $(cat "$tmpdir/err")"
# A governance section in two files is ambiguous: both places are named.
printf '[secret "payments-db"]\nowner = bob\n' >"$dropins/40-again.conf"
expect_refused "$main" "$dropins/40-again.conf:1: duplicate section [secret \"payments-db\"] (first at \
$dropins/20-payments.conf:1); a section is defined in one file only (settings may be set again by a later file)"
rm "$dropins/40-again.conf"
# Errors in a drop-in name it.
printf '[daemon]\ninterval = soon\n' >"$dropins/50-bad.conf"
expect_refused "$main" "$dropins/50-bad.conf:2: interval 'soon' is not a time span (like 30s, 5min, 1h 30min, 250ms)"
rm "$dropins/50-bad.conf"
# The service runs as a dynamic user that reads only what others may: a
# 0600 file passes the parser but not the service, and the check says so.
chmod 600 "$dropins/20-payments.conf"
assert_exit 0 "$CSMS_TAGD" --check-config -c "$main"
assert_contains "$tmpdir/err" "csms-tagd: warning: $dropins/20-payments.conf: mode 0600, owned by "
assert_contains "$tmpdir/err" "the service's dynamic user (DynamicUser=yes) is neither its owner nor in its \
group and cannot read it, so the service would fail to start or reload; it holds no secret: chmod 0644 \
$dropins/20-payments.conf"
chmod 644 "$dropins/20-payments.conf"

# --- lines of any length ---------------------------------------------------------------

long=$tmpdir/long.conf
{
	printf '%s\n[secret "a"]\nowner = ' "$prologue"
	seq -f 'user%06g' 1 20000 | paste -sd'|'
	printf '[secret "b"]\nowner = alice # oops\n'
} >"$long"
[ "$(wc -c <"$long")" -gt 200000 ] || fail "long.conf is too short to test long lines"
expect_refused "$long" "$long:$((prologue_lines + 4)): 'owner = alice # oops': '#' starts a comment only at \
the start of a line, so here it would be part of the value; put the comment on a line of its own or after \
' ;', and write a '#' that belongs to the value as %23"
sed -i '$d' "$long"
assert_exit 0 "$CSMS_TAGD" --check-config -c "$long"

# --- only src/config/credentials.c opens a credential file -----------------------------------------

# Link level: the objects that can open or stat files at all.  A new one
# must be looked at, and added here if it opens no credential file
# (planfile.o: plan files and the config digest; restore-run.o: --from;
# ledger-dir.o: whether the state directory is there; ledger.o: the owner of
# the database's files (SQLite opens them itself); metrics-state.o: reads the state file back (metrics.o writes
# through util.o); config-load.o: the config files; config-settings.o:
# ca_file (its credential files go to credential_read()); config-report.o:
# the modes of the config files (--check-config).
src_objs=${top_builddir:-.}/src
allowed='config-load.o config-report.o config-settings.o credentials.o ledger-dir.o ledger.o log.o metrics-state.o planfile.o restore-run.o util.o'
openers=$(cd "$src_objs" && for o in */*.o; do
	[ "$o" = cli/main.o ] && continue
	nm -u "$o" | awk '{print $2}' |
		grep -qxE '(open|open64|openat|openat64|fopen|fopen64|creat|read_file|read_fd|stat|stat64|lstat|fstat|fstat64|fstatat|fstatat64|access|faccessat)' &&
		basename "$o"
done | sort | tr '\n' ' ')
checks=$((checks + 1))
[ "$openers" = "$allowed " ] || fail "objects that open or stat files: '$openers', expected '$allowed '"
# Source level: in those, no open, read or stat takes a credential field.
checks=$((checks + 1))
if grep -nE '\b(open|openat|fopen|read_file|read_fd|stat|lstat|access)\(' "$top_srcdir"/src/*/*.c |
	grep -v '^[^:]*/credentials\.c:' |
	grep -E 'key_file|token_file|password_file|security_token|token_path|credential'; then
	fail "a credential file is opened outside src/config/credentials.c"
fi
# And every credential read goes through credential_read().
checks=$((checks + 1))
callers=$(grep -lE '\bcredential_read\(' "$top_srcdir"/src/*/*.c | xargs -n1 basename | tr '\n' ' ')
[ "$callers" = "auth.c config-settings.c credentials.c " ] || fail "credential_read() callers: $callers"

echo "config-check.sh: $checks checks passed"
