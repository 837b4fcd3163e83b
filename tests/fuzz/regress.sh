#!/bin/sh
# regress.sh - make check entry: every fuzz target once over its seed corpus
# (which holds every crash ever found).  Skips (77) without clang's fuzzer
# runtime.
exec "${SHELL:-/bin/sh}" "$(dirname "$0")/run-fuzz.sh" --regress
