#!/usr/bin/env bash
# Set up a virtual environment and run the whole test suite (the README's
# test command; .ci/run calls this script from a clean clone).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# torch is pinned to the CPU build so that pip does not fetch a CUDA one.
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
.venv/bin/ruff check .
status=0
.venv/bin/python -m pytest "$@" || status=$?
# pytest exits 5 when no test was collected. A filtered run (arguments given,
# e.g. -k) may legitimately select nothing; the full suite never may.
if [ "$status" -eq 5 ]; then
  if [ "$#" -gt 0 ]; then
    echo "pytest selected no tests for: $*" >&2
    status=0
  else
    echo "pytest collected no tests: the suite is missing" >&2
  fi
fi
# The docs build (warnings are errors) belongs to the full run only.
if [ "$#" -eq 0 ]; then
  bash tools/docs.sh || status=$?
fi
exit "$status"
