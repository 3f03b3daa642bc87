"""Throwaway PostGIS databases for tests: created from the provisioned template, dropped after."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from app.core import migrations as schema
from app.core.config import to_asyncpg_url


def admin_url() -> str:
    """The URL the test run may create databases with (BW_TEST_DATABASE_URL or DATABASE_URL)."""
    url = (
        os.environ.get("BW_TEST_DATABASE_URL")
        or os.environ.get("BW_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise RuntimeError(
            "Set BW_TEST_DATABASE_URL (scripts/test.sh does) to a PostGIS server the tests may "
            "create databases on."
        )
    return to_asyncpg_url(url)


def _dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


@asynccontextmanager
async def throwaway_database(migrate_to: str | None = "head") -> AsyncIterator[str]:
    """A new database with PostGIS, migrated to `migrate_to` (None: not at all); its URL."""
    base = admin_url()
    base_db = make_url(base).database or "postgres"
    name = f"bw_test_{uuid.uuid4().hex[:12]}"
    template = os.environ.get("BW_TEST_TEMPLATE", f"{base_db}_template")
    conn = await asyncpg.connect(_dsn(base))
    try:
        has_template = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", template
        )
        # Identifiers cannot be bound; both names are generated or configured above.
        if has_template:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        if not has_template:
            conn = await asyncpg.connect(_dsn(url))
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            finally:
                await conn.close()
        if migrate_to:
            await asyncio.to_thread(schema.upgrade, url, migrate_to)
        yield url
    finally:
        conn = await asyncpg.connect(_dsn(base))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass
class Site:
    """The real app on a database of its own where every request commits, as in
    production: for races, caches and exports, which a rolled-back test cannot show."""

    app: Any
    client: AsyncClient
    analyst: dict[str, str]
    editor: dict[str, str]
    url: str


@asynccontextmanager
async def committed_site(**settings: Any) -> AsyncIterator[Site]:
    """A throwaway database, the app on it (lifespan running), an analyst and an editor key."""
    from app.auth.service import create_key
    from app.core.config import Settings
    from app.main import create_app

    async with throwaway_database() as url:
        app = create_app(Settings(database_url=url, **settings))
        async with app.router.lifespan_context(app):
            async with app.state.sessionmaker() as session:
                _, analyst = await create_key(session, "site analyst", "analyst")
                _, editor = await create_key(session, "site editor", "editor")
                await session.commit()
            async with AsyncClient(
                transport=ASGITransport(app=app), base_url="http://test"
            ) as client:
                yield Site(
                    app,
                    client,
                    {"Authorization": f"Bearer {analyst}"},
                    {"Authorization": f"Bearer {editor}"},
                    url,
                )
