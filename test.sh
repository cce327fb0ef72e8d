#!/bin/sh
# Install the project with its test tools at the locked versions and run every test
# (the README's second command).
set -e
python3 -m pip install -q -c constraints.txt -e ".[dev]"
python3 -m ruff check .
python3 -m pytest -q "$@"
