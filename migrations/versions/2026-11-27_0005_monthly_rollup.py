"""fatality_monthly: the daily rollup summed by month, for month, quarter and year series.

The dashboard's usual question (month x province since 2021-08-15) then reads a few
thousand monthly rows, plus the daily rows of the two clipped edge months, whatever the
number of incidents. Kept exact by the same statement as the other rollups.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = "('security_forces', 'police', 'civilians', 'militants', 'unknown')"

UPGRADE = [
    f"""
    CREATE TABLE fatality_monthly (
        month date NOT NULL CONSTRAINT ck_fatality_monthly_month CHECK (extract(day FROM month) = 1),
        province_code text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        category text NOT NULL DEFAULT ''
            CONSTRAINT ck_fatality_monthly_category CHECK (category = '' OR category IN {CATEGORIES}),
        categories smallint NOT NULL DEFAULT 0,
        killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_monthly_killed CHECK (killed >= 0),
        injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_monthly_injured CHECK (injured >= 0),
        incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_monthly_incidents CHECK (incidents >= 0),
        CONSTRAINT uq_fatality_monthly_bucket UNIQUE
            (month, province_code, kind, status, category, categories)
    )""",
    """
    INSERT INTO fatality_monthly (month, province_code, kind, status, category, categories,
                                  killed, injured, incidents)
    SELECT date_trunc('month', day::timestamp)::date, province_code, kind, status, category,
           categories, sum(killed), sum(injured), sum(incidents)
      FROM fatality_daily GROUP BY 1, 2, 3, 4, 5, 6""",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.get_bind().exec_driver_sql(statement)


def downgrade() -> None:
    op.get_bind().exec_driver_sql("DROP TABLE fatality_monthly")
