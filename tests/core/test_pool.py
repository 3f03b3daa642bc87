"""The engine's pool hands out only live connections, without a round trip for one used a
moment ago (app/core/db.py): one whose backend was ended is replaced at once, and one that
sat idle is pinged first and replaced when the ping fails."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core import db
from app.core.config import Settings


async def _backend_pid(engine: object) -> int:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(settings: Settings, pid: int) -> None:
    """End a backend from a connection of its own, as a restart of PostgreSQL would."""
    url = make_url(settings.database_url).set(drivername="postgresql")
    other = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await other.close()


async def test_a_connection_whose_backend_was_ended_is_replaced(settings: Settings) -> None:
    engine = db.create_engine(settings.model_copy(update={"pool_size": 1, "max_overflow": 0}))
    try:
        pid = await _backend_pid(engine)
        await _terminate(settings, pid)
        await asyncio.sleep(0.2)  # asyncpg notices the closed socket while it is pooled
        assert await _backend_pid(engine) != pid  # no 503: a new connection, at once
    finally:
        await engine.dispose()


async def test_an_idle_connection_is_pinged_and_one_that_fails_is_replaced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[str] = []
    fetchrow = asyncpg.Connection.fetchrow

    async def watched(self: asyncpg.Connection, query: str, *args: object, **kw: object) -> object:
        if query == ";":
            pings.append(query)
            if len(pings) == 2:  # the second ping finds the connection dead
                raise asyncpg.exceptions.ConnectionDoesNotExistError("gone")
        return await fetchrow(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", watched)
    engine = db.create_engine(settings.model_copy(update={"pool_size": 1, "max_overflow": 0}))
    try:
        pid = await _backend_pid(engine)  # a new connection: no ping
        assert await _backend_pid(engine) == pid and pings == []  # used a moment ago: none
        monkeypatch.setattr(db, "TRUSTED_FOR_S", -1.0)  # from now on every one is idle
        assert await _backend_pid(engine) == pid and pings == [";"]  # pinged, alive
        assert await _backend_pid(engine) != pid  # pinged, dead: replaced, no error
        assert len(pings) == 3  # and the new connection was pinged too, alive
    finally:
        await engine.dispose()
