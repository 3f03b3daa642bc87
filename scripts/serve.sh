#!/usr/bin/env bash
# Command 1: install, provision PostGIS, migrate, load the demo data and serve on :8000.
# Arguments are `borderwatch serve` options (e.g. --port 8080 --workers 2); --port and --host
# default to $BW_PORT and $BW_HOST. With Docker Compose they set the address published on this
# machine (the container listens on 8000), and the other options go to `borderwatch serve` in
# the container (as BW_SERVE_ARGS, split on spaces).
source "$(dirname "$0")/lib.sh"

PORT="${BW_PORT:-8000}"
HOST="${BW_HOST:-0.0.0.0}"
REST=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --port) [ "$#" -ge 2 ] || die "--port needs a value"; PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#--port=}"; shift ;;
    --host) [ "$#" -ge 2 ] || die "--host needs a value"; HOST="$2"; shift 2 ;;
    --host=*) HOST="${1#--host=}"; shift ;;
    *) REST+=("$1"); shift ;;
  esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, not '$PORT'"

if [ -z "${DATABASE_URL:-}${BW_DATABASE_URL:-}" ] && docker_available; then
  log "Docker engine found: docker compose up (PostGIS + API on http://localhost:$PORT)"
  cd "$ROOT"
  BW_PORT="$PORT" BW_HOST="$HOST" BW_SERVE_ARGS="${REST[*]-}" exec docker compose up --build
fi

ensure_venv
provision_database
log "migrating"
borderwatch migrate
log "loading demo data"
borderwatch seed-demo
log "serving on http://localhost:$PORT (docs at /docs)"
exec borderwatch serve --host "$HOST" --port "$PORT" ${REST[@]+"${REST[@]}"}
