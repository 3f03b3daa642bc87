"""Schema: the whole database, domain by domain.

Reference units and actors; API keys; crossing points; incidents, the rows they own and the
one JSON document built from them; the revision history and the data version that numbers
it; the statistics rollups; the audit log and stored idempotent responses.

Written by hand as SQL so that every constraint is visible in review: the database refuses
bad rows on its own (CHECK, FK, UNIQUE, NOT NULL), whatever path they come by. The models in
app/ declare the same tables; tests/core/test_migrations.py fails when the two drift apart.

Revision ID: 0001_schema
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001_schema"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG = r"'^[a-z0-9]+(-[a-z0-9]+)*$'"
HTTP_URL = r"'^https?://[^[:space:]/?#]+[^[:space:]]*$'"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# The vocabularies of SPEC "Vocabularies", frozen here as this revision created them
# (app/reference/vocab.py holds the living lists; the drift test compares the two).
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
# Also the bit order of the rollups' `categories` mask and the order of a document's casualties.
CATEGORIES = ("security_forces", "police", "civilians", "militants", "unknown")
DATE_PRECISIONS = ("day", "week", "month")
GEO_PRECISIONS = ("exact", "town", "district", "province")
ATTRIBUTIONS = ("claimed", "suspected", "unattributed")
STATUSES = ("reported", "verified", "disputed", "retracted")
COUNTED_STATUSES = ("reported", "verified", "disputed")  # retracted never counts
KINDS = ("attack", "security_operation", "border_clash", "cross_border_strike")
ROLES = ("reader", "analyst", "editor", "admin")
CROSSING_STATUSES = ("open", "closed", "restricted")
# Pakistan/Afghanistan region of SPEC "Incident" rules.
IN_REGION = "ST_X(geom) BETWEEN 60 AND 78 AND ST_Y(geom) BETWEEN 23 AND 38"
# RFC 3339 in UTC with a Z, whatever the session's TimeZone: the form Pydantic gives the
# same instants, so a document reads the same from every path and every connection.
RFC3339_UTC = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""

EXTENSIONS = ["CREATE EXTENSION IF NOT EXISTS postgis"]

# Provinces by ISO 3166-2 code, districts by slug, armed groups and state forces by slug.
REFERENCE = [
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
]

AUTH = [
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
]

# A crossing's status is derived from its events; a day with no event is open.
CROSSINGS = [
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
    # Incidents near a crossing are found by geodesic distance (ST_DWithin on geography).
    "CREATE INDEX ix_crossing_points_geog ON crossing_points USING gist ((geom::geography))",
    f"""
    CREATE TABLE crossing_status_events (
        id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_crossing_status_events PRIMARY KEY,
        crossing_slug text NOT NULL
            CONSTRAINT fk_crossing_status_events_crossing_slug_crossing_points
            REFERENCES crossing_points (slug) ON UPDATE CASCADE ON DELETE CASCADE,
        status text NOT NULL CONSTRAINT ck_crossing_status_events_status CHECK ({_in("status", CROSSING_STATUSES)}),
        valid_from date NOT NULL,
        -- The last day in that status (inclusive); NULL: still in force.
        valid_to date,
        reason text CONSTRAINT ck_crossing_status_events_reason CHECK (length(reason) <= 2000),
        source_url text CONSTRAINT ck_crossing_status_events_source_url
            CHECK (source_url ~* {HTTP_URL} AND length(source_url) <= 2048),
        created_by bigint CONSTRAINT fk_crossing_status_events_created_by_api_keys REFERENCES api_keys (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_crossing_status_events_period CHECK (valid_to >= valid_from),
        CONSTRAINT uq_crossing_status_events_event UNIQUE (crossing_slug, valid_from, status)
    )""",
]

INCIDENTS = [
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
        -- Soft delete: the row stays for its revisions and the change feed.
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
    # The summary's deadliest incident, and the latest date, without scanning incidents.
    """CREATE INDEX ix_incidents_killed_total_live ON incidents (killed_total DESC, occurred_on DESC)
       WHERE deleted_at IS NULL AND status <> 'retracted'""",
    "CREATE INDEX ix_incidents_created_by ON incidents (created_by)",
    "CREATE INDEX ix_incidents_crossing_slug ON incidents (crossing_slug) WHERE crossing_slug IS NOT NULL",
    # Every incident-owned row is keyed by incident, so incidents can one day be distributed
    # (SPEC "Scale-out") with their parts beside them.
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
    # The one JSON shape of an incident. Single reads, revisions (history, change feed,
    # versions), lists and exports all take it from here, so they cannot disagree.
    # Casualties come in the vocabulary's category order, sources in the order given, tags
    # sorted; timestamps as RFC 3339 UTC with a Z.
    f"""
    CREATE FUNCTION incident_document(i incidents) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT json_build_object(
        'id', i.id,
        'occurred_on', i.occurred_on,
        'date_precision', i.date_precision,
        'location', json_build_object('type', 'Point',
                                      'coordinates', json_build_array(ST_X(i.geom), ST_Y(i.geom))),
        'geo_precision', i.geo_precision,
        'place_name', i.place_name,
        'province', i.province_code,
        'district', i.district_slug,
        'kind', i.kind,
        'attack_type', i.attack_type,
        'target_type', i.target_type,
        'perpetrator', i.perpetrator_slug,
        'attribution', i.attribution,
        'casualties', COALESCE((
            SELECT json_agg(json_build_object('category', c.category, 'killed', c.killed,
                                              'injured', c.injured)
                            ORDER BY array_position(ARRAY{list(CATEGORIES)}, c.category))
              FROM casualties c WHERE c.incident_id = i.id), '[]'::json),
        'killed_total', i.killed_total,
        'injured_total', i.injured_total,
        'fatality_range', CASE WHEN i.fatality_low IS NULL THEN NULL
                               ELSE json_build_object('low', i.fatality_low, 'high', i.fatality_high)
                          END,
        'sources', COALESCE((
            SELECT json_agg(json_build_object('url', s.url, 'publisher', s.publisher,
                                              'published_on', s.published_on, 'title', s.title)
                            ORDER BY s.position)
              FROM incident_sources s WHERE s.incident_id = i.id), '[]'::json),
        'crossing', i.crossing_slug,
        'description', i.description,
        'status', i.status,
        'tags', COALESCE((SELECT json_agg(t.tag ORDER BY t.tag)
                            FROM incident_tags t WHERE t.incident_id = i.id), '[]'::json),
        'is_synthetic', i.is_synthetic,
        'version', i.version,
        'created_by', i.created_by,
        'created_at', to_char(i.created_at AT TIME ZONE 'UTC', {RFC3339_UTC}),
        'updated_at', to_char(i.updated_at AT TIME ZONE 'UTC', {RFC3339_UTC})
    )
    $fn$""",
]

# History, change feed and versions share one numbering. data_version's one row holds the
# last sequence number; a write locks that row before it numbers its revisions and holds it
# to commit, so numbers are handed out in commit order with no gaps: a reader that saw
# version N has seen every change up to N and none after.
HISTORY = [
    """
    CREATE TABLE data_version (
        id boolean CONSTRAINT pk_data_version PRIMARY KEY DEFAULT true
            CONSTRAINT ck_data_version_one_row CHECK (id),
        seq bigint NOT NULL DEFAULT 0 CONSTRAINT ck_data_version_seq CHECK (seq >= 0),
        -- Moved when the rollups are rebuilt: a rebuild may change figures without a change
        -- to the data, and statistics' ETags and caches must change with them.
        epoch integer NOT NULL DEFAULT 0 CONSTRAINT ck_data_version_epoch CHECK (epoch >= 0)
    )""",
    "INSERT INTO data_version DEFAULT VALUES",
    # One row per write to an incident, with the document before and after it (NULL before
    # a create, after a delete): the audit trail, the change feed and the past versions.
    """
    CREATE TABLE incident_revisions (
        incident_id uuid NOT NULL
            CONSTRAINT fk_incident_revisions_incident_id_incidents REFERENCES incidents (id),
        version integer NOT NULL CONSTRAINT ck_incident_revisions_version CHECK (version >= 1),
        seq bigint NOT NULL CONSTRAINT uq_incident_revisions_seq UNIQUE,
        op text NOT NULL CONSTRAINT ck_incident_revisions_op CHECK (op IN ('created', 'updated', 'deleted')),
        actor_key_id bigint CONSTRAINT fk_incident_revisions_actor_key_id_api_keys REFERENCES api_keys (id),
        at timestamptz NOT NULL DEFAULT now(),
        changed_fields text[] NOT NULL DEFAULT '{}',
        before jsonb,
        after jsonb,
        CONSTRAINT pk_incident_revisions PRIMARY KEY (incident_id, version),
        CONSTRAINT ck_incident_revisions_before CHECK ((op = 'created') = (before IS NULL)),
        CONSTRAINT ck_incident_revisions_after CHECK ((op = 'deleted') = (after IS NULL))
    )""",
]

# Rollups kept exact by every incident write, in its own transaction (app/stats/rollup.py),
# so that statistics read a table whose size follows the calendar and the reference lists,
# not the number of incidents:
# - fatality_rollup, fine: day x province x district x perpetrator x attack type x kind x
#   status x category; answers any filter or grouping;
# - fatality_daily: day x province x kind x status x category, the dashboard's usual
#   questions;
# - fatality_monthly: the daily one by month, for month, quarter and year series;
# - fatality_monthly_dim: the fine one by month for one of district, perpetrator or attack
#   type at a time, for grouping or filtering by one of them.
# In all of them category '' is the incident-level row (all categories, each incident
# counted once) and `categories` the bitmask of the casualty categories its incidents have,
# so that "incidents with police or civilian casualties" is an exact count; district '' is
# "no district". ('' rather than NULL, so that a bucket is found by plain equality, through
# the unique index.) Retracted and deleted incidents are never in them. Counts are checked
# non-negative: a write that would take a bucket below zero fails, since it would mean the
# rollup had drifted.
_COUNTS = """
        killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_{t}_killed CHECK (killed >= 0),
        injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_{t}_injured CHECK (injured >= 0),
        incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_{t}_incidents CHECK (incidents >= 0),"""
_CATEGORY = f"category = '' OR {_in('category', CATEGORIES)}"
STATISTICS = [
    f"""
    CREATE TABLE fatality_rollup (
        day date NOT NULL,
        province_code text NOT NULL,
        district_slug text NOT NULL DEFAULT '',
        perpetrator_slug text NOT NULL,
        attack_type text NOT NULL,
        kind text NOT NULL CONSTRAINT ck_fatality_rollup_kind CHECK ({_in("kind", KINDS)}),
        status text NOT NULL CONSTRAINT ck_fatality_rollup_status CHECK ({_in("status", COUNTED_STATUSES)}),
        category text NOT NULL DEFAULT '' CONSTRAINT ck_fatality_rollup_category CHECK ({_CATEGORY}),
        categories smallint NOT NULL DEFAULT 0
            CONSTRAINT ck_fatality_rollup_categories CHECK (categories BETWEEN 0 AND 31),
        {_COUNTS.format(t="fatality_rollup")}
        CONSTRAINT uq_fatality_rollup_bucket UNIQUE
            (day, province_code, district_slug, perpetrator_slug, attack_type, kind, status,
             category, categories)
    )""",
    f"""
    CREATE TABLE fatality_daily (
        day date NOT NULL,
        province_code text NOT NULL,
        kind text NOT NULL CONSTRAINT ck_fatality_daily_kind CHECK ({_in("kind", KINDS)}),
        status text NOT NULL CONSTRAINT ck_fatality_daily_status CHECK ({_in("status", COUNTED_STATUSES)}),
        category text NOT NULL DEFAULT '' CONSTRAINT ck_fatality_daily_category CHECK ({_CATEGORY}),
        categories smallint NOT NULL DEFAULT 0
            CONSTRAINT ck_fatality_daily_categories CHECK (categories BETWEEN 0 AND 31),
        {_COUNTS.format(t="fatality_daily")}
        CONSTRAINT uq_fatality_daily_bucket UNIQUE
            (day, province_code, kind, status, category, categories)
    )""",
    f"""
    CREATE TABLE fatality_monthly (
        month date NOT NULL CONSTRAINT ck_fatality_monthly_month CHECK (extract(day FROM month) = 1),
        province_code text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        category text NOT NULL DEFAULT '' CONSTRAINT ck_fatality_monthly_category CHECK ({_CATEGORY}),
        categories smallint NOT NULL DEFAULT 0,
        {_COUNTS.format(t="fatality_monthly")}
        CONSTRAINT uq_fatality_monthly_bucket UNIQUE
            (month, province_code, kind, status, category, categories)
    )""",
    f"""
    CREATE TABLE fatality_monthly_dim (
        month date NOT NULL CONSTRAINT ck_fatality_monthly_dim_month CHECK (extract(day FROM month) = 1),
        province_code text NOT NULL,
        dimension text NOT NULL
            CONSTRAINT ck_fatality_monthly_dim_dimension CHECK (dimension IN ('district', 'perpetrator', 'attack_type')),
        value text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        category text NOT NULL DEFAULT '',
        categories smallint NOT NULL DEFAULT 0,
        {_COUNTS.format(t="fatality_monthly_dim")}
        -- Dimension first: every question reads one dimension.
        CONSTRAINT uq_fatality_monthly_dim_bucket UNIQUE
            (dimension, month, province_code, value, kind, status, category, categories)
    )""",
    # What incidents (all live ones when ids is NULL) add to the fine rollup: one
    # incident-level row each, and one row per casualty category. The coarser rollups are
    # sums of it.
    f"""
    CREATE FUNCTION incident_contributions(ids uuid[])
    RETURNS TABLE (day date, province_code text, district_slug text, perpetrator_slug text,
                   attack_type text, kind text, status text, category text, categories smallint,
                   killed bigint, injured bigint, incidents bigint)
    LANGUAGE sql STABLE AS $fn$
        WITH live AS (
            SELECT i.*, (SELECT coalesce(bit_or(1 << (array_position(ARRAY{list(CATEGORIES)}::text[], c.category) - 1)), 0)
                           FROM casualties c WHERE c.incident_id = i.id)::smallint AS mask
              FROM incidents i
             WHERE (ids IS NULL OR i.id = ANY(ids))
               AND i.deleted_at IS NULL AND i.status <> 'retracted'
        )
        SELECT occurred_on, province_code, coalesce(district_slug, ''), perpetrator_slug,
               attack_type, kind, status, ''::text, mask, killed_total::bigint,
               injured_total::bigint, 1::bigint
          FROM live
        UNION ALL
        SELECT l.occurred_on, l.province_code, coalesce(l.district_slug, ''), l.perpetrator_slug,
               l.attack_type, l.kind, l.status, c.category, 0::smallint, c.killed::bigint,
               c.injured::bigint, 1::bigint
          FROM live l JOIN casualties c ON c.incident_id = l.id
    $fn$""",
]

# Writes other than incidents' (which their revisions record), and Idempotency-Key replays.
BOOKKEEPING = [
    r"""
    CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_audit_log PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor_key_id bigint CONSTRAINT fk_audit_log_actor_key_id_api_keys REFERENCES api_keys (id),
        action text NOT NULL CONSTRAINT ck_audit_log_action CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
        entity_type text NOT NULL CONSTRAINT ck_audit_log_entity_type CHECK (entity_type ~ '^[a-z_]+$'),
        entity_id text NOT NULL CONSTRAINT ck_audit_log_entity_id CHECK (length(entity_id) BETWEEN 1 AND 200),
        detail jsonb NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX ix_audit_log_entity ON audit_log (entity_type, entity_id)",
    "CREATE INDEX ix_audit_log_actor_key_id_at ON audit_log (actor_key_id, at)",
    # Only a completed response is stored, in the transaction of the write it reports
    # (app/core/idempotency.py), so every row is a response to replay; a request in progress
    # is held by an advisory lock, not by a row.
    """
    CREATE TABLE idempotency_keys (
        api_key_id bigint NOT NULL
            CONSTRAINT fk_idempotency_keys_api_key_id_api_keys REFERENCES api_keys (id) ON DELETE CASCADE,
        key text NOT NULL CONSTRAINT ck_idempotency_keys_key CHECK (length(key) BETWEEN 1 AND 255),
        -- SHA-256 of method, path and body: the same key with another request is refused.
        request_hash bytea NOT NULL CONSTRAINT ck_idempotency_keys_request_hash CHECK (length(request_hash) = 32),
        response_status smallint NOT NULL
            CONSTRAINT ck_idempotency_keys_response_status CHECK (response_status BETWEEN 100 AND 599),
        response_headers jsonb,
        response_body bytea NOT NULL,
        expires_at timestamptz NOT NULL DEFAULT now() + interval '24 hours',
        CONSTRAINT pk_idempotency_keys PRIMARY KEY (api_key_id, key)
    )""",
    "CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at)",
]

UPGRADE = EXTENSIONS + REFERENCE + AUTH + CROSSINGS + INCIDENTS + HISTORY + STATISTICS + BOOKKEEPING

# PostGIS stays: it may have been created by a superuser that this role is not.
DOWNGRADE = [
    "DROP TABLE idempotency_keys",
    "DROP TABLE audit_log",
    "DROP FUNCTION incident_contributions(uuid[])",
    "DROP TABLE fatality_monthly_dim",
    "DROP TABLE fatality_monthly",
    "DROP TABLE fatality_daily",
    "DROP TABLE fatality_rollup",
    "DROP TABLE incident_revisions",
    "DROP TABLE data_version",
    "DROP FUNCTION incident_document(incidents)",
    "DROP TABLE incident_tags",
    "DROP TABLE incident_sources",
    "DROP TABLE casualties",
    "DROP TABLE incidents",
    "DROP FUNCTION bw_check_incident_totals()",
    "DROP TABLE crossing_status_events",
    "DROP TABLE crossing_points",
    "DROP TABLE api_keys",
    "DROP TABLE actors",
    "DROP TABLE districts",
    "DROP TABLE provinces",
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
