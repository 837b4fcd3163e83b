#!/bin/bash
# install.sh - "make install" and "make uninstall" as an operator runs them
# (into a DESTDIR): the config lands in sysconfdir/csms-tagd, an edited one
# is never overwritten (the new one goes to csms-tagd.conf.dist) nor
# uninstalled, an untouched one is; the bash completion is installed and
# completes the options.
#
# Run by `make check` with top_srcdir and top_builddir set.

. "${top_srcdir:?}/tests/lib.sh"
: "${top_builddir:?}"

dest=$tmpdir/dest
shipped=$top_srcdir/etc/csms-tagd.conf

# make in the build tree, on its own (not part of the caller's job server).
mk() {
	MAKEFLAGS= make -s -C "$top_builddir" DESTDIR="$dest" "$@" >"$tmpdir/make.out" 2>&1 ||
		fail "make $*: $(tail -n 20 "$tmpdir/make.out")"
}

mk install
conf=$(find "$dest" -path '*/csms-tagd/csms-tagd.conf')
[ -n "$conf" ] || fail "make install installed no csms-tagd/csms-tagd.conf"
checks=$((checks + 1))
cmp -s "$shipped" "$conf" || fail "the installed config differs from etc/csms-tagd.conf"
completion=$(find "$dest" -path '*/bash-completion/completions/csms-tagd')
[ -n "$completion" ] || fail "make install installed no bash completion"

# An edited config survives install and uninstall.
echo "# edited by the operator" >>"$conf"
cp "$conf" "$tmpdir/edited"
mk install
checks=$((checks + 1))
cmp -s "$tmpdir/edited" "$conf" || fail "make install overwrote the edited config"
checks=$((checks + 1))
cmp -s "$shipped" "$conf.dist" || fail "make install did not put the shipped config in $conf.dist"
assert_contains "$tmpdir/make.out" "kept the existing"
mk uninstall
checks=$((checks + 1))
cmp -s "$tmpdir/edited" "$conf" || fail "make uninstall removed the edited config"
[ ! -e "$conf.dist" ] || fail "make uninstall left $conf.dist"
left=$(find "$dest" -type f ! -path "$conf")
[ -z "$left" ] || fail "make uninstall left: $left"
checks=$((checks + 1))

# An untouched one goes with the package.
rm "$conf"
mk install
mk uninstall
[ -z "$(find "$dest" -type f)" ] || fail "make uninstall left: $(find "$dest" -type f)"
checks=$((checks + 1))

# The completion: valid bash, offers exactly the options --help lists, and
# completes them.
bash -n "$top_srcdir/shell-completion/bash/csms-tagd" || fail "completion/csms-tagd is not valid bash"
if [ -n "${CSMS_TAGD:-}" ]; then
	"$CSMS_TAGD" --help | grep -o -- '--[a-z][a-z-]*' | sort -u >"$tmpdir/help-options"
	sed -n "/compgen -W '--/,/'/p" "$top_srcdir/shell-completion/bash/csms-tagd" |
		grep -o -- '--[a-z][a-z-]*' | sort -u >"$tmpdir/completion-options"
	diff -u "$tmpdir/help-options" "$tmpdir/completion-options" >&2 ||
		fail "the completion's options differ from csms-tagd --help"
	checks=$((checks + 1))
fi
bc=/usr/share/bash-completion/bash_completion
if [ -r "$bc" ]; then
	got=$(bash -c '. "$1"; . "$2"
		COMP_WORDS=(csms-tagd --st); COMP_CWORD=1; COMP_LINE="csms-tagd --st"; COMP_POINT=${#COMP_LINE}
		_csms_tagd csms-tagd --st csms-tagd; echo "${COMPREPLY[*]}"
		COMP_WORDS=(csms-tagd --log-level w); COMP_CWORD=2; COMP_LINE="csms-tagd --log-level w"; COMP_POINT=${#COMP_LINE}
		_csms_tagd csms-tagd w --log-level; echo "${COMPREPLY[*]}"' sh "$bc" "$top_srcdir/shell-completion/bash/csms-tagd")
	[ "$got" = $'--status --state-file\nwarning' ] || fail "completion gave: $got"
	checks=$((checks + 1))
else
	echo "bash-completion not installed: completion only syntax-checked"
fi
echo "install: $checks checks passed"
