#!/bin/sh
# Organisation mode, issue 17: 3 accounts x 2 regions from one daemon (see tests/org.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/org.py"
