"""The data version: the last change-feed sequence number, handed out in commit order."""

from __future__ import annotations

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
