#!/bin/sh
# Install the project with its test tools and run every test (the README's second command).
set -e
python3 -m pip install -q -e ".[dev]"
python3 -m ruff check .
python3 -m pytest -q "$@"
