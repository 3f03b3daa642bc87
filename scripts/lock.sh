#!/usr/bin/env bash
# Refresh uv.lock: every package to its newest release within pyproject.toml's bounds.
# Arguments replace the default `--upgrade` and go to `uv lock`, e.g.
#   ./scripts/lock.sh                               # upgrade everything
#   ./scripts/lock.sh --upgrade-package fastapi     # just one (also: after editing its bound)
#   ./scripts/lock.sh --check                       # is the lock in step with pyproject.toml?
# The next serve.sh or test.sh installs the new lock.
source "$(dirname "$0")/lib.sh"

ensure_uv
cd "$ROOT"
if [ "$#" -eq 0 ]; then set -- --upgrade; fi
exec "$UV" lock --python "$(command -v "$(pick_python)")" "$@"
