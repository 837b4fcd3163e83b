#!/bin/sh
# Reviewed plans and undo (see tests/review-undo.py).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/review-undo.py"
