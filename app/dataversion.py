"""The data version: the last change-feed sequence number, handed out in commit order."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def allocate(session: AsyncSession, count: int) -> list[int]:
    """`count` consecutive sequence numbers for this transaction's revisions.

    Locks the data_version row until the transaction ends, so numbers are given in commit
    order and a rolled-back write gives its numbers back: the change feed has no gaps and
    never shows a later change before an earlier one. Take it as late as possible.
    """
    last = await session.scalar(
        text("UPDATE data_version SET seq = seq + :n RETURNING seq"), {"n": count}
    )
    assert last is not None
    return list(range(int(last) - count + 1, int(last) + 1))


async def current(session: AsyncSession) -> int:
    """The last committed change's sequence number."""
    return int(await session.scalar(text("SELECT seq FROM data_version")) or 0)


async def read(request: Request, session: AsyncSession) -> int:
    """The committed data version as this request may see it.

    With the statistics cache on (app/stats/cache.py), from the app's small asyncpg pool,
    without the ORM in the way: the same cheap check the cache makes, so both agree on the
    version. Otherwise, and when the session is already in a transaction, the session
    is asked, so that the request sees its own snapshot.
    """
    if session.in_transaction() or not request.app.state.settings.stats_cache:
        return await current(session)
    pool = request.app.state.probe
    return int(await pool.fetchval("SELECT seq FROM data_version") or 0)
