#!/bin/sh
# RSS after 10 passes equals RSS after 1,000 passes (within 10%).
exec "${PYTHON3:-python3}" "$top_srcdir/tests/long/daemon-soak.py" rss 1000
