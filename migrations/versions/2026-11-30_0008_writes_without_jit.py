"""No JIT compilation inside a write: the functions that run in an incident write and its
COMMIT are planned with `jit = off`, whoever connects.

PostgreSQL compiles a plan's expressions with LLVM when the planner's estimate of a statement
crosses `jit_above_cost` (100,000 by default). The rollup statement that every write's
COMMIT runs (bw_apply_rollup_delta_few, migration 0005) crossed it as soon as
`incident_revisions` held rows: its estimate grows with the table's statistics, not with the
one incident it moves, and each COMMIT then compiled some 170 functions, 150-270 ms of a
write that otherwise takes a few milliseconds. Benchmark databases, loaded without history,
never showed it; a database with a few thousand revisions did on every POST.

The app's connections turn JIT off for their sessions (app/core/db.py); this revision makes
the write path safe from any other client too (psql, an import, PgBouncer pools with other
settings): a function's `SET` clause holds for everything that runs inside it, so the
triggers' own statements, the SQL functions they call and the rollup functions below them are
all planned without JIT.

Revision ID: 0008_writes_without_jit
Revises: 0007_csv_lines
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_writes_without_jit"
down_revision: str | None = "0007_csv_lines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every function a trigger on the write path runs (tests/core/test_no_jit.py checks that no
# trigger function is missing here), and the rollup functions the COMMIT's trigger calls.
FUNCTIONS = (
    "bw_incident_stored()",
    "bw_incident_csv_line()",
    "bw_check_incident_totals()",
    "bw_commit_changes()",
    "bw_fatality_series_inserted()",
    "bw_fatality_series_updated()",
    "bw_apply_rollup_delta(bigint, bigint)",
    "bw_apply_rollup_delta_few(bigint, bigint)",
)


def upgrade() -> None:
    """Plan the write path's functions without JIT."""
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} SET jit = off")


def downgrade() -> None:
    """Let the server's setting decide again."""
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} RESET jit")
