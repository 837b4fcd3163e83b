#!/usr/bin/env python3
"""promcheck.py - a strict parser of the Prometheus text exposition format
(0.0.4), for the tests of csms-tagd's metrics file where promtool is not
installed.

Usage: promcheck.py FILE
Exits 1 naming the line of the first violation; otherwise prints every
sample as one line "NAME{LABEL="VALUE",...} VALUE" (labels sorted), so that
a shell test can grep for a series.  Checked: the line grammar (metric and
label names, label value escapes, float values), one TYPE and at most one
HELP per metric family, both before its samples, a family's samples
contiguous and with the same label names (as client libraries keep them:
a family of one sample per target carries the same target labels on each),
no series twice, counters named *_total, a final newline.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(r"^(" + NAME + r")(\{(.*)\})? (\S+)( -?[0-9]+)?$")
LABEL_PAIR = re.compile(r'(' + LABEL + r')="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = {"counter", "gauge", "untyped", "histogram", "summary"}


class Bad(Exception):
    pass


def parse_labels(text, lineno):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_PAIR.match(text, pos)
        if not m:
            raise Bad(f"line {lineno}: bad label syntax at {text[pos:pos + 30]!r}")
        if m.group(1) in labels:
            raise Bad(f"line {lineno}: label {m.group(1)} twice")
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def parse_value(text, lineno):
    if text in ("NaN", "+Inf", "-Inf"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        v = float(text)
    except ValueError:
        raise Bad(f"line {lineno}: value {text!r} is not a float") from None
    if math.isnan(v) or math.isinf(v):
        raise Bad(f"line {lineno}: value {text!r} is not written as NaN/+Inf/-Inf")
    return v


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def check(text):
    if text and not text.endswith("\n"):
        raise Bad("the file does not end with a newline")
    types, helps, done, series, out = {}, set(), set(), set(), []
    label_names = {}
    current = None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(NAME, name):
                    raise Bad(f"line {lineno}: bad metric name {name!r}")
                if name in done or name == current:
                    raise Bad(f"line {lineno}: {parts[1]} of {name} after its samples")
                if parts[1] == "TYPE":
                    if name in types:
                        raise Bad(f"line {lineno}: second TYPE for {name}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise Bad(f"line {lineno}: bad TYPE line")
                    if parts[3] == "counter" and not name.endswith("_total"):
                        raise Bad(f"line {lineno}: counter {name} is not named *_total")
                    types[name] = parts[3]
                else:
                    if name in helps:
                        raise Bad(f"line {lineno}: second HELP for {name}")
                    helps.add(name)
            continue
        if not line.strip():
            raise Bad(f"line {lineno}: empty line")
        m = SAMPLE.match(line)
        if not m:
            raise Bad(f"line {lineno}: not a sample: {line!r}")
        name = m.group(1)
        labels = parse_labels(m.group(3) or "", lineno)
        value = parse_value(m.group(4), lineno)
        family = family_of(name, types)
        if family not in types:
            raise Bad(f"line {lineno}: {name} has no TYPE line before it")
        if family != current:
            if family in done:
                raise Bad(f"line {lineno}: samples of {family} are not contiguous")
            if current:
                done.add(current)
            current = family
        if types[family] == "counter" and value < 0:
            raise Bad(f"line {lineno}: counter {name} is negative")
        names = tuple(sorted(labels))
        if label_names.setdefault(name, names) != names:
            raise Bad(f"line {lineno}: {name} has labels {','.join(names)}, "
                      f"its first sample {','.join(label_names[name])}")
        key = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        if key in series:
            raise Bad(f"line {lineno}: series {key} twice")
        series.add(key)
        out.append(f"{key} {m.group(4)}")
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: promcheck.py FILE")
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            lines = check(f.read())
    except (Bad, OSError, UnicodeDecodeError) as e:
        sys.exit(f"{sys.argv[1]}: {e}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
