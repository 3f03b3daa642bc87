"""Changes numbered and counted at commit: the one serialized step of an incident write moves
into its COMMIT, so no writer holds the lock while it waits on its client.

Until now a write locked `data_version` when it numbered its revisions and kept it through
the rollup update, its other statements and the round trips between them, up to its commit:
concurrent writers queued behind a holder that sat idle in transaction. Now:

- A write stores its revisions in `pending_revisions` (never committed: an unlogged table
  whose rows the commit moves out), with their documents before and after, and marks its
  transaction once in `pending_commit`.
- The mark's deferred constraint trigger runs inside COMMIT, after the write's other
  deferred checks: it takes the `data_version` row (held only to the end of that commit),
  numbers the revisions in the order they were written, moves them into
  `incident_revisions`, and moves the rollups by what the revisions changed (their
  documents' contributions after minus before). Sequence numbers stay gap-free and in
  commit order; the rollups stay exact in the write's transaction. A revision's `at` is
  the time it was numbered, so it grows with the sequence number.
- document_contributions() reads a document as incident_contributions() reads the rows;
  the statistics tests compare the rollups with a recount from the rows after every step,
  so the two cannot drift apart unnoticed.

Revision ID: 0005_changes_at_commit
Revises: 0004_stats_rollups
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_changes_at_commit"
down_revision: str | None = "0004_stats_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen as this revision made them: the casualty categories in mask-bit order, and the
# bucket columns of each rollup (app/stats/models.py).
CATEGORIES = ("security_forces", "police", "civilians", "militants", "unknown")
FINE = (
    "day",
    "province_code",
    "district_slug",
    "perpetrator_slug",
    "attack_type",
    "kind",
    "status",
    "category",
    "categories",
)
DAILY = ("day", "province_code", "kind", "status", "category", "categories")
MONTHLY = ("month", "province_code", "kind", "status", "category", "categories")
DIM = ("month", "province_code", "dimension", "value", "kind", "status", "category", "categories")
LEAN = ("dims", "grain", "start", "province_code", "value1", "value2", "kind", "status")
SUMS = "sum(killed) AS killed, sum(injured) AS injured, sum(incidents) AS incidents"
NONZERO = "HAVING sum(killed) <> 0 OR sum(injured) <> 0 OR sum(incidents) <> 0"
_CATEGORY_ARRAY = "ARRAY[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]::text[]"


def _add_to(table: str, delta: str, key: tuple[str, ...]) -> str:
    """Two CTEs that add the rows of `delta` to `table`: to the bucket where it exists, as a
    new bucket where it does not (safe: the caller holds the data_version lock)."""
    same = " AND ".join(f"r.{c} = d.{c}" for c in key)
    return f"""{table}_updated AS (
        UPDATE {table} r
           SET killed = r.killed + d.killed, injured = r.injured + d.injured,
               incidents = r.incidents + d.incidents
          FROM {delta} d WHERE {same}
        RETURNING {", ".join(f"r.{c}" for c in key)}
    ), {table}_inserted AS (
        INSERT INTO {table} ({", ".join(key)}, killed, injured, incidents)
        SELECT * FROM {delta} d WHERE NOT EXISTS (SELECT 1 FROM {table}_updated r WHERE {same})
    )"""


_FINE = ", ".join(FINE)
_DAILY = ", ".join(DAILY[1:])
# fatality_dim (0004_stats_rollups): incident-level rows by day, ISO week and month, for
# none, one or two of the dimensions; pairs not by day.
_LEAN = """SELECT d.dims, g.grain, g.start, province_code, d.value1, d.value2, kind, status,
           sum(killed) AS killed, sum(injured) AS injured, sum(incidents) AS incidents
      FROM delta
     CROSS JOIN LATERAL (VALUES ('day', day),
                                ('week', date_trunc('week', day::timestamp)::date),
                                ('month', date_trunc('month', day::timestamp)::date))
                     AS g(grain, start)
     CROSS JOIN LATERAL (VALUES ('', '', ''),
                                ('district', district_slug, ''),
                                ('perpetrator', perpetrator_slug, ''),
                                ('attack_type', attack_type, ''),
                                ('district,perpetrator', district_slug, perpetrator_slug),
                                ('district,attack_type', district_slug, attack_type),
                                ('perpetrator,attack_type', perpetrator_slug, attack_type))
                     AS d(dims, value1, value2)
     WHERE category = '' AND (g.grain <> 'day' OR d.dims NOT LIKE '%,%')
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""
_DIMENSIONS = """CROSS JOIN LATERAL (VALUES ('district', district_slug),
                                        ('perpetrator', perpetrator_slug),
                                        ('attack_type', attack_type)) AS dim(dimension, value)"""


