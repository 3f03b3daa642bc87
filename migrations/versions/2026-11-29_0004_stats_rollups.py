"""Statistics rollups whose size follows the calendar and the reference lists only.

fatality_dim holds, for day, ISO week and month, the incidents' totals (every category, each
incident once) by province, kind and status and by none, one or two of district, perpetrator
and attack type (`dims`, their values in value1 and value2 in that order); pairs by week and
month only. It has no
category columns: the `categories` mask multiplied the buckets of the older rollups by up to
31, and questions without a category filter never need it. So every question that names no
category reads, per period asked for, at most one row per group x province x kind x status,
whatever the number of incidents; the older rollups remain for category questions.

Kept exact in every write's transaction like the others (by the COMMIT, from revision
0005_changes_at_commit on); filled here from the fine rollup, which holds every dimension.

Revision ID: 0004_stats_rollups
Revises: 0003_stored_documents
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_stats_rollups"
down_revision: str | None = "0003_stored_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMS = (
    "",
    "district",
    "perpetrator",
    "attack_type",
    "district,perpetrator",
    "district,attack_type",
    "perpetrator,attack_type",
)
# value1 and value2 of each `dims`, as columns of the fine rollup.
VALUES = {
    "": ("''", "''"),
    "district": ("district_slug", "''"),
    "perpetrator": ("perpetrator_slug", "''"),
    "attack_type": ("attack_type", "''"),
    "district,perpetrator": ("district_slug", "perpetrator_slug"),
    "district,attack_type": ("district_slug", "attack_type"),
    "perpetrator,attack_type": ("perpetrator_slug", "attack_type"),
}
GRAINS = {
    "day": "day",
    "week": "date_trunc('week', day)::date",
    "month": "date_trunc('month', day)::date",
}


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


UPGRADE = [
    f"""
    CREATE TABLE fatality_dim (
        dims text NOT NULL CONSTRAINT ck_fatality_dim_dims CHECK ({_in("dims", DIMS)}),
        grain text NOT NULL CONSTRAINT ck_fatality_dim_grain CHECK (grain IN ('day', 'week', 'month')),
        start date NOT NULL,
        province_code text NOT NULL,
        value1 text NOT NULL DEFAULT '',
        value2 text NOT NULL DEFAULT '',
        kind text NOT NULL,
        status text NOT NULL,
        killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_dim_killed CHECK (killed >= 0),
        injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_dim_injured CHECK (injured >= 0),
        incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_dim_incidents CHECK (incidents >= 0),
        -- A bucket starts where its period does (ISO weeks on Monday).
        CONSTRAINT ck_fatality_dim_start CHECK (
            grain = 'day'
            OR (grain = 'week' AND extract(isodow FROM start) = 1)
            OR (grain = 'month' AND extract(day FROM start) = 1)),
        -- Pairs of dimensions by day would be a row per incident or nearly: a write would
        -- pay for them and no question needs them (they are read from the fine rollup).
        CONSTRAINT ck_fatality_dim_pairs CHECK (grain <> 'day' OR dims NOT LIKE '%,%'),
        -- Every question reads one dims and one grain, mostly for one or a few provinces,
        -- over a range of starts. The counts are included so that it is read by index-only
        -- scans: ten thousand buckets in one index range rather than on as many heap pages.
        CONSTRAINT uq_fatality_dim_bucket UNIQUE
            (dims, grain, province_code, start, value1, value2, kind, status)
            INCLUDE (killed, injured, incidents)
    )""",
    # Index-only scans need the visibility map: a table that is mostly updated in place
    # is vacuumed often enough by autovacuum's defaults only when it is large.
    "ALTER TABLE fatality_dim SET (autovacuum_vacuum_scale_factor = 0.02)",
    *(
        f"""
    INSERT INTO fatality_dim (dims, grain, start, province_code, value1, value2, kind, status,
                              killed, injured, incidents)
    SELECT '{dims}', '{grain}', {start}, province_code, {value1}, {value2}, kind, status,
           sum(killed), sum(injured), sum(incidents)
      FROM fatality_rollup WHERE category = ''
     GROUP BY 3, 4, 5, 6, 7, 8
    HAVING sum(killed) <> 0 OR sum(injured) <> 0 OR sum(incidents) <> 0"""
        for dims, (value1, value2) in VALUES.items()
        for grain, start in GRAINS.items()
        if grain != "day" or "," not in dims
    ),
    "ANALYZE fatality_dim",
]

DOWNGRADE = ["DROP TABLE fatality_dim"]


def _run(statements: list[str]) -> None:
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
