#!/usr/bin/env bash
# Command 2: install, provision PostGIS the same way as serve.sh, and run the whole suite.
# Each run migrates a throwaway database of its own (tests/conftest.py) and drops it after.
# Extra arguments go to pytest.
source "$(dirname "$0")/lib.sh"

ensure_venv
provision_database
export BW_TEST_DATABASE_URL="${BW_TEST_DATABASE_URL:-$DATABASE_URL}"
cd "$ROOT"
exec python -m pytest "$@"