def _apply_function(name: str, settings: str) -> str:
    """The function that moves the rollups by a range of revisions (its planner settings)."""
    return f"""
    CREATE FUNCTION {name}(first_seq bigint, last_seq bigint) RETURNS void
    LANGUAGE plpgsql {settings} AS $fn$
    BEGIN
    WITH delta AS (
        SELECT {_FINE}, {SUMS}
          FROM (SELECT c.* FROM incident_revisions r, document_contributions(r.after) c
                 WHERE r.seq BETWEEN first_seq AND last_seq
                UNION ALL
                SELECT {", ".join(f"c.{k}" for k in FINE)}, -c.killed, -c.injured, -c.incidents
                  FROM incident_revisions r, document_contributions(r.before) c
                 WHERE r.seq BETWEEN first_seq AND last_seq) AS changes
         GROUP BY {_FINE} {NONZERO}
    ), daily_delta AS (
        SELECT day, {_DAILY}, {SUMS} FROM delta GROUP BY day, {_DAILY} {NONZERO}
    ), monthly_delta AS (
        SELECT date_trunc('month', day::timestamp)::date AS month, {_DAILY}, {SUMS}
          FROM daily_delta GROUP BY 1, {_DAILY} {NONZERO}
    ), dim_delta AS (
        SELECT date_trunc('month', day::timestamp)::date AS month, province_code,
               dim.dimension, dim.value, kind, status, category, categories, {SUMS}
          FROM delta {_DIMENSIONS}
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 {NONZERO}
    ), lean_delta AS (
        {_LEAN} {NONZERO}
    ), {_add_to("fatality_rollup", "delta", FINE)},
    {_add_to("fatality_daily", "daily_delta", DAILY)},
    {_add_to("fatality_monthly", "monthly_delta", MONTHLY)},
    {_add_to("fatality_monthly_dim", "dim_delta", DIM)},
    {_add_to("fatality_dim", "lean_delta", LEAN)}
    SELECT NULL INTO last_seq;  -- the CTEs above do the work
    END
    $fn$"""


