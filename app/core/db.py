"""Async engine, sessions and the declarative base shared by every domain package."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import await_

from app.core.config import Settings
from app.core.errors import unavailable

log = logging.getLogger("borderwatch.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraint names follow NAMING_CONVENTION."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Every app connection: times in UTC, and no JIT compilation. PostgreSQL compiles a plan's
# expressions when the planner's estimate crosses jit_above_cost; the service runs short
# statements and I/O-bound exports, for which a compile (100-300 ms) costs more than it
# saves. It was paid in every write's COMMIT once incident_revisions had rows, whose rollup
# statement's estimate crossed the threshold (migration 0008 turns it off for the functions
# that run there, whoever connects).
SESSION_SETTINGS = {"TimeZone": "UTC", "jit": "off"}

# A pooled connection checked in this recently, and not seen closed, is handed out without a
# round trip to prove it alive.
TRUSTED_FOR_S = 1.0


def _note_use(_dbapi_connection: Any, record: Any) -> None:
    record.info["used_at"] = time.monotonic()


def _alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection that died while PostgreSQL was away is replaced, not handed out.

    SQLAlchemy's pre-ping costs three round trips per checkout with asyncpg (BEGIN, `;`,
    ROLLBACK, made for pgbouncer's transaction mode) on every request. A restart or a
    dropped socket closes the connection, which asyncpg notices while it sits in the pool:
    such a one is refused at no cost, and one idle for longer than TRUSTED_FOR_S is pinged
    once. A failure invalidates the pool, as a failed pre-ping does."""
    driver = dbapi_connection.driver_connection
    if driver.is_closed():
        raise exc.InvalidatePoolError("the connection was closed")
    if time.monotonic() - record.info.get("used_at", -math.inf) <= TRUSTED_FOR_S:
        return
    try:
        await_(driver.fetchrow(";"))
    except Exception as error:  # whatever the reason, this connection cannot serve
        raise exc.InvalidatePoolError(type(error).__name__) from error
    record.info["used_at"] = time.monotonic()


def create_engine(settings: Settings) -> AsyncEngine:
    """Engine with the pool and per-connection timeouts of the settings."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.connect_timeout_s,
            "command_timeout": settings.statement_timeout_ms / 1000 + 5
            if settings.statement_timeout_ms
            else None,
            "server_settings": {
                "application_name": "borderwatch",
                "statement_timeout": str(settings.statement_timeout_ms),
                **SESSION_SETTINGS,
            },
        },
    )
    pool = engine.sync_engine.pool
    event.listen(pool, "connect", _note_use)  # a new connection needs no ping
    event.listen(pool, "checkin", _note_use)
    event.listen(pool, "checkout", _alive)
    return engine


def create_probe_pool(settings: Settings) -> asyncpg.Pool:
    """A two-connection asyncpg pool for one-row checks on hot paths (the data version).

    Connections are made lazily (min_size=0), so the app starts while PostgreSQL is away.
    """
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    return asyncpg.create_pool(
        dsn.render_as_string(hide_password=False),
        min_size=0,
        max_size=2,
        timeout=settings.connect_timeout_s,
        command_timeout=settings.readiness_timeout_s,
        max_inactive_connection_lifetime=300,
        server_settings={"application_name": "borderwatch-probe"},
    )


async def _keep_as_is(_: asyncpg.Connection) -> None:
    """No reset between uses: the reads leave no session state (no SET, LISTEN, advisory
    lock or cursor; transactions are closed by their context managers), and asyncpg's reset
    would cost a round trip per request."""


def create_read_pool(settings: Settings) -> asyncpg.Pool:
    """An asyncpg pool for hot reads that need no ORM (the statistics): one round trip per
    statement, prepared statements cached per connection, the engine's timeouts."""
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    timeout = settings.statement_timeout_ms
    return asyncpg.create_pool(
        dsn.render_as_string(hide_password=False),
        min_size=0,
        max_size=settings.pool_size,
        timeout=settings.connect_timeout_s,
        command_timeout=timeout / 1000 + 5 if timeout else None,
        max_inactive_connection_lifetime=300,
        reset=_keep_as_is,
        server_settings={
            "application_name": "borderwatch-reads",
            "statement_timeout": str(timeout),
            **SESSION_SETTINGS,
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory; objects stay readable after commit for the response."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, from the sessionmaker that the lifespan put on the app."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    session = maker()
    try:
        yield session
    finally:
        # Closing rolls back what is left open. When the connection died meanwhile, that
        # fails; the answer was decided (and may be on its way) already, so the failure
        # must not become a second answer. The pool discards the dead connection.
        try:
            await session.close()
        except (exc.DBAPIError, *UNAVAILABLE) as error:
            log.warning("closing a session on a lost connection: %s", type(error).__name__)


SessionDep = Annotated[AsyncSession, Depends(get_session)]


# Errors that mean the database cannot answer now (503), not that the question is wrong.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.QueryCanceledError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    # A connection ended in the middle of an operation can leave asyncpg's protocol in a
    # state it reports this way ("cannot switch to state 12; another operation is in progress").
    asyncpg.InternalClientError,
)


@asynccontextmanager
async def read_connection(request: Request, session: AsyncSession) -> AsyncIterator[Any]:
    """An asyncpg connection for a read: the session's when it is bound to a connection or in
    a transaction (its snapshot: a test's transaction, a read after a write, a key looked
    up), else one from the app's read pool. 503 when the database is away or too slow."""
    try:
        if session.in_transaction() or isinstance(session.bind, AsyncConnection):
            raw = await (await session.connection()).get_raw_connection()
            yield raw.driver_connection
        else:
            async with request.app.state.reads.acquire() as conn:
                yield conn
    except UNAVAILABLE as exc:
        raise unavailable(
            f"The database is not reachable or busy ({type(exc).__name__}).",
            request.app.state.settings.retry_after_s,
        ) from None
