#!/bin/sh
# Exemptions, grace periods and required tags end to end (see tests/governance.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/governance.py"
