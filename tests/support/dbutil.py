"""Throwaway PostGIS databases for tests: cloned from this run's migrated template (or, for
tests that need a database below head, from the provisioned PostGIS one), dropped after."""

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

# Name of the database run_template() migrated for this run; None outside it.
_run_template: str | None = None


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


def _url_of(database: str) -> str:
    return make_url(admin_url()).set(database=database).render_as_string(hide_password=False)


@asynccontextmanager
async def _admin() -> AsyncIterator[asyncpg.Connection]:
    """A connection to the server's own database, for CREATE and DROP DATABASE."""
    conn = await asyncpg.connect(_dsn(admin_url()))
    try:
        yield conn
    finally:
        await conn.close()


async def _clone(conn: asyncpg.Connection, name: str, template: str) -> None:
    """CREATE DATABASE name TEMPLATE template, saying who is in the way when PostgreSQL refuses
    because a session is connected to the template (it waits 5 s for them to leave first)."""
    try:
        # Identifiers cannot be bound; every name here is generated or configured.
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    except asyncpg.ObjectInUseError as e:
        sessions = await conn.fetch(
            "SELECT pid, usename, application_name, client_addr, state, left(query, 60) AS query"
            " FROM pg_stat_activity WHERE datname = $1",
            template,
        )
        raise RuntimeError(
            f"cannot clone template database {template!r}: PostgreSQL copies a database only "
            f"while nobody is connected to it. Sessions on it now: "
            f"{[dict(s) for s in sessions] or 'none left (they were leaving)'}. Close or "
            f"dispose whatever connects to {template!r}."
        ) from e


async def _postgis_database(name: str) -> None:
    """A new database with PostGIS and nothing else: a clone of the provisioned PostGIS template
    ($BW_TEST_TEMPLATE, default <database>_template), or an empty one we add PostGIS to."""
    base_db = make_url(admin_url()).database or "postgres"
    template = os.environ.get("BW_TEST_TEMPLATE", f"{base_db}_template")
    async with _admin() as conn:
        has_template = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", template
        )
        if has_template:
            await _clone(conn, name, template)
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    if not has_template:
        try:
            conn = await asyncpg.connect(_dsn(admin_url(), name))
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            finally:
                await conn.close()
        except BaseException:
            await _drop(name)
            raise


async def _drop(name: str) -> None:
    """DROP DATABASE … WITH (FORCE), waiting out an autovacuum worker: PostgreSQL runs it as
    the bootstrap superuser, which a non-superuser may not terminate (InsufficientPrivilege),
    and it leaves by itself once its table is done."""
    async with _admin() as conn:
        for attempt in range(120):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                if attempt == 119:
                    raise
                await asyncio.sleep(0.5)


@asynccontextmanager
async def run_template() -> AsyncIterator[str]:
    """This run's template: one database migrated to head once, which throwaway_database()
    clones; dropped at the end. Its name is unique, so runs sharing a server never clone,
    migrate or drop each other's."""
    global _run_template
    name = f"bw_tmpl_{uuid.uuid4().hex[:12]}"
    await _postgis_database(name)
    try:
        await asyncio.to_thread(schema.upgrade, _url_of(name), "head")
        # A session on a template makes every CREATE DATABASE from it fail: refuse them all.
        # (The migration's engine uses NullPool and is disposed, so none is left from it.)
        async with _admin() as conn:
            await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        _run_template = name
        yield name
    finally:
        _run_template = None
        await _drop(name)


@asynccontextmanager
async def throwaway_database(migrate_to: str | None = "head") -> AsyncIterator[str]:
    """A new database with PostGIS, migrated to `migrate_to` (None: not at all); its URL.
    At head it is a clone of this run's template, so no migration runs again."""
    name = f"bw_test_{uuid.uuid4().hex[:12]}"
    if migrate_to == "head":
        if _run_template is None:
            raise RuntimeError(
                "no run template: throwaway_database() at head needs the session fixture "
                "migrated_template of tests/conftest.py (or `async with run_template():`)."
            )
        async with _admin() as conn:
            await _clone(conn, name, _run_template)
    else:
        await _postgis_database(name)
    try:
        url = _url_of(name)
        if migrate_to not in (None, "head"):
            await asyncio.to_thread(schema.upgrade, url, migrate_to)
        yield url
    finally:
        await _drop(name)


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
