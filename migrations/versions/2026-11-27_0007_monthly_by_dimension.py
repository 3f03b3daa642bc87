"""fatality_monthly_dim: the fine rollup by month for one of district, perpetrator or attack
type at a time, so that grouping or filtering by one of them reads a table whose size
follows the calendar and the reference lists, not the number of incidents.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    """
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
        killed bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_monthly_dim_killed CHECK (killed >= 0),
        injured bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_monthly_dim_injured CHECK (injured >= 0),
        incidents bigint NOT NULL DEFAULT 0 CONSTRAINT ck_fatality_monthly_dim_incidents CHECK (incidents >= 0),
        CONSTRAINT uq_fatality_monthly_dim_bucket UNIQUE
            (dimension, month, province_code, value, kind, status, category, categories)
    )""",
    """
    INSERT INTO fatality_monthly_dim (month, province_code, dimension, value, kind, status,
                                      category, categories, killed, injured, incidents)
    SELECT date_trunc('month', r.day::timestamp)::date, r.province_code, d.dimension, d.value,
           r.kind, r.status, r.category, r.categories, sum(r.killed), sum(r.injured),
           sum(r.incidents)
      FROM fatality_rollup r
     CROSS JOIN LATERAL (VALUES ('district', r.district_slug),
                                ('perpetrator', r.perpetrator_slug),
                                ('attack_type', r.attack_type)) AS d(dimension, value)
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.get_bind().exec_driver_sql(statement)


def downgrade() -> None:
    op.get_bind().exec_driver_sql("DROP TABLE fatality_monthly_dim")
