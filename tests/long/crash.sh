#!/bin/sh
# SIGKILL at random points of deleting passes, 200 times: the ledger equals the
# emulator's record of deletions, and --restore brings every tag back.
exec "${PYTHON3:-python3}" "$top_srcdir/tests/long/crash.py" 200 14
