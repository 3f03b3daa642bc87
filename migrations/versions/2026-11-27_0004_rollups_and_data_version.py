"""Rollups kept exact by every write, and the data version that numbers the writes.

fatality_rollup (fine: day × province × district × perpetrator × attack type × kind ×
status × category) answers any filter or grouping; fatality_daily (coarse: day × province ×
kind × status × category) answers the dashboard's usual questions from a table whose size
depends on the calendar, not on the number of incidents. In both, category '' is the
incident-level row (all categories, each incident counted once) and `categories` is the
bitmask of casualty categories its incidents have, so that "incidents having police or
civilian casualties" is an exact count; district '' is "no district". ('' rather than NULL,
so that a bucket is found by plain equality, through the unique index.) Retracted and
deleted incidents are never in them. Counts are checked non-negative: a write that would
take a bucket below zero fails, since it would mean the rollup had drifted.

data_version holds the last change-feed sequence number. A write locks its one row before it
takes sequence numbers and holds it to commit, so numbers are handed out in commit order with
no gaps: a reader that saw version N has seen every change ≤ N and none after.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORY_LIST = "['security_forces', 'police', 'civilians', 'militants', 'unknown']"  # bit order
CATEGORIES = "('security_forces', 'police', 'civilians', 'militants', 'unknown')"
KINDS = "('attack', 'security_operation', 'border_clash', 'cross_border_strike')"
STATUSES = "('reported', 'verified', 'disputed')"  # retracted never counts

UPGRADE = [
    "DROP TABLE fatality_rollup",
    f"""
    CREATE TABLE fatality_rollup (
        day date NOT NULL,
        province_code text NOT NULL,
        district_slug text NOT NULL DEFAULT '',
        perpetrator_slug text NOT NULL,
        attack_type text NOT NULL,
        kind text NOT NULL CONSTRAINT ck_fatality_rollup_kind CHECK (kind IN {KINDS}),
        status text NOT NULL CONSTRAINT ck_fatality_rollup_status CHECK (status IN {STATUSES}),
        category text NOT NULL DEFAULT ''
            CONSTRAINT ck_fatality_rollup_category CHECK (category = '' OR category IN {CATEGORIES}),
        categories smallint NOT NULL DEFAULT 0
            CONSTRAINT ck_fatality_rollup_categories CHECK (categories BETWEEN 0 AND 31),
        killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_killed CHECK (killed >= 0),
        injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_injured CHECK (injured >= 0),
        incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_incidents CHECK (incidents >= 0),
        CONSTRAINT uq_fatality_rollup_bucket UNIQUE
            (day, province_code, district_slug, perpetrator_slug, attack_type, kind, status,
             category, categories)
    )""",
    f"""
    CREATE TABLE fatality_daily (
        day date NOT NULL,
        province_code text NOT NULL,
        kind text NOT NULL CONSTRAINT ck_fatality_daily_kind CHECK (kind IN {KINDS}),
        status text NOT NULL CONSTRAINT ck_fatality_daily_status CHECK (status IN {STATUSES}),
        category text NOT NULL DEFAULT ''
            CONSTRAINT ck_fatality_daily_category CHECK (category = '' OR category IN {CATEGORIES}),
        categories smallint NOT NULL DEFAULT 0
            CONSTRAINT ck_fatality_daily_categories CHECK (categories BETWEEN 0 AND 31),
        killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_daily_killed CHECK (killed >= 0),
        injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_daily_injured CHECK (injured >= 0),
        incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_daily_incidents CHECK (incidents >= 0),
        CONSTRAINT uq_fatality_daily_bucket UNIQUE
            (day, province_code, kind, status, category, categories)
    )""",
    """
    CREATE TABLE data_version (
        id boolean PRIMARY KEY DEFAULT true CONSTRAINT ck_data_version_one_row CHECK (id),
        seq bigint NOT NULL DEFAULT 0 CONSTRAINT ck_data_version_seq CHECK (seq >= 0)
    )""",
    "INSERT INTO data_version (id, seq) SELECT true, coalesce(max(seq), 0) FROM incident_revisions",
    # Sequence numbers now come from data_version; the sequence is kept for old databases'
    # defaults only.
    "ALTER TABLE incident_revisions ALTER COLUMN seq DROP DEFAULT",
    # The summary's deadliest incident, and the latest date, without scanning incidents.
    """CREATE INDEX ix_incidents_killed_total_live ON incidents (killed_total DESC, occurred_on DESC)
       WHERE deleted_at IS NULL AND status <> 'retracted'""",
    # Rebuild the rollups from what is stored (a database migrated with incidents in it).
    """
    INSERT INTO fatality_rollup (day, province_code, district_slug, perpetrator_slug, attack_type,
                                 kind, status, category, categories, killed, injured, incidents)
    SELECT day, province_code, district_slug, perpetrator_slug, attack_type, kind, status,
           category, categories, sum(killed), sum(injured), sum(incidents)
      FROM incident_contributions(NULL) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9""",
]

CONTRIBUTIONS = f"""
CREATE FUNCTION incident_contributions(ids uuid[])
RETURNS TABLE (day date, province_code text, district_slug text, perpetrator_slug text,
               attack_type text, kind text, status text, category text, categories smallint,
               killed bigint, injured bigint, incidents bigint)
