"""Alembic environment: runs migrations over the app's async engine (asyncpg)."""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import app.main  # noqa: F401  (registers every model)
from app.core.config import Settings, to_asyncpg_url
from app.core.db import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # A URL set on the Config (tests, CLI) wins over the environment.
    url = config.get_main_option("sqlalchemy.url")
    return to_asyncpg_url(url) if url else Settings().database_url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (alembic upgrade --sql)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, transaction_per_migration=True
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    """Run the migrations on one connection of a throwaway async engine."""
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
