"""Crossings as living data: versions for edits, no two status periods of a crossing on one day.

A crossing's status events now follow SPEC "Crossing point" when stored, not only when read:
an open-ended event that a later one replaced ends the day before that one starts, and the
database refuses two events of one crossing covering the same day (an EXCLUDE over their
inclusive date ranges, which needs btree_gist for the crossing's `=`). The seeded closures
broke that: Ghulam Khan had two open-ended closures, and Torkham's 2024 and Chaman's 2023
restrictions were open-ended with later events. Their ends are stored here (the day before
the next event of the crossing), as the read-time rule of the API showed them;
migrations/data/closures.csv now carries the same ends, so a fresh 0002 gives the same rows.

The downgrade keeps the stored ends (the code of 0008 derived exactly those at read time) and
btree_gist (it may be the database owner's or a superuser's, like PostGIS).

Revision ID: 0009_crossing_events
Revises: 0008_writes_without_jit
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_crossing_events"
down_revision: str | None = "0008_writes_without_jit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every open-ended event followed by a later-starting one ends the day before the first of
# those (for the seed: Ghulam Khan 2025-06-28, Torkham 2024-01-13, Chaman 2023-11-01).
END_REPLACED = """
    UPDATE crossing_status_events e
       SET valid_to = n.next_from - 1
      FROM (SELECT id, (SELECT min(l.valid_from) FROM crossing_status_events l
                         WHERE l.crossing_slug = o.crossing_slug
                           AND l.valid_from > o.valid_from) AS next_from
              FROM crossing_status_events o
             WHERE o.valid_to IS NULL) AS n
     WHERE e.id = n.id AND n.next_from IS NOT NULL
"""

UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    "ALTER TABLE crossing_points ADD COLUMN version integer NOT NULL DEFAULT 1"
    " CONSTRAINT ck_crossing_points_version CHECK (version >= 1)",
    "ALTER TABLE crossing_status_events ADD COLUMN version integer NOT NULL DEFAULT 1"
    " CONSTRAINT ck_crossing_status_events_version CHECK (version >= 1)",
    END_REPLACED,
    # Implied by the EXCLUDE below: two events starting on one day overlap.
    "ALTER TABLE crossing_status_events DROP CONSTRAINT uq_crossing_status_events_event",
    """
    ALTER TABLE crossing_status_events ADD CONSTRAINT ex_crossing_status_events_overlap
        EXCLUDE USING gist (crossing_slug WITH =, daterange(valid_from, valid_to, '[]') WITH &&)
    """,
]

DOWNGRADE = [
    "ALTER TABLE crossing_status_events DROP CONSTRAINT ex_crossing_status_events_overlap",
    "ALTER TABLE crossing_status_events ADD CONSTRAINT uq_crossing_status_events_event"
    " UNIQUE (crossing_slug, valid_from, status)",
    "ALTER TABLE crossing_status_events DROP COLUMN version",
    "ALTER TABLE crossing_points DROP COLUMN version",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
