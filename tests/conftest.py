"""Fixtures: one PostGIS database migrated per run and cloned for each database a test needs at
head, each test in a transaction rolled back after, and an httpx client over the real ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import get_session
from app.main import create_app
from tests.support.dbutil import run_template, throwaway_database
from tests.support.keys import Keys


@pytest.fixture(scope="session", autouse=True)
async def migrated_template() -> AsyncIterator[str]:
    """This run's database migrated to head, which every throwaway_database() at head clones
    (committed sites and the stats machine included); dropped when the run ends."""
    async with run_template() as name:
        yield name


@pytest.fixture(scope="session")
async def database_url(migrated_template: str) -> AsyncIterator[str]:
    """URL of this run's database, migrated to head; dropped when the run ends."""
    async with throwaway_database() as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    """Settings of the app under test."""
    # No statistics cache here: it keys answers by the committed data version, and these
    # tests write in a transaction that never commits. The cache is tested where requests
    # commit (test_concurrency.py, test_stats_machine.py).
    return Settings(database_url=database_url, pool_size=5, max_overflow=5, stats_cache=False)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with its real lifespan (engine up, then down)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def db(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test; commits become
    savepoints, so the app under test can commit as it would in production."""
    async with app.state.engine.connect() as conn:
        transaction = await conn.begin()
        session = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        savepoint_commit = session.commit

        async def commit() -> None:
            # A COMMIT runs the deferred triggers (the checks, and the numbering of the
            # revisions and the rollups, migration 0005_changes_at_commit); releasing a
            # savepoint does not, so run them here as the commit would.
            try:
                await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
                await session.execute(text("SET CONSTRAINTS ALL DEFERRED"))
            except Exception:
                await session.rollback()  # as a failed COMMIT leaves nothing behind
                raise
            await savepoint_commit()

        session.commit = commit  # type: ignore[method-assign]
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture
async def client(app: FastAPI, db: AsyncSession) -> AsyncIterator[AsyncClient]:
    """httpx over ASGI against the app, every request on the test's rolled-back session."""

    async def test_session() -> AsyncIterator[AsyncSession]:
        yield db

    app.dependency_overrides[get_session] = test_session
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            yield c
    finally:
        app.dependency_overrides.pop(get_session, None)


@pytest.fixture
async def keys(db: AsyncSession) -> Keys:
    """Keys named reader, analyst, analyst2, editor and admin."""
    from app.auth.service import create_key

    headers, ids = {}, {}
    for name, role in [
        ("reader", "reader"),
        ("analyst", "analyst"),
        ("analyst2", "analyst"),
        ("editor", "editor"),
        ("admin", "admin"),
    ]:
        key, secret = await create_key(db, name, role)
        headers[name] = {"Authorization": f"Bearer {secret}"}
        ids[name] = key.id
    return Keys(headers, ids)
