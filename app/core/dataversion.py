"""The data version: the last change-feed sequence number, handed out in commit order, and
the rollup epoch that a rebuild of the statistics moves on."""

from __future__ import annotations

import asyncpg
from fastapi import Request
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Integer, Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Base
from app.core.errors import unavailable

# One row (migration 0001_schema inserts it). Every incident write takes it in the last
# statements before its commit (app/incidents/writes.py numbers its revisions from it, then
# moves the rollups) and holds it to the commit, so sequence numbers follow commit order
# without gaps while the rest of each write runs in parallel.
data_version = Table(
    "data_version",
    Base.metadata,
    Column("id", Boolean, primary_key=True, server_default=text("true")),
    Column("seq", BigInteger, nullable=False, server_default=text("0")),
    # Moved by a rollup rebuild, which may change figures without changing the data.
    Column("epoch", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("id", name="one_row"),
    CheckConstraint("seq >= 0", name="seq"),
    CheckConstraint("epoch >= 0", name="epoch"),
)


async def current(session: AsyncSession) -> int:
    """The last committed change's sequence number."""
    return int(await session.scalar(text("SELECT seq FROM data_version")) or 0)


async def stamp(request: Request, session: AsyncSession) -> tuple[int, int]:
    """(sequence number, rollup epoch) as this request may see them: what statistics'
    ETags and caches are keyed by.

    With the statistics cache on (app/stats/cache.py), from the app's small asyncpg pool,
    without the ORM in the way: the same cheap check the cache makes, so both agree.
    Otherwise, and when the session is already in a transaction, the session is asked, so
    that the request sees its own snapshot.
    """
    if session.in_transaction() or not request.app.state.settings.stats_cache:
        row = (await session.execute(text("SELECT seq, epoch FROM data_version"))).one()
        return int(row.seq), int(row.epoch)
    return await probe(request.app.state.probe, request.app.state.settings.retry_after_s)


async def probe(pool: asyncpg.Pool, retry_after: int) -> tuple[int, int]:
    """(sequence number, rollup epoch) through the probe pool; 503 when PostgreSQL is away."""
    try:
        row = await pool.fetchrow("SELECT seq, epoch FROM data_version")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise unavailable(
            f"The database is not reachable ({type(exc).__name__}).", retry_after
        ) from None
    return int(row["seq"]), int(row["epoch"])
