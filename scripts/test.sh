#!/usr/bin/env bash
# Command 2: install, provision PostGIS the same way as serve.sh, and run the whole suite.
# Each run migrates one template database of its own, clones it for every database the tests
# need (tests/conftest.py, tests/support/dbutil.py) and drops them all after.
# Extra arguments go to pytest.
source "$(dirname "$0")/lib.sh"

ensure_venv
ensure_gdal
provision_database
export BW_TEST_DATABASE_URL="${BW_TEST_DATABASE_URL:-$DATABASE_URL}"
cd "$ROOT"
exec python -m pytest "$@"
