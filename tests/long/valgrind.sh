#!/bin/sh
# The daemon under valgrind memcheck for 50 passes with faults on.
exec "${PYTHON3:-python3}" "$top_srcdir/tests/long/daemon-soak.py" valgrind 50
