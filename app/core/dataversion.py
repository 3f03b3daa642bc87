"""The data version: the last change-feed sequence number, handed out in commit order, and
the epoch that moves when answers change without an incident changing (a rollup rebuild, a
crossing or its status history, a boundary load)."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Integer, Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import UNAVAILABLE, Base
from app.core.errors import unavailable

# One row (migration 0001_schema inserts it). Every incident write takes it inside its COMMIT
# (the deferred trigger of migration 0005_changes_at_commit numbers the revisions from it and
# moves the rollups), so sequence numbers follow commit order without gaps while the rest of
# each write runs in parallel.
data_version = Table(
    "data_version",
    Base.metadata,
    Column("id", Boolean, primary_key=True, server_default=text("true")),
    Column("seq", BigInteger, nullable=False, server_default=text("0")),
    # Moved by move_epoch(): answers that do not follow the incidents' sequence changed.
    Column("epoch", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("id", name="one_row"),
    CheckConstraint("seq >= 0", name="seq"),
    CheckConstraint("epoch >= 0", name="epoch"),
)


async def current(session: AsyncSession) -> int:
    """The last committed change's sequence number."""
    return int(await session.scalar(text("SELECT seq FROM data_version")) or 0)


def answer_etag(version: tuple[int, int], key: tuple[Any, ...]) -> str:
    """The ETag of an answer that changes only with the data version (statistics, tiles):
    `"<seq>.<epoch>-<digest of the question>"`."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
    return f'"{version[0]}.{version[1]}-{digest}"'


async def version(session: AsyncSession) -> tuple[int, int]:
    """(sequence number, epoch) now, in the session's snapshot."""
    row = (await session.execute(text("SELECT seq, epoch FROM data_version"))).one()
    return int(row.seq), int(row.epoch)


async def probe(pool: asyncpg.Pool, retry_after: int) -> tuple[int, int]:
    """(sequence number, rollup epoch) through the probe pool; 503 when PostgreSQL is away."""
    try:
        row = await pool.fetchrow("SELECT seq, epoch FROM data_version")
    except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise unavailable(
            f"The database is not reachable ({type(exc).__name__}).", retry_after
        ) from None
    return int(row["seq"]), int(row["epoch"])


async def move_epoch(session: AsyncSession) -> None:
    """Start a new epoch in the caller's transaction: every ETag and cached answer built on
    `(seq, epoch)` (statistics, tiles) changes when it commits. For changes outside the
    incidents (a rollup rebuild, a crossing or its status events, boundaries), which have no
    place in the incidents' change feed and so do not move its sequence number."""
    await session.execute(text("UPDATE data_version SET epoch = epoch + 1"))
