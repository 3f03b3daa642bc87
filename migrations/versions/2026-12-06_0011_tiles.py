"""A narrow index for the vector tiles: a low-zoom tile reads every live incident in its
area, and now reads them from the index rather than from the 2.6 kB incident rows.

A tile that would hold more incidents than the point cap (app/geo/tiles.py) counts them in
grid cells, for which it needs each incident's point and killed_total, and the columns of
the filters a dashboard sets most (dates, kind, province, group, attack type). This B-tree
over the live incidents, by day, carries them all: such a tile is an index-only scan of
about 60 bytes an incident (a date range when the filters name days) instead of a scan of
the table, 2.6 kB an incident. At 1M incidents a zoom-5 tile over Pakistan took 1.36 s
with the table scan, 0.47 s from this index (bench/RESULTS.md).

Revision ID: 0011_tiles
Revises: 0010_boundaries
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_tiles"
down_revision: str | None = "0010_boundaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the tiles' covering index."""
    op.execute(
        "CREATE INDEX ix_incidents_tiles ON incidents (occurred_on) "
        "INCLUDE (geom, killed_total, kind, province_code, perpetrator_slug, attack_type) "
        "WHERE deleted_at IS NULL AND status <> 'retracted'"
    )


def downgrade() -> None:
    """Drop it."""
    op.execute("DROP INDEX ix_incidents_tiles")
