#!/bin/sh
# Every deletion leaves a durable record, issue 14 items 1-8 (see tests/records.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/records.py"
