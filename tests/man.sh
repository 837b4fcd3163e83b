#!/bin/bash
# man.sh - the manual pages are clean and complete.
#
#   - every page in man/ is clean under "mandoc -Tlint", style messages
#     included, except "referenced manual not found": whether other pages
#     are installed on this machine is not the page's fault.  Instead, every
#     .Xr to a csms-tagd page must name a page in man/;
#   - csms-tagd(8) lists every MESSAGE_ID of src/base/log.h and every journal
#     field the sources log (the names in each LOG_FIELDS() of src/*/*.c).
# Skips only when mandoc is missing.

. "${top_srcdir:?}/tests/lib.sh"

command -v mandoc >/dev/null 2>&1 || skip "mandoc not installed"

mandir="$top_srcdir/man"
pages=("$mandir"/*.[1-9])
[ -e "${pages[0]}" ] || fail "no manual pages in $mandir"

for page in "${pages[@]}"; do
	checks=$((checks + 1))
	mandoc -Tlint -W style "$page" >"$tmpdir/lint" 2>&1
	# Messages about the system's man database or its installed pages.
	grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db' \
		"$tmpdir/lint" >"$tmpdir/out"
	if [ -s "$tmpdir/out" ]; then
		fail "mandoc -Tlint: $(basename "$page") is not clean"
	fi

	sed -n 's/^\.Xr \(csms-tagd[^ ]*\) \([1-9]\).*/\1.\2/p' "$page" | sort -u >"$tmpdir/xr"
	while read -r ref; do
		checks=$((checks + 1))
		[ -f "$mandir/$ref" ] || fail "$(basename "$page") refers to $ref, which is not in man/"
	done <"$tmpdir/xr"
	echo "ok: $(basename "$page")"
done

page8="$mandir/csms-tagd.8"
[ -f "$page8" ] || fail "no csms-tagd.8"
sed -n 's/^#define MID_[A-Z_]* *"\([0-9a-f]\{32\}\)".*/\1/p' "$top_srcdir/src/base/log.h" >"$tmpdir/ids"
[ -s "$tmpdir/ids" ] || fail "no MID_ definitions in src/base/log.h"
while read -r id; do
	checks=$((checks + 1))
	grep -q "^\.It $id Ta " "$page8" || fail "csms-tagd.8 does not list MESSAGE_ID $id"
done <"$tmpdir/ids"

# The field names inside every LOG_FIELDS(...) of the sources.
"${PYTHON3:-python3}" - "$top_srcdir"/src/*/*.c >"$tmpdir/fields" <<'PY'
import re, sys
names = set()
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"\bLOG_FIELDS\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        names.update(re.findall(r'\{\s*"([A-Z][A-Z0-9_]*)"\s*,', text[m.end():i]))
print("\n".join(sorted(names)))
PY
[ -s "$tmpdir/fields" ] || fail "no journal fields found in src/*/*.c"
while read -r field; do
	checks=$((checks + 1))
	grep -q "^\.It Va .*\<$field\>" "$page8" || fail "csms-tagd.8 does not document the journal field $field"
done <"$tmpdir/fields"

echo "man: $checks checks passed"
