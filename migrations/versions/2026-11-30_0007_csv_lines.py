"""CSV lines in a narrow table of their own: the CSV export of every live incident reads
330-byte lines instead of walking 2.6 kB incident rows for them.

Until now each incident row carried its CSV line (`incidents.csv_row`) beside its document
and GeoJSON Feature, stored inline (0003_stored_documents); a CSV export read the whole row
(about eight times the bytes it sent) and ran at about 40% of the speed PostgreSQL COPYs the
same lines out of a plain table. Now:

- `incident_csv_lines` holds one line per live incident (not deleted, not retracted),
  keyed by its id, so the CSV export of all incidents is the table read in key order.
  Filtered CSV exports join it to the incidents their filters pick.
- An AFTER INSERT OR UPDATE trigger on `incidents` keeps it: a live incident's line is
  incident_csv() of its stored document, written when the document changes; an incident
  that is deleted or retracted loses its line (and gets it back if it is restored). AFTER,
  not in the BEFORE trigger that builds the document: a row that INSERT … ON CONFLICT DO
  NOTHING skips, or that a later BEFORE trigger drops, must leave no line behind.
- `incidents.csv_row` is dropped: one stored copy of each line, and incident rows 330 bytes
  narrower for the exports, lists and reads that walk them. The space of existing rows comes
  back as they are rewritten (or at once with VACUUM FULL incidents).

And two indexes of lists: the ones led by province and by perpetrator carry the list order
(`occurred_on DESC, id`) after the code, so a page filtered on one province or one group
(written as an equality, app/incidents/filters.py) reads its rows in list order from the
index instead of filtering the list order's index: at 1M incidents a page filtered on
province and group read about 200 rows for its 51, now about 95.

Revision ID: 0007_csv_lines
Revises: 0006_stats_answers
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_csv_lines"
down_revision: str | None = "0006_stats_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "deleted_at IS NULL AND status <> 'retracted'"


def _stored(with_csv: bool) -> str:
    """bw_incident_stored() (the BEFORE trigger of 0003_stored_documents), with or without
    the CSV line."""
    csv = "NEW.csv_row := incident_csv(d);" if with_csv else ""
    return f"""
    CREATE OR REPLACE FUNCTION bw_incident_stored() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        d jsonb := incident_document(NEW);
    BEGIN
        NEW.document := d::text;
        {csv}
        NEW.feature := incident_feature(d);
        RETURN NEW;
    END
    $fn$"""


# The list-order indexes led by a code, and the (code, occurred_on) ones they replace.
LIST_ORDER = {
    "ix_incidents_province_code_occurred_on": "province_code",
    "ix_incidents_perpetrator_slug_occurred_on": "perpetrator_slug",
}

UPGRADE = [
    *(f"DROP INDEX {name}" for name in LIST_ORDER),
    *(
        f"CREATE INDEX {name}_id ON incidents ({column}, occurred_on DESC, id)"
        for name, column in LIST_ORDER.items()
    ),
    """
    CREATE TABLE incident_csv_lines (
        id uuid NOT NULL,
        line text COMPRESSION lz4 NOT NULL,
        CONSTRAINT pk_incident_csv_lines PRIMARY KEY (id),
        CONSTRAINT fk_incident_csv_lines_id_incidents FOREIGN KEY (id)
            REFERENCES incidents (id) ON DELETE CASCADE
    )""",
    # In key order, so the table's pages follow the key the export reads it by.
    f"INSERT INTO incident_csv_lines (id, line) SELECT id, csv_row FROM incidents WHERE {LIVE} "
    "ORDER BY id",
    _stored(with_csv=False),
    "ALTER TABLE incidents DROP COLUMN csv_row",
    # The line of a live incident, written when its document (or liveness) changed; none for
    # a deleted or retracted one. The line is computed in an assignment, not inside the
    # INSERT: an assignment keeps incident_csv()'s plan for the transaction, whereas the
    # INSERT's executor planned the function again for every row (three times the cost).
    """
    CREATE FUNCTION bw_incident_csv_line() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        csv text;
    BEGIN
        IF NEW.deleted_at IS NOT NULL OR NEW.status = 'retracted' THEN
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM incident_csv_lines WHERE id = NEW.id;
            END IF;
        ELSIF TG_OP = 'INSERT' THEN
            csv := incident_csv(NEW.document::jsonb);
            INSERT INTO incident_csv_lines (id, line) VALUES (NEW.id, csv);
        ELSIF OLD.document IS DISTINCT FROM NEW.document
              OR OLD.deleted_at IS NOT NULL OR OLD.status = 'retracted' THEN
            csv := incident_csv(NEW.document::jsonb);
            INSERT INTO incident_csv_lines (id, line) VALUES (NEW.id, csv)
                ON CONFLICT (id) DO UPDATE SET line = EXCLUDED.line;
        END IF;
        RETURN NULL;
    END
    $fn$""",
    """
    CREATE TRIGGER tr_incidents_csv_line AFTER INSERT OR UPDATE ON incidents
        FOR EACH ROW EXECUTE FUNCTION bw_incident_csv_line()""",
]

DOWNGRADE = [
    "DROP TRIGGER tr_incidents_csv_line ON incidents",
    "DROP FUNCTION bw_incident_csv_line()",
    "ALTER TABLE incidents ADD COLUMN csv_row text COMPRESSION lz4",
    _stored(with_csv=True),
    "UPDATE incidents SET csv_row = incident_csv(document::jsonb)",
    "ALTER TABLE incidents ALTER COLUMN csv_row SET NOT NULL",
    "DROP TABLE incident_csv_lines",
    *(f"DROP INDEX {name}_id" for name in LIST_ORDER),
    *(
        f"CREATE INDEX {name} ON incidents ({column}, occurred_on)"
        for name, column in LIST_ORDER.items()
    ),
]


def upgrade() -> None:
    """Move the CSV lines into their table and keep them there."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Each incident row carries its CSV line again."""
    for statement in DOWNGRADE:
        op.execute(statement)
