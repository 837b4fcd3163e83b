#!/bin/sh
# The CSMS emulator's own tests (tests/emulator/test_emulator.py): signature
# checker against the SDK vectors, APIs, errors, auth, faults, control API,
# HTTP and HTTPS, several accounts (discovery, agencies, per-account limits,
# failing regions).  Python standard library only; runs in well under 20 s.
srcdir=${top_srcdir:-$(dirname "$0")/..}
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON3:-python3}" "$srcdir/tests/emulator/test_emulator.py"
