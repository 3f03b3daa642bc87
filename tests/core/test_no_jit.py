"""No JIT compilation on the service's statements: the app's connections turn it off
(app/core/db.py SESSION_SETTINGS), and so do the functions that run inside a write and its
COMMIT, for any client (migration 0008_writes_without_jit). A compile cost 150-270 ms in
every write's COMMIT once incident_revisions had rows."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Every trigger function on the service's tables, and the functions the COMMIT's trigger
# calls: a function (re)created without `SET jit = off` shows up here.
WRITE_PATH_FUNCTIONS = """
    SELECT p.oid::regprocedure::text AS function, coalesce(p.proconfig, '{}') AS config
      FROM pg_proc p
     WHERE p.oid IN (SELECT tgfoid FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                      JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE NOT t.tgisinternal AND n.nspname = 'public')
        OR p.proname LIKE 'bw_apply_rollup_delta%'
"""


async def test_every_function_of_the_write_path_is_planned_without_jit(
    db: AsyncSession,
) -> None:
    rows = (await db.execute(text(WRITE_PATH_FUNCTIONS))).all()
    names = {row.function for row in rows}
    assert {"bw_commit_changes()", "bw_incident_stored()"} <= names  # the query finds them
    assert "bw_apply_rollup_delta_few(bigint,bigint)" in names
    with_jit = sorted(row.function for row in rows if "jit=off" not in row.config)
    assert with_jit == []


async def test_the_apps_connections_run_without_jit(app: FastAPI, db: AsyncSession) -> None:
    assert (await db.execute(text("SHOW jit"))).scalar_one() == "off"
    async with app.state.reads.acquire() as conn:
        assert await conn.fetchval("SHOW jit") == "off"
