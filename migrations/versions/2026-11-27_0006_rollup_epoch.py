"""data_version.epoch: bumped when the rollups are rebuilt, so statistics' ETags and caches
change then too (a rebuild changes figures without a change to the data's sequence).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "ALTER TABLE data_version ADD COLUMN epoch integer NOT NULL DEFAULT 0"
        " CONSTRAINT ck_data_version_epoch CHECK (epoch >= 0)"
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql("ALTER TABLE data_version DROP COLUMN epoch")
