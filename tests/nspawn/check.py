#!/usr/bin/env python3
"""check.py - assertions of the systemd-nspawn test that are easier in Python.

  check.py deleted < STATE
      STATE is the emulator's GET /_emulator/state; prints what it deleted,
      one "SECRET_ID<TAB>SECRET_NAME<TAB>KEY<TAB>VALUE" line each, sorted.

  check.py records EXPECTED [--require FIELD]... [--absent FIELD]... [FIELD=VALUE]... < JOURNAL
      JOURNAL is "journalctl -o json" output (one record per line).  Checks
      that there is exactly one record per line of EXPECTED (lines as
      printed by "deleted", matched on CSMS_SECRET_ID, CSMS_SECRET_NAME,
      CSMS_TAG_KEY, CSMS_TAG_VALUE) and no other record, that every record
      has each --require field non-empty and no --absent field at all,
      that CSMS_RULE (if required) has
      the form FILE:LINE, and that each FIELD=VALUE holds for every record.

Exits 1 with one line per problem on stderr.
"""
import json
import re
import sys

MATCH = ("CSMS_SECRET_ID", "CSMS_SECRET_NAME", "CSMS_TAG_KEY", "CSMS_TAG_VALUE")


def field(record, name):
    """A journal field as text: journalctl -o json gives byte arrays for
    non-UTF-8 values and lists for repeated fields."""
    v = record.get(name)
    if isinstance(v, list):
        if v and all(isinstance(x, int) for x in v):
            return bytes(v).decode("utf-8", "backslashreplace")
        return None  # repeated: never expected here
    return v


def deleted():
    state = json.load(sys.stdin)
    rows = sorted("\t".join((d["secret_id"], d["secret_name"], d["key"], d["value"]))
                  for d in state["deleted"])
    for r in rows:
        print(r)
    return 0


def records(argv):
    expected_path, require, absent, want = argv[0], [], [], {}
    args = iter(argv[1:])
    for a in args:
        if a == "--require":
            require.append(next(args))
        elif a == "--absent":
            absent.append(next(args))
        elif "=" in a:
            k, v = a.split("=", 1)
            want[k] = v
        else:
            sys.exit("check.py records: bad argument %r" % a)
    with open(expected_path, encoding="utf-8") as f:
        expected = [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]
    recs = [json.loads(line) for line in sys.stdin if line.strip()]
    problems = []
    seen = {}
    for rec in recs:
        key = tuple(field(rec, n) for n in MATCH)
        seen.setdefault(key, []).append(rec)
        for n in require:
            if not field(rec, n):
                problems.append("record %s lacks %s" % ("/".join(map(str, key)), n))
        for n in absent:
            if n in rec:
                problems.append("record %s has %s=%r" % ("/".join(map(str, key)), n, rec[n]))
        if "CSMS_RULE" in require and field(rec, "CSMS_RULE") and \
                not re.fullmatch(r".+:[0-9]+", field(rec, "CSMS_RULE")):
            problems.append("record %s: CSMS_RULE=%r is not FILE:LINE"
                            % ("/".join(map(str, key)), field(rec, "CSMS_RULE")))
        for k, v in want.items():
            if field(rec, k) != v:
                problems.append("record %s: %s=%r, expected %r"
                                % ("/".join(map(str, key)), k, field(rec, k), v))
    for e in expected:
        n = len(seen.get(e, []))
        if n != 1:
            problems.append("%d records for %s, expected 1" % (n, "/".join(e)))
    for key in seen:
        if key not in expected:
            problems.append("unexpected record for %s" % "/".join(map(str, key)))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "deleted":
        return deleted()
    if len(sys.argv) >= 3 and sys.argv[1] == "records":
        return records(sys.argv[2:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
