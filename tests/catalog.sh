#!/bin/bash
# catalog.sh - systemd/csms-tagd.catalog parses and covers every MESSAGE_ID.
#
# journalctl compiles the catalog into a scratch root (--update-catalog),
# which must succeed silently; the compiled database must then list exactly
# the message ids of src/base/log.h, each with a Subject, Defined-By: csms-tagd
# and a Documentation line.  An id line journalctl does not recognise would
# silently become body text of the entry before it, so the number of "-- "
# lines is checked too, and every @FIELD@ substitution must name a field
# csms-tagd logs.  Skips only when journalctl is missing.

. "${top_srcdir:?}/tests/lib.sh"

command -v journalctl >/dev/null 2>&1 || skip "journalctl not installed"

catalog="$top_srcdir/systemd/csms-tagd.catalog"
root="$tmpdir/root"
mkdir -p "$root/usr/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/" || fail "cannot copy $catalog"

checks=$((checks + 1))
run journalctl --root="$root" --update-catalog
[ "$rc" -eq 0 ] && [ ! -s "$tmpdir/out" ] && [ ! -s "$tmpdir/err" ] ||
	fail "journalctl --update-catalog rejects the catalog (exit $rc)"

sed -n 's/^#define MID_[A-Z_]* *"\([0-9a-f]\{32\}\)".*/\1/p' "$top_srcdir/src/base/log.h" |
	sort >"$tmpdir/ids.h"
[ -s "$tmpdir/ids.h" ] || fail "no MID_ definitions found in src/base/log.h"

checks=$((checks + 1))
journalctl --root="$root" --list-catalog >"$tmpdir/list" 2>&1 ||
	fail "journalctl --list-catalog failed: $(cat "$tmpdir/list")"
awk '{ print $1 }' "$tmpdir/list" | sort >"$tmpdir/ids.catalog"
if ! diff -u "$tmpdir/ids.h" "$tmpdir/ids.catalog" >"$tmpdir/out"; then
	fail "catalog ids differ from src/base/log.h (- log.h, + catalog)"
fi

checks=$((checks + 1))
entries=$(grep -c '^-- ' "$catalog")
[ "$entries" -eq "$(wc -l <"$tmpdir/ids.h")" ] ||
	fail "$entries '-- ' lines in the catalog, but $(wc -l <"$tmpdir/ids.h") ids compiled"

while read -r id; do
	checks=$((checks + 1))
	journalctl --root="$root" --dump-catalog "$id" >"$tmpdir/entry" 2>&1 ||
		fail "cannot dump catalog entry $id"
	grep -q '^Subject: .' "$tmpdir/entry" || fail "entry $id has no Subject"
	grep -qx 'Defined-By: csms-tagd' "$tmpdir/entry" || fail "entry $id has no Defined-By: csms-tagd"
	grep -q '^Documentation: man:csms-tagd(8)' "$tmpdir/entry" ||
		fail "entry $id does not point at man:csms-tagd(8)"
	[ "$(sed -n '/^$/,$p' "$tmpdir/entry" | grep -c .)" -ge 2 ] ||
		fail "entry $id has no explanation"
done <"$tmpdir/ids.h"

# Fields journalctl -x may substitute: those csms-tagd(8) documents.
checks=$((checks + 1))
grep -o '@[A-Z_]*@' "$catalog" | sort -u | tr -d @ >"$tmpdir/fields"
while read -r field; do
	case $field in
	CSMS_SECRET_ID | CSMS_SECRET_NAME | CSMS_TAG_KEY | CSMS_TAG_VALUE | CSMS_RULE | \
		CSMS_REQUEST_ID | HTTP_STATUS | CSMS_ERROR_CODE | CSMS_PASS_ID | DRY_RUN | CSMS_REASON | \
		CSMS_OUTCOME | CSMS_PLANNED | CSMS_LIMIT | CSMS_CONFIG | CSMS_CONFIG_ERROR | \
		CSMS_EXEMPTION | CSMS_EXEMPTION_NAME | CSMS_EXEMPTION_REASON | CSMS_EXEMPTION_EXPIRES | \
		CSMS_GRACE | CSMS_FIRST_SEEN | CSMS_DUE | CSMS_REQUIRED_MISSING | CSMS_REQUIRED_INVALID | \
		CSMS_TARGET | CSMS_ACCOUNT | CSMS_REGION | CSMS_PROJECT) ;;
	*) fail "catalog substitutes unknown field @$field@" ;;
	esac
done <"$tmpdir/fields"

echo "catalog: $(wc -l <"$tmpdir/ids.h") entries, $checks checks passed"
