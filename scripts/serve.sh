#!/usr/bin/env bash
# Command 1: install, provision PostGIS, migrate, load the demo data and serve on :8000.
# Extra arguments go to `borderwatch serve` (e.g. --port 8080 --workers 2).
source "$(dirname "$0")/lib.sh"

if [ -z "${DATABASE_URL:-}${BW_DATABASE_URL:-}" ] && docker_available; then
  log "Docker engine found: docker compose up (PostGIS + API on :8000)"
  cd "$ROOT" && exec docker compose up --build
fi

ensure_venv
provision_database
log "migrating"
borderwatch migrate
log "loading demo data"
borderwatch seed-demo
log "serving on http://localhost:${BW_PORT:-8000} (docs at /docs)"
exec borderwatch serve --host "${BW_HOST:-0.0.0.0}" --port "${BW_PORT:-8000}" "$@"
