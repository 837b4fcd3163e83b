#!/bin/sh
# Fault injection, end to end (see tests/faults.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/faults.py"
