#!/bin/sh
# The safety, interleaving and fault suites again, with exemptions, grace clocks and
# required tags on (CSMS_TEST_GOVERNANCE, see tests/emutest.py): the
# governance features must not weaken any safety property.
CSMS_TEST_GOVERNANCE=1
export CSMS_TEST_GOVERNANCE
"${PYTHON3:-python3}" "$top_srcdir/tests/safety.py" || exit 1
"${PYTHON3:-python3}" "$top_srcdir/tests/interleave.py" || exit 1
exec "${PYTHON3:-python3}" "$top_srcdir/tests/faults.py"
