#!/bin/sh
# Deletion safety and secrets hygiene (see tests/safety.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/safety.py"
