"""Migrations go down to base and up to head again, leaving the same schema and data."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url

from app import schema
from tests.dbutil import throwaway_database

SCHEMA_SNAPSHOT = """
SELECT 'column', table_name || '.' || column_name || ':' || data_type || ':' || is_nullable
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass::text || '.' || conname || ':' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'trigger', tgrelid::regclass::text || '.' || tgname FROM pg_trigger WHERE NOT tgisinternal
ORDER BY 1, 2
"""
OUR_TABLES = {
    "provinces",
    "districts",
    "actors",
    "api_keys",
    "crossing_points",
    "crossing_status_events",
    "incidents",
    "casualties",
    "incident_sources",
    "incident_tags",
    "incident_revisions",
    "audit_log",
    "idempotency_keys",
    "fatality_rollup",
}


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _snapshot(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in await conn.fetch(SCHEMA_SNAPSHOT)]


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows} - {"spatial_ref_sys", "alembic_version"}


async def test_downgrade_to_base_then_upgrade_to_head_restores_everything() -> None:
    async with throwaway_database() as url:
        conn = await asyncpg.connect(_dsn(url))
        try:
            assert await _tables(conn) == OUR_TABLES
            before = await _snapshot(conn)
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM districts) d, (SELECT count(*) FROM actors) a,"
                " (SELECT count(*) FROM crossing_status_events) e"
            )

            await asyncio.to_thread(schema.downgrade, url, "base")
            assert await _tables(conn) == set()
            assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 0
            # PostGIS stays: it may belong to a superuser that the app's role is not.
            assert await conn.fetchval("SELECT extname FROM pg_extension WHERE extname='postgis'")

            await asyncio.to_thread(schema.upgrade, url, "head")
            assert await _snapshot(conn) == before
            assert (
                await conn.fetchrow(
                    "SELECT (SELECT count(*) FROM districts) d, (SELECT count(*) FROM actors) a,"
                    " (SELECT count(*) FROM crossing_status_events) e"
                )
                == counts
            )
            assert (
                await conn.fetchval("SELECT version_num FROM alembic_version")
                == schema.head_revision()
            )
        finally:
            await conn.close()


async def test_reference_data_downgrade_removes_only_reference_rows() -> None:
    async with throwaway_database() as url:
        await asyncio.to_thread(schema.downgrade, url, "0001")
        conn = await asyncpg.connect(_dsn(url))
        try:
            assert await conn.fetchval("SELECT count(*) FROM provinces") == 0
            assert await conn.fetchval("SELECT count(*) FROM crossing_points") == 0
            await asyncio.to_thread(schema.upgrade, url, "head")
            assert await conn.fetchval("SELECT count(*) FROM provinces") == 18
            assert await conn.fetchval("SELECT count(*) FROM crossing_points") == 9
        finally:
            await conn.close()
