"""Migration 0009 gives a database seeded before it the same closures as a fresh one, and
goes down and up again."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.core import migrations as schema
from tests.support.dbutil import throwaway_database

BEFORE = "0008_writes_without_jit"
EVENTS = (
    "SELECT crossing_slug, status, valid_from, valid_to, reason FROM crossing_status_events"
    " ORDER BY crossing_slug, valid_from"
)
# The three ends that closures.csv lacked before 0009.
UNENDED = (
    "UPDATE crossing_status_events SET valid_to = NULL WHERE (crossing_slug, valid_from) IN"
    " (('torkham', '2024-01-13'), ('chaman', '2023-11-01'), ('ghulam-khan', '2025-06-28'))"
)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _constraint(conn: asyncpg.Connection) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT conname FROM pg_constraint WHERE conname = 'ex_crossing_status_events_overlap'"
    )


async def test_0009_stores_the_ends_an_older_seed_lacked_and_goes_down_and_up() -> None:
    async with throwaway_database(migrate_to=BEFORE) as url:
        conn = await asyncpg.connect(_dsn(url))
        try:
            fresh = await conn.fetch(EVENTS)  # 0002 from today's closures.csv
            assert await conn.execute(UNENDED) == "UPDATE 3"
            await asyncio.to_thread(schema.upgrade, url, "0009_crossing_events")
            assert await conn.fetch(EVENTS) == fresh
            assert await _constraint(conn) is not None
            with pytest.raises(asyncpg.ExclusionViolationError):
                await conn.execute(
                    "INSERT INTO crossing_status_events (crossing_slug, status, valid_from)"
                    " VALUES ('ghulam-khan', 'open', '2025-12-01')"
                )
            await asyncio.to_thread(schema.downgrade, url, BEFORE)
            assert await _constraint(conn) is None
            assert await conn.fetch(EVENTS) == fresh  # the ends stay
            await asyncio.to_thread(schema.upgrade, url, "head")
            assert await conn.fetch(EVENTS) == fresh
        finally:
            await conn.close()
