"""Schema: reference units, actors, incidents and their parts, crossings, keys, history, rollup.

Written by hand as SQL so that every constraint is visible in review. The database refuses
bad rows on its own (CHECK, FK, UNIQUE, NOT NULL), whatever path they come by.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG = r"'^[a-z0-9]+(-[a-z0-9]+)*$'"
HTTP_URL = r"'^https?://[^[:space:]/?#]+[^[:space:]]*$'"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


ATTACK_TYPES = (
    "suicide_bombing",
    "ied",
    "armed_assault",
    "targeted_killing",
    "ambush",
    "rocket_mortar",
    "cross_border_fire",
    "air_drone_strike",
    "kidnapping",
    "other",
)
TARGET_TYPES = (
    "military",
    "paramilitary",
    "police",
    "civilians",
    "religious",
    "political",
    "government",
    "education",
    "health_polio",
    "foreign_nationals",
    "infrastructure",
    "militants",
    "other",
)
CATEGORIES = ("security_forces", "police", "civilians", "militants", "unknown")
DATE_PRECISIONS = ("day", "week", "month")
GEO_PRECISIONS = ("exact", "town", "district", "province")
ATTRIBUTIONS = ("claimed", "suspected", "unattributed")
STATUSES = ("reported", "verified", "disputed", "retracted")
KINDS = ("attack", "security_operation", "border_clash", "cross_border_strike")
ROLES = ("reader", "analyst", "editor", "admin")
CROSSING_STATUSES = ("open", "closed", "restricted")
# Pakistan/Afghanistan region of SPEC "Incident" rules.
IN_REGION = "ST_X(geom) BETWEEN 60 AND 78 AND ST_Y(geom) BETWEEN 23 AND 38"

UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS postgis",
    """
    CREATE TABLE provinces (
        code text CONSTRAINT pk_provinces PRIMARY KEY
            CONSTRAINT ck_provinces_code CHECK (code ~ '^(PK|AF)-[A-Z]{2,3}$'),
        name text NOT NULL CONSTRAINT ck_provinces_name CHECK (btrim(name) <> '' AND length(name) <= 200),
        country text NOT NULL GENERATED ALWAYS AS (left(code, 2)) STORED,
        geom geometry(MultiPolygon, 4326)
    )""",
    "CREATE INDEX ix_provinces_geom ON provinces USING gist (geom)",
    f"""
    CREATE TABLE districts (
        slug text CONSTRAINT pk_districts PRIMARY KEY
            CONSTRAINT ck_districts_slug CHECK (slug ~ {SLUG} AND length(slug) <= 80),
        name text NOT NULL CONSTRAINT ck_districts_name CHECK (btrim(name) <> '' AND length(name) <= 200),
        province_code text NOT NULL
            CONSTRAINT fk_districts_province_code_provinces REFERENCES provinces (code) ON UPDATE CASCADE,
        is_merged boolean NOT NULL DEFAULT false,
        aliases text[] NOT NULL DEFAULT '{{}}',
        geom geometry(MultiPolygon, 4326),
        -- Target of the composite keys that make a district agree with its province.
        CONSTRAINT uq_districts_slug_province_code UNIQUE (slug, province_code)
    )""",
    "CREATE INDEX ix_districts_province_code ON districts (province_code)",
    "CREATE INDEX ix_districts_geom ON districts USING gist (geom)",
    f"""
    CREATE TABLE actors (
        slug text CONSTRAINT pk_actors PRIMARY KEY
            CONSTRAINT ck_actors_slug CHECK (slug ~ {SLUG} AND length(slug) <= 80),
        name text NOT NULL CONSTRAINT ck_actors_name CHECK (btrim(name) <> '' AND length(name) <= 200),
        aliases text[] NOT NULL DEFAULT '{{}}',
        is_state_force boolean NOT NULL DEFAULT false,
        description text CONSTRAINT ck_actors_description CHECK (length(description) <= 2000),
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    f"""
    CREATE TABLE api_keys (
        id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_api_keys PRIMARY KEY,
        name text NOT NULL CONSTRAINT ck_api_keys_name CHECK (btrim(name) <> '' AND length(name) <= 200),
        role text NOT NULL CONSTRAINT ck_api_keys_role CHECK ({_in("role", ROLES)}),
        -- The visible start of the key, to recognise it in listings; never enough to use it.
        prefix text NOT NULL CONSTRAINT ck_api_keys_prefix CHECK (length(prefix) BETWEEN 8 AND 32),
        -- SHA-256 of the whole key: keys are 256-bit random, so a slow hash buys nothing.
        key_hash bytea NOT NULL CONSTRAINT uq_api_keys_key_hash UNIQUE
            CONSTRAINT ck_api_keys_key_hash CHECK (length(key_hash) = 32),
        created_by bigint CONSTRAINT fk_api_keys_created_by_api_keys REFERENCES api_keys (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        last_used_at timestamptz,
        CONSTRAINT ck_api_keys_revoked_after_created CHECK (revoked_at >= created_at)
    )""",
    f"""
    CREATE TABLE crossing_points (
        slug text CONSTRAINT pk_crossing_points PRIMARY KEY
            CONSTRAINT ck_crossing_points_slug CHECK (slug ~ {SLUG} AND length(slug) <= 80),
        name text NOT NULL CONSTRAINT ck_crossing_points_name CHECK (btrim(name) <> '' AND length(name) <= 200),
        geom geometry(Point, 4326) NOT NULL CONSTRAINT ck_crossing_points_geom_region CHECK ({IN_REGION}),
        province_code text NOT NULL
            CONSTRAINT fk_crossing_points_province_code_provinces REFERENCES provinces (code) ON UPDATE CASCADE
            CONSTRAINT ck_crossing_points_province_pakistan CHECK (province_code LIKE 'PK-%'),
        district_slug text,
        afghan_name text CONSTRAINT ck_crossing_points_afghan_name CHECK (length(afghan_name) <= 200),
        afghan_province_code text
            CONSTRAINT fk_crossing_points_afghan_province_code_provinces REFERENCES provinces (code) ON UPDATE CASCADE
            CONSTRAINT ck_crossing_points_afghan_province CHECK (afghan_province_code LIKE 'AF-%'),
        notified_for_trade boolean NOT NULL DEFAULT false,
        pedestrians boolean NOT NULL DEFAULT false,
        notes text CONSTRAINT ck_crossing_points_notes CHECK (length(notes) <= 2000),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT fk_crossing_points_district_province_districts FOREIGN KEY (district_slug, province_code)
            REFERENCES districts (slug, province_code) ON UPDATE CASCADE
    )""",
    "CREATE INDEX ix_crossing_points_geog ON crossing_points USING gist ((geom::geography))",
    f"""
    CREATE TABLE crossing_status_events (
        id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_crossing_status_events PRIMARY KEY,
        crossing_slug text NOT NULL
            CONSTRAINT fk_crossing_status_events_crossing_slug_crossing_points
            REFERENCES crossing_points (slug) ON UPDATE CASCADE ON DELETE CASCADE,
        status text NOT NULL CONSTRAINT ck_crossing_status_events_status CHECK ({_in("status", CROSSING_STATUSES)}),
        valid_from date NOT NULL,
        valid_to date,
        reason text CONSTRAINT ck_crossing_status_events_reason CHECK (length(reason) <= 2000),
        source_url text CONSTRAINT ck_crossing_status_events_source_url
            CHECK (source_url ~* {HTTP_URL} AND length(source_url) <= 2048),
        created_by bigint CONSTRAINT fk_crossing_status_events_created_by_api_keys REFERENCES api_keys (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_crossing_status_events_period CHECK (valid_to >= valid_from),
        CONSTRAINT uq_crossing_status_events_event UNIQUE (crossing_slug, valid_from, status)
    )""",
    f"""
    CREATE TABLE incidents (
        id uuid CONSTRAINT pk_incidents PRIMARY KEY,
        -- "Not in the future" only grows truer with time, so it is safe as a CHECK on write.
        occurred_on date NOT NULL CONSTRAINT ck_incidents_occurred_on
            CHECK (occurred_on >= DATE '2001-01-01'
                   AND occurred_on <= (now() AT TIME ZONE 'Asia/Karachi')::date),
        date_precision text NOT NULL DEFAULT 'day'
            CONSTRAINT ck_incidents_date_precision CHECK ({_in("date_precision", DATE_PRECISIONS)}),
        geom geometry(Point, 4326) NOT NULL CONSTRAINT ck_incidents_geom_region CHECK ({IN_REGION}),
        geo_precision text NOT NULL DEFAULT 'exact'
            CONSTRAINT ck_incidents_geo_precision CHECK ({_in("geo_precision", GEO_PRECISIONS)}),
        place_name text CONSTRAINT ck_incidents_place_name CHECK (length(place_name) <= 500),
        province_code text NOT NULL
            CONSTRAINT fk_incidents_province_code_provinces REFERENCES provinces (code) ON UPDATE CASCADE,
        district_slug text,
        kind text NOT NULL DEFAULT 'attack' CONSTRAINT ck_incidents_kind CHECK ({_in("kind", KINDS)}),
        attack_type text NOT NULL CONSTRAINT ck_incidents_attack_type CHECK ({_in("attack_type", ATTACK_TYPES)}),
        target_type text NOT NULL CONSTRAINT ck_incidents_target_type CHECK ({_in("target_type", TARGET_TYPES)}),
        perpetrator_slug text NOT NULL DEFAULT 'unknown'
            CONSTRAINT fk_incidents_perpetrator_slug_actors REFERENCES actors (slug) ON UPDATE CASCADE,
        attribution text NOT NULL DEFAULT 'unattributed'
            CONSTRAINT ck_incidents_attribution CHECK ({_in("attribution", ATTRIBUTIONS)}),
        -- Sums of the casualty rows; tr_*_totals checks that they agree at commit.
        killed_total integer NOT NULL DEFAULT 0 CONSTRAINT ck_incidents_killed_total CHECK (killed_total BETWEEN 0 AND 50000),
        injured_total integer NOT NULL DEFAULT 0 CONSTRAINT ck_incidents_injured_total CHECK (injured_total BETWEEN 0 AND 50000),
        fatality_low integer CONSTRAINT ck_incidents_fatality_low CHECK (fatality_low BETWEEN 0 AND 50000),
        fatality_high integer CONSTRAINT ck_incidents_fatality_high CHECK (fatality_high BETWEEN 0 AND 50000),
        crossing_slug text CONSTRAINT fk_incidents_crossing_slug_crossing_points
            REFERENCES crossing_points (slug) ON UPDATE CASCADE,
        description text CONSTRAINT ck_incidents_description CHECK (length(description) <= 20000),
        status text NOT NULL DEFAULT 'reported' CONSTRAINT ck_incidents_status CHECK ({_in("status", STATUSES)}),
        is_synthetic boolean NOT NULL DEFAULT false,
        version integer NOT NULL DEFAULT 1 CONSTRAINT ck_incidents_version CHECK (version >= 1),
        created_by bigint CONSTRAINT fk_incidents_created_by_api_keys REFERENCES api_keys (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz,
        CONSTRAINT ck_incidents_fatality_range_pair CHECK ((fatality_low IS NULL) = (fatality_high IS NULL)),
        CONSTRAINT ck_incidents_fatality_range CHECK (fatality_low <= killed_total AND killed_total <= fatality_high),
        CONSTRAINT ck_incidents_updated_after_created CHECK (updated_at >= created_at),
        CONSTRAINT fk_incidents_district_province_districts FOREIGN KEY (district_slug, province_code)
            REFERENCES districts (slug, province_code) ON UPDATE CASCADE
    )""",
    "CREATE INDEX ix_incidents_geom ON incidents USING gist (geom)",
    "CREATE INDEX ix_incidents_geog ON incidents USING gist ((geom::geography))",
    # The default list order (occurred_on descending, then id) of live incidents.
    "CREATE INDEX ix_incidents_occurred_on_id ON incidents (occurred_on DESC, id) WHERE deleted_at IS NULL",
    "CREATE INDEX ix_incidents_province_code_occurred_on ON incidents (province_code, occurred_on)",
    "CREATE INDEX ix_incidents_district_slug_occurred_on ON incidents (district_slug, occurred_on)",
    "CREATE INDEX ix_incidents_perpetrator_slug_occurred_on ON incidents (perpetrator_slug, occurred_on)",
    "CREATE INDEX ix_incidents_attack_type_occurred_on ON incidents (attack_type, occurred_on)",
    "CREATE INDEX ix_incidents_updated_at ON incidents (updated_at)",
    "CREATE INDEX ix_incidents_created_by ON incidents (created_by)",
    "CREATE INDEX ix_incidents_crossing_slug ON incidents (crossing_slug) WHERE crossing_slug IS NOT NULL",
    f"""
    CREATE TABLE casualties (
        incident_id uuid NOT NULL
            CONSTRAINT fk_casualties_incident_id_incidents REFERENCES incidents (id) ON DELETE CASCADE,
        category text NOT NULL CONSTRAINT ck_casualties_category CHECK ({_in("category", CATEGORIES)}),
        killed integer NOT NULL DEFAULT 0 CONSTRAINT ck_casualties_killed CHECK (killed BETWEEN 0 AND 10000),
        injured integer NOT NULL DEFAULT 0 CONSTRAINT ck_casualties_injured CHECK (injured BETWEEN 0 AND 10000),
        -- One row per category and incident.
        CONSTRAINT pk_casualties PRIMARY KEY (incident_id, category)
    )""",
    "CREATE INDEX ix_casualties_category ON casualties (category, incident_id)",
    f"""
    CREATE TABLE incident_sources (
        incident_id uuid NOT NULL
            CONSTRAINT fk_incident_sources_incident_id_incidents REFERENCES incidents (id) ON DELETE CASCADE,
        position smallint NOT NULL CONSTRAINT ck_incident_sources_position CHECK (position BETWEEN 0 AND 99),
        url text NOT NULL CONSTRAINT ck_incident_sources_url CHECK (url ~* {HTTP_URL} AND length(url) <= 2048),
        publisher text CONSTRAINT ck_incident_sources_publisher CHECK (length(publisher) <= 200),
        published_on date,
        title text CONSTRAINT ck_incident_sources_title CHECK (length(title) <= 1000),
        CONSTRAINT pk_incident_sources PRIMARY KEY (incident_id, position)
    )""",
    """
    CREATE TABLE incident_tags (
        incident_id uuid NOT NULL
            CONSTRAINT fk_incident_tags_incident_id_incidents REFERENCES incidents (id) ON DELETE CASCADE,
        tag text NOT NULL CONSTRAINT ck_incident_tags_tag CHECK (tag ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
        CONSTRAINT pk_incident_tags PRIMARY KEY (incident_id, tag)
    )""",
    "CREATE INDEX ix_incident_tags_tag ON incident_tags (tag)",
    # History, change feed and versions share one numbering: every incident write appends one
    # revision whose seq comes from change_seq. xid lets a feed reader hold back rows whose
    # transaction may still commit behind a larger seq.
    "CREATE SEQUENCE change_seq AS bigint",
    """
    CREATE TABLE incident_revisions (
        incident_id uuid NOT NULL
            CONSTRAINT fk_incident_revisions_incident_id_incidents REFERENCES incidents (id),
        version integer NOT NULL CONSTRAINT ck_incident_revisions_version CHECK (version >= 1),
        seq bigint NOT NULL DEFAULT nextval('change_seq') CONSTRAINT uq_incident_revisions_seq UNIQUE,
        op text NOT NULL CONSTRAINT ck_incident_revisions_op CHECK (op IN ('created', 'updated', 'deleted')),
        actor_key_id bigint CONSTRAINT fk_incident_revisions_actor_key_id_api_keys REFERENCES api_keys (id),
        at timestamptz NOT NULL DEFAULT now(),
        xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        changed_fields text[] NOT NULL DEFAULT '{}',
        before jsonb,
        after jsonb,
        CONSTRAINT pk_incident_revisions PRIMARY KEY (incident_id, version),
        CONSTRAINT ck_incident_revisions_before CHECK ((op = 'created') = (before IS NULL)),
        CONSTRAINT ck_incident_revisions_after CHECK ((op = 'deleted') = (after IS NULL))
    )""",
    "ALTER SEQUENCE change_seq OWNED BY incident_revisions.seq",
    """
    CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_audit_log PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor_key_id bigint CONSTRAINT fk_audit_log_actor_key_id_api_keys REFERENCES api_keys (id),
        action text NOT NULL CONSTRAINT ck_audit_log_action CHECK (action ~ '^[a-z_]+\\.[a-z_]+$'),
        entity_type text NOT NULL CONSTRAINT ck_audit_log_entity_type CHECK (entity_type ~ '^[a-z_]+$'),
        entity_id text NOT NULL CONSTRAINT ck_audit_log_entity_id CHECK (length(entity_id) BETWEEN 1 AND 200),
        detail jsonb NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX ix_audit_log_entity ON audit_log (entity_type, entity_id)",
    "CREATE INDEX ix_audit_log_actor_key_id_at ON audit_log (actor_key_id, at)",
    """
    CREATE TABLE idempotency_keys (
        api_key_id bigint NOT NULL
            CONSTRAINT fk_idempotency_keys_api_key_id_api_keys REFERENCES api_keys (id) ON DELETE CASCADE,
        key text NOT NULL CONSTRAINT ck_idempotency_keys_key CHECK (length(key) BETWEEN 1 AND 255),
        method text NOT NULL CONSTRAINT ck_idempotency_keys_method CHECK (method IN ('POST', 'PATCH', 'PUT', 'DELETE')),
        path text NOT NULL CONSTRAINT ck_idempotency_keys_path CHECK (length(path) BETWEEN 1 AND 2048),
        request_hash bytea NOT NULL CONSTRAINT ck_idempotency_keys_request_hash CHECK (length(request_hash) = 32),
        state text NOT NULL DEFAULT 'in_progress'
            CONSTRAINT ck_idempotency_keys_state CHECK (state IN ('in_progress', 'completed')),
        response_status smallint CONSTRAINT ck_idempotency_keys_response_status CHECK (response_status BETWEEN 100 AND 599),
        response_headers jsonb,
        response_body bytea,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL DEFAULT now() + interval '24 hours',
        CONSTRAINT pk_idempotency_keys PRIMARY KEY (api_key_id, key),
        CONSTRAINT ck_idempotency_keys_completed CHECK ((state = 'completed') = (response_status IS NOT NULL)),
        CONSTRAINT ck_idempotency_keys_expiry CHECK (expires_at > created_at)
    )""",
    "CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at)",
    # Filled by the stats issue in the same transaction as every incident write. A NULL
    # category is the incident-level row (all categories; incidents counted once).
    f"""
    CREATE TABLE fatality_rollup (
        day date NOT NULL,
        province_code text NOT NULL,
        district_slug text,
        perpetrator_slug text NOT NULL,
        category text CONSTRAINT ck_fatality_rollup_category CHECK ({_in("category", CATEGORIES)}),
        attack_type text NOT NULL CONSTRAINT ck_fatality_rollup_attack_type CHECK ({_in("attack_type", ATTACK_TYPES)}),
        kind text NOT NULL CONSTRAINT ck_fatality_rollup_kind CHECK ({_in("kind", KINDS)}),
        status text NOT NULL CONSTRAINT ck_fatality_rollup_status CHECK ({_in("status", STATUSES)}),
        killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_killed CHECK (killed >= 0),
        injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_injured CHECK (injured >= 0),
        incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_incidents CHECK (incidents >= 0),
        CONSTRAINT uq_fatality_rollup_bucket UNIQUE NULLS NOT DISTINCT
            (day, province_code, district_slug, perpetrator_slug, category, attack_type, kind, status)
    )""",
    # killed_total/injured_total must equal the sums of the casualty rows. Checked at commit
    # (deferred), so a write may insert the incident and its casualties in any order.
    """
    CREATE FUNCTION bw_check_incident_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        iid uuid;
        r record;
    BEGIN
        IF TG_TABLE_NAME = 'incidents' THEN
            iid := NEW.id;
        ELSIF TG_OP = 'DELETE' THEN
            iid := OLD.incident_id;
        ELSE
            iid := NEW.incident_id;
        END IF;
        SELECT i.killed_total, i.injured_total,
               coalesce(sum(c.killed), 0) AS killed, coalesce(sum(c.injured), 0) AS injured
          INTO r
          FROM incidents i LEFT JOIN casualties c ON c.incident_id = i.id
         WHERE i.id = iid
         GROUP BY i.id;
        IF FOUND AND (r.killed_total <> r.killed OR r.injured_total <> r.injured) THEN
            RAISE EXCEPTION 'incident % totals (killed %, injured %) differ from its casualties (killed %, injured %)',
                iid, r.killed_total, r.injured_total, r.killed, r.injured
                USING ERRCODE = 'check_violation', TABLE = 'incidents',
                      CONSTRAINT = 'ck_incidents_totals_match_casualties';
        END IF;
        RETURN NULL;
    END
    $fn$""",
    """
    CREATE CONSTRAINT TRIGGER tr_incidents_totals
        AFTER INSERT OR UPDATE OF killed_total, injured_total ON incidents
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bw_check_incident_totals()""",
    """
    CREATE CONSTRAINT TRIGGER tr_casualties_totals
        AFTER INSERT OR UPDATE OR DELETE ON casualties
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bw_check_incident_totals()""",
]

# PostGIS stays: it may have been created by a superuser that this role is not.
DOWNGRADE = [
    "DROP TABLE IF EXISTS fatality_rollup",
    "DROP TABLE IF EXISTS idempotency_keys",
    "DROP TABLE IF EXISTS audit_log",
    "DROP TABLE IF EXISTS incident_revisions",
    "DROP SEQUENCE IF EXISTS change_seq",
    "DROP TABLE IF EXISTS incident_tags",
    "DROP TABLE IF EXISTS incident_sources",
    "DROP TABLE IF EXISTS casualties",
    "DROP TABLE IF EXISTS incidents",
    "DROP FUNCTION IF EXISTS bw_check_incident_totals()",
    "DROP TABLE IF EXISTS crossing_status_events",
    "DROP TABLE IF EXISTS crossing_points",
    "DROP TABLE IF EXISTS api_keys",
    "DROP TABLE IF EXISTS actors",
    "DROP TABLE IF EXISTS districts",
    "DROP TABLE IF EXISTS provinces",
]


def _run(statements: list[str]) -> None:
    # exec_driver_sql: the DDL goes to PostgreSQL as written, with no bind-parameter parsing
    # of its regexes, casts and dollar-quoted bodies.
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
