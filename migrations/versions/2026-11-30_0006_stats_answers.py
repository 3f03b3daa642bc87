"""fatality_series: fatality_dim's buckets packed 64 periods to a row, so that a big answer
reads a few hundred rows whatever the number of incidents.

A statistics answer has one point per period and series: month x district since August 2021
is ~4,800 points, week x district in one province ~10,000. Read from fatality_dim, that is
one row per non-zero bucket: few at 10,000 incidents, every point at 1,000,000, so the
answer took twice to three times as long as the data grew (the rows, not the points, were
the cost: PostgreSQL's scan and asyncpg's decoding of one row are each worth several
points' rendering). Here a row holds a block of 64 consecutive days, ISO weeks or months of
one fatality_dim series (dims, grain, province, values, kind, status) as three arrays; a
block is stored once any of its buckets has been counted, which at any size is nearly
every block an answer touches.

Kept exact by triggers on fatality_dim (whose rows the COMMIT of every write moves, from
revision 0005_changes_at_commit on): each statement's new rows minus its old rows, summed
per block and position, are added to the arrays in place. fatality_dim rows are never
deleted but by the rollup rebuild, which empties this table first and fills it again
through the same insert trigger.

Units count from Monday 2001-01-01, the earliest day an incident may have: a day's unit is
its distance in days, an ISO week's in weeks, a month's in months; unit u is at position
u % 64 (0-based) of block u / 64.

Revision ID: 0006_stats_answers
Revises: 0005_changes_at_commit
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_stats_answers"
down_revision: str | None = "0005_changes_at_commit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BLOCK = 64  # frozen: app/stats/models.py SERIES_BLOCK must say the same
SERIES = ("dims", "grain", "province_code", "value1", "value2", "kind", "status")
_SERIES = ", ".join(SERIES)
_UNIT = """CASE grain WHEN 'day' THEN start - DATE '2001-01-01'
                      WHEN 'week' THEN (start - DATE '2001-01-01') / 7
                      ELSE (extract(year FROM start)::int - 2001) * 12
                           + extract(month FROM start)::int - 1 END"""
_ZEROS = f"array_fill(0::bigint, ARRAY[{BLOCK}])"


def _added(array: str, values: str) -> str:
    """`array` with the block's `values` added at its positions g.pos."""
    return f"bw_add_at({array}, g.pos, {values})"


def _moved(changes: str) -> str:
    """One statement adding `changes` (fatality_dim rows with signed counts) to the blocks:
    in place where the block exists, as a new block where it does not."""
    same = " AND ".join(f"s.{c} = g.{c}" for c in (*SERIES, "block"))
    return f"""
    WITH delta AS (
        SELECT {_SERIES}, unit / {BLOCK} AS block, unit % {BLOCK} AS pos,
               sum(killed)::bigint AS killed, sum(injured)::bigint AS injured,
               sum(incidents)::bigint AS incidents
          FROM (SELECT {_SERIES}, {_UNIT} AS unit, killed, injured, incidents
                  FROM ({changes}) AS c) AS u
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
        HAVING sum(killed) <> 0 OR sum(injured) <> 0 OR sum(incidents) <> 0
    ), g AS (
        SELECT {_SERIES}, block, array_agg(pos) AS pos, array_agg(killed) AS killed,
               array_agg(injured) AS injured, array_agg(incidents) AS incidents
          FROM delta GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ), updated AS (
        UPDATE fatality_series s
           SET killed = {_added("s.killed", "g.killed")},
               injured = {_added("s.injured", "g.injured")},
               incidents = {_added("s.incidents", "g.incidents")}
          FROM g WHERE {same}
        RETURNING s.{", s.".join((*SERIES, "block"))}
    )
    INSERT INTO fatality_series ({_SERIES}, block, killed, injured, incidents)
    SELECT {_SERIES}, block, {_added(_ZEROS, "g.killed")}, {_added(_ZEROS, "g.injured")},
           {_added(_ZEROS, "g.incidents")}
      FROM g WHERE NOT EXISTS (SELECT 1 FROM updated s WHERE {same})"""


_COLUMNS = f"{_SERIES}, start, killed, injured, incidents"
_INSERTED = f"SELECT {_COLUMNS} FROM new_rows"
_UPDATED = f"""SELECT {_COLUMNS} FROM new_rows
    UNION ALL SELECT {_SERIES}, start, -killed, -injured, -incidents FROM old_rows"""

UPGRADE = [
    f"""
    CREATE TABLE fatality_series (
        dims text NOT NULL,
        grain text NOT NULL,
        province_code text NOT NULL,
        value1 text NOT NULL DEFAULT '',
        value2 text NOT NULL DEFAULT '',
        kind text NOT NULL,
        status text NOT NULL,
        block integer NOT NULL CONSTRAINT ck_fatality_series_block CHECK (block >= 0),
        killed bigint[] NOT NULL,
        injured bigint[] NOT NULL,
        incidents bigint[] NOT NULL,
        CONSTRAINT ck_fatality_series_length CHECK (
            cardinality(killed) = {BLOCK} AND cardinality(injured) = {BLOCK}
            AND cardinality(incidents) = {BLOCK}),
        -- Read like fatality_dim: one dims and grain, by province, over a range of blocks.
        CONSTRAINT pk_fatality_series PRIMARY KEY
            (dims, grain, province_code, block, value1, value2, kind, status)
    )""",
    # Every write rewrites rows of 1.6 kB: with room on their page the new version stays
    # there (a HOT update, no index entries): the trigger costs 0.4 ms for the 18 buckets
    # of one incident instead of 0.6 ms.
    "ALTER TABLE fatality_series SET (fillfactor = 50)",
    # The arrays `a` with vs[j] added at the 0-based positions ps[j].
    """
    CREATE FUNCTION bw_add_at(a bigint[], ps integer[], vs bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
    BEGIN
        FOR j IN 1 .. coalesce(array_length(ps, 1), 0) LOOP
            a[ps[j] + 1] := a[ps[j] + 1] + vs[j];
        END LOOP;
        RETURN a;
    END
    $fn$""",
    f"""
    CREATE FUNCTION bw_fatality_series_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        -- Statement triggers fire for no rows too (most commits insert no bucket).
        IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
            RETURN NULL;
        END IF;
        {_moved(_INSERTED)};
        RETURN NULL;
    END
    $fn$""",
    f"""
    CREATE FUNCTION bw_fatality_series_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
            RETURN NULL;
        END IF;
        {_moved(_UPDATED)};
        RETURN NULL;
    END
    $fn$""",
    """
    CREATE TRIGGER tr_fatality_series_inserted AFTER INSERT ON fatality_dim
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bw_fatality_series_inserted()""",
    """
    CREATE TRIGGER tr_fatality_series_updated AFTER UPDATE ON fatality_dim
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bw_fatality_series_updated()""",
    # Filled from fatality_dim as it stands (the insert trigger's statement, on every row).
    _moved(f"SELECT {_COLUMNS} FROM fatality_dim"),
    "ANALYZE fatality_series",
]

DOWNGRADE = [
    "DROP TRIGGER tr_fatality_series_updated ON fatality_dim",
    "DROP TRIGGER tr_fatality_series_inserted ON fatality_dim",
    "DROP FUNCTION bw_fatality_series_updated()",
    "DROP FUNCTION bw_fatality_series_inserted()",
    "DROP FUNCTION bw_add_at(bigint[], integer[], bigint[])",
    "DROP TABLE fatality_series",
]


def upgrade() -> None:
    """Make and fill fatality_series and the triggers that keep it."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    for statement in DOWNGRADE:
        op.execute(statement)