LANGUAGE sql STABLE AS $fn$
    -- What the incidents (all live ones when ids is NULL) add to the rollup: one
    -- incident-level row each, and one row per casualty category.
    WITH live AS (
        SELECT i.*, (SELECT coalesce(bit_or(1 << (array_position(ARRAY{CATEGORY_LIST}::text[], c.category) - 1)), 0)
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
           l.attack_type,
           l.kind, l.status, c.category, 0::smallint, c.killed::bigint, c.injured::bigint,
           1::bigint
      FROM live l JOIN casualties c ON c.incident_id = l.id
$fn$
"""

DAILY_FROM_FINE = """
    INSERT INTO fatality_daily (day, province_code, kind, status, category, categories,
                                killed, injured, incidents)
    SELECT day, province_code, kind, status, category, categories,
           sum(killed), sum(injured), sum(incidents)
      FROM fatality_rollup GROUP BY 1, 2, 3, 4, 5, 6
"""


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(UPGRADE[0])
    bind.exec_driver_sql(CONTRIBUTIONS)
    for statement in UPGRADE[1:]:
        bind.exec_driver_sql(statement)
    bind.exec_driver_sql(DAILY_FROM_FINE)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in [
        "DROP INDEX IF EXISTS ix_incidents_killed_total_live",
        "ALTER TABLE incident_revisions ALTER COLUMN seq SET DEFAULT nextval('change_seq')",
        "SELECT setval('change_seq', greatest((SELECT seq FROM data_version), 1))",
        "DROP TABLE data_version",
        "DROP TABLE fatality_daily",
        "DROP TABLE fatality_rollup",
        "DROP FUNCTION incident_contributions(uuid[])",
        """
        CREATE TABLE fatality_rollup (
            day date NOT NULL,
            province_code text NOT NULL,
            district_slug text,
            perpetrator_slug text NOT NULL,
            category text CONSTRAINT ck_fatality_rollup_category CHECK (category IN ('security_forces', 'police', 'civilians', 'militants', 'unknown')),
            attack_type text NOT NULL CONSTRAINT ck_fatality_rollup_attack_type CHECK (attack_type IN ('suicide_bombing', 'ied', 'armed_assault', 'targeted_killing', 'ambush', 'rocket_mortar', 'cross_border_fire', 'air_drone_strike', 'kidnapping', 'other')),
            kind text NOT NULL CONSTRAINT ck_fatality_rollup_kind CHECK (kind IN ('attack', 'security_operation', 'border_clash', 'cross_border_strike')),
            status text NOT NULL CONSTRAINT ck_fatality_rollup_status CHECK (status IN ('reported', 'verified', 'disputed', 'retracted')),
            killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_killed CHECK (killed >= 0),
            injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_injured CHECK (injured >= 0),
            incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_rollup_incidents CHECK (incidents >= 0),
            CONSTRAINT uq_fatality_rollup_bucket UNIQUE NULLS NOT DISTINCT
                (day, province_code, district_slug, perpetrator_slug, category, attack_type, kind, status)
        )""",
    ]:
        bind.exec_driver_sql(statement)
