#!/bin/sh
# Every asynchronous boundary of a pass x every lifecycle event (see
# tests/interleave.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/interleave.py"