UPGRADE = [
    # What one incident document adds to the fine rollup (nothing for NULL or a retracted
    # one): an incident-level row and a row per casualty category, as
    # incident_contributions() makes them from the rows.
    f"""
    CREATE FUNCTION document_contributions(d jsonb)
    RETURNS TABLE (day date, province_code text, district_slug text, perpetrator_slug text,
                   attack_type text, kind text, status text, category text, categories smallint,
                   killed bigint, injured bigint, incidents bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
        SELECT (d->>'occurred_on')::date, d->>'province', coalesce(d->>'district', ''),
               d->>'perpetrator', d->>'attack_type', d->>'kind', d->>'status', ''::text,
               (SELECT coalesce(bit_or(1 << (array_position({_CATEGORY_ARRAY},
                                                            c->>'category') - 1)), 0)
                  FROM jsonb_array_elements(d->'casualties') c)::smallint,
               (d->>'killed_total')::bigint, (d->>'injured_total')::bigint, 1::bigint
         WHERE d IS NOT NULL AND d->>'status' <> 'retracted'
        UNION ALL
        SELECT (d->>'occurred_on')::date, d->>'province', coalesce(d->>'district', ''),
               d->>'perpetrator', d->>'attack_type', d->>'kind', d->>'status', c->>'category',
               0::smallint, (c->>'killed')::bigint, (c->>'injured')::bigint, 1::bigint
          FROM jsonb_array_elements(d->'casualties') c
         WHERE d IS NOT NULL AND d->>'status' <> 'retracted'
    $fn$""",
    # The rollups moved by the revisions numbered first_seq..last_seq: each one's document
    # after minus its document before, summed per bucket, then per coarser bucket. PL/pgSQL,
    # so that its plan is made once per connection rather than at every commit. Twice: a
    # cached plan cannot know how many buckets a commit moves, and the planner's guess (a
    # few hundred) makes it hash whole rollups for the few rows of one incident; the `_few`
    # variant, for commits of a few revisions, looks each bucket up in its unique index.
    _apply_function("bw_apply_rollup_delta", ""),
    _apply_function(
        "bw_apply_rollup_delta_few", "SET enable_hashjoin = off SET enable_mergejoin = off"
    ),
    # Revisions written by transactions not yet committed, by transaction; the commit moves
    # them out. Found by the transaction's id through the index, never by a scan: the rows
    # that commits have moved out stay behind as dead tuples until a vacuum.
    """
    CREATE UNLOGGED TABLE pending_revisions (
        n bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_pending_revisions PRIMARY KEY,
        xid bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
        incident_id uuid NOT NULL,
        version integer NOT NULL,
        op text NOT NULL,
        actor_key_id bigint,
        changed_fields text[] NOT NULL DEFAULT '{}',
        before jsonb,
        after jsonb
    )""",
    "CREATE INDEX ix_pending_revisions_xid_n ON pending_revisions (xid, n)",
    # One row per transaction that wrote incidents; its trigger runs inside the COMMIT.
    """
    CREATE UNLOGGED TABLE pending_commit (
        xid bigint CONSTRAINT pk_pending_commit PRIMARY KEY
            DEFAULT pg_current_xact_id()::text::bigint
    )""",
    """
    CREATE FUNCTION bw_commit_changes() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        me bigint := pg_current_xact_id()::text::bigint;
        pending bigint;
        last bigint;
    BEGIN
        DELETE FROM pending_commit WHERE xid = me;
        SELECT count(*) INTO pending FROM pending_revisions WHERE xid = me;
        IF pending = 0 THEN
            RETURN NULL;
        END IF;
        -- The serialized step: held from here to the end of this COMMIT.
        UPDATE data_version SET seq = seq + pending RETURNING seq INTO last;
        WITH moved AS (DELETE FROM pending_revisions WHERE xid = me RETURNING *)
        INSERT INTO incident_revisions
               (incident_id, version, seq, op, actor_key_id, at, changed_fields, before, after)
        SELECT incident_id, version, last - pending + row_number() OVER (ORDER BY n), op,
               actor_key_id, clock_timestamp(), changed_fields, before, after
          FROM moved;
        IF pending <= 50 THEN
            PERFORM bw_apply_rollup_delta_few(last - pending + 1, last);
        ELSE
            PERFORM bw_apply_rollup_delta(last - pending + 1, last);
        END IF;
        RETURN NULL;
    END
    $fn$""",
    """
    CREATE CONSTRAINT TRIGGER tr_pending_commit AFTER INSERT ON pending_commit
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bw_commit_changes()""",
]

DOWNGRADE = [
    "DROP TRIGGER tr_pending_commit ON pending_commit",
    "DROP FUNCTION bw_commit_changes()",
    "DROP TABLE pending_commit",
    "DROP TABLE pending_revisions",
    "DROP FUNCTION bw_apply_rollup_delta_few(bigint, bigint)",
    "DROP FUNCTION bw_apply_rollup_delta(bigint, bigint)",
    "DROP FUNCTION document_contributions(jsonb)",
]


def upgrade() -> None:
    """Move numbering and rollups into the commit."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Number and count in the write again (app code of the revision before)."""
    for statement in DOWNGRADE:
        op.execute(statement)
