#!/bin/sh
# Hostile answers, issue 8 items 1-8 (see tests/hostile.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/hostile.py"
