#!/usr/bin/env bash
# Set up a virtual environment and run the main job on the bundled real data
# (the README's first command).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
.venv/bin/sknegsample demo "$@"
