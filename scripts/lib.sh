# Shared set-up for scripts/serve.sh and scripts/test.sh: a virtualenv with the project as
# uv.lock pins it, and a PostGIS database chosen as SPEC "Set-up contract" says:
#   DATABASE_URL (or BW_DATABASE_URL) when set; else Docker Compose when an engine answers;
#   else the distribution's PostgreSQL + PostGIS packages, installed and started locally.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BW_VENV:-$ROOT/.venv}"
BW_DB_NAME="${BW_DB_NAME:-borderwatch}"
BW_DB_USER="${BW_DB_USER:-borderwatch}"
BW_DB_PASSWORD="${BW_DB_PASSWORD:-borderwatch}"

log() { printf '\033[1m[borderwatch]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install sudo or run as root)"
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install $* yourself, or set DATABASE_URL"
  if [ -z "${_BW_APT_UPDATED:-}" ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _BW_APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pick_python() {
  local c
  for c in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  die "Python 3.11 or newer is required"
}

# uv installs the project from uv.lock (docs/DECISIONS.md "Tooling"). It comes from PyPI, pinned,
# into a virtualenv of its own under .bw/, so a machine with nothing but Python 3.11 can run it.
UV_VERSION="0.13.8"
BW_TOOLS="${BW_TOOLS:-$ROOT/.bw/tools}"
# Never fetch a Python build: use the interpreter pick_python found.
export UV_PYTHON_DOWNLOADS=never

new_venv() {
  local py="$1" dir="$2"
  if ! "$py" -m venv "$dir" 2>/dev/null; then
    rm -rf "$dir"
    apt_install python3-venv
    "$py" -m venv "$dir"
  fi
}

ensure_uv() {
  local dir="$BW_TOOLS/uv-$UV_VERSION"
  UV="$dir/bin/uv"
  [ -x "$UV" ] && return 0
  log "installing uv $UV_VERSION into $dir"
  rm -rf "$dir"
  new_venv "$(pick_python)" "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
}

ensure_venv() {
  local py stamp want
  # Reinstall only when the lock, the project's metadata or uv changed since the last install.
  stamp="$VENV/.borderwatch-installed"
  want="$(cat "$ROOT/uv.lock" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1) uv $UV_VERSION"
  if [ ! -x "$VENV/bin/python" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    ensure_uv
    py="$(command -v "$(pick_python)")"
    log "installing borderwatch and its dev tools from uv.lock into $VENV"
    # --locked: fail, rather than install something else, when pyproject.toml and uv.lock
    # disagree (run ./scripts/lock.sh). The sync is exact: what the lock lacks is removed.
    UV_PROJECT_ENVIRONMENT="$VENV" "$UV" sync --quiet --locked --extra dev \
      --project "$ROOT" --python "$py" ||
      die "install from uv.lock failed (when uv.lock is behind pyproject.toml, update it with \
./scripts/lock.sh --upgrade-package NAME, or ./scripts/lock.sh for all, and commit it)"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# GDAL's command-line tools (ogr2ogr, ogrinfo): the OGC API tests read /ogc with GDAL's own
# OAPIF client, as a GIS user would (tests/geo/test_ogc_gdal.py).
ensure_gdal() {
  command -v ogr2ogr >/dev/null 2>&1 && command -v ogrinfo >/dev/null 2>&1 && return 0
  apt_install gdal-bin
}

docker_available() {
  [ -z "${BW_NO_DOCKER:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# psql as a superuser of the local cluster: the postgres OS user over the socket when we
# can become it, else the postgres role over TCP (trust or ~/.pgpass).
local_psql() {
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    PGOPTIONS='-c client_min_messages=warning' runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT_LOCAL" "$@"
  else
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT_LOCAL" -U postgres "$@"
  fi
}

ensure_local_postgis() {
  local major cluster_line status
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "PostgreSQL is not installed: installing the distribution's packages"
    apt_install postgresql postgresql-contrib
  fi
  major="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
  [ -n "$major" ] || die "no PostgreSQL cluster under /etc/postgresql"
  [ "$major" -ge 15 ] || die "PostgreSQL $major found; Borderwatch needs 15 or newer"
  cluster_line="$(pg_lsclusters --no-header | awk -v m="$major" '$1 == m {print; exit}')"
  [ -n "$cluster_line" ] || die "no cluster for PostgreSQL $major"
  PGPORT_LOCAL="$(echo "$cluster_line" | awk '{print $3}')"
  status="$(echo "$cluster_line" | awk '{print $4}')"
  if [ "$status" != online ]; then
    log "starting PostgreSQL $major"
    as_root pg_ctlcluster --skip-systemctl-redirect "$major" main start
  fi
  if [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
    log "PostGIS is not installed for PostgreSQL $major: installing postgresql-$major-postgis-3"
    apt_install "postgresql-$major-postgis-3"
  fi
  for _ in $(seq 1 30); do
    local_psql -d postgres -c 'select 1' >/dev/null 2>&1 && break
    sleep 1
  done
  # PostgreSQL's default, off on some provisioned machines: without it the rollups' hot rows
  # (updated by every write's COMMIT) keep their dead versions until someone vacuums, and
  # writes slow down by the thousand.
  if [ "$(local_psql -d postgres -Atc 'SHOW autovacuum')" != on ]; then
    log "autovacuum is off on this server: turning it on (ALTER SYSTEM, reload)"
    local_psql -d postgres -c 'ALTER SYSTEM SET autovacuum = on' -c 'SELECT pg_reload_conf()' >/dev/null
  fi
  # Idempotent: a role and two databases, PostGIS created by the superuser so that the
  # unprivileged role never needs to. The template is what the tests clone per run.
  local_psql -d postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$BW_DB_USER', '$BW_DB_PASSWORD')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$BW_DB_USER') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$BW_DB_NAME', '$BW_DB_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$BW_DB_NAME') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '${BW_DB_NAME}_template', '$BW_DB_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '${BW_DB_NAME}_template') \gexec
SQL
  local_psql -d "$BW_DB_NAME" -c 'CREATE EXTENSION IF NOT EXISTS postgis'
  local_psql -d "${BW_DB_NAME}_template" -c 'CREATE EXTENSION IF NOT EXISTS postgis'
  export DATABASE_URL="postgresql://$BW_DB_USER:$BW_DB_PASSWORD@127.0.0.1:$PGPORT_LOCAL/$BW_DB_NAME"
}

ensure_compose_postgis() {
  log "Docker engine found: starting PostGIS with docker compose"
  (cd "$ROOT" && docker compose up -d --wait db)
  export DATABASE_URL="postgresql://$BW_DB_USER:$BW_DB_PASSWORD@127.0.0.1:${BW_DB_PORT:-5433}/$BW_DB_NAME"
}

# Sets DATABASE_URL. With "compose-ok" as $1 a Docker engine may be used.
provision_database() {
  if [ -n "${DATABASE_URL:-}" ] || [ -n "${BW_DATABASE_URL:-}" ]; then
    export DATABASE_URL="${DATABASE_URL:-$BW_DATABASE_URL}"
    log "using DATABASE_URL from the environment"
  elif docker_available; then
    ensure_compose_postgis
  else
    ensure_local_postgis
  fi
}
