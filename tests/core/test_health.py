"""Liveness and readiness, including a database that goes away and comes back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.migrations import head_revision
from app.main import create_app
from tests.support.dbutil import throwaway_database
from tests.support.polling import eventually
from tests.support.tcpproxy import TcpProxy


async def test_healthz_answers_ok(client: AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_readyz_is_ready_at_head(client: AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["migration"] == head_revision()


@asynccontextmanager
async def served(database_url: str) -> AsyncIterator[AsyncClient]:
    """A separate app (own engine and pool) on database_url, with its lifespan running."""
    settings = Settings(
        database_url=database_url,
        connect_timeout_s=1,
        readiness_timeout_s=1,
        pool_timeout_s=1,
        pool_size=2,
        max_overflow=0,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def _wait_for(client: AsyncClient, path: str, status: int, within_s: float) -> None:
    async def answers() -> bool:
        r = await client.get(path)
        assert r.status_code == status, f"{path} still {r.status_code}"
        return True

    await eventually(answers, timeout=within_s, interval=0.2)


async def test_readyz_503_while_database_is_down_and_200_after_it_returns(
    database_url: str,
) -> None:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with served(proxied) as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/v1/provinces")).status_code == 200  # pool holds a conn
            assert (await client.get("/v1/incidents")).status_code == 200  # so does the read pool

            await proxy.stop()  # PostgreSQL "goes away": listener closed, sockets dropped
            await _wait_for(client, "/readyz", 503, within_s=5)
            r = await client.get("/readyz")
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers["retry-after"].isdigit()
            stats_down = await client.get("/v1/stats/fatalities")  # the cache's own check
            assert stats_down.status_code == 503
            assert stats_down.headers["content-type"] == "application/problem+json"
            for url in ("/v1/incidents", "/v1/incidents?province=PK-KP&perpetrator=ttp"):
                list_down = await client.get(url)  # the list's fast lane and read pool
                assert list_down.status_code == 503, list_down.text
                assert list_down.headers["content-type"] == "application/problem+json"
                assert list_down.headers["retry-after"].isdigit()
            down = await client.get("/v1/provinces")
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            assert "retry-after" in down.headers
            assert (await client.get("/healthz")).status_code == 200  # alive all the same

            await proxy.start()  # it comes back; the app recovers with no restart
            await _wait_for(client, "/readyz", 200, within_s=10)
            assert (await client.get("/v1/provinces")).status_code == 200
            assert (await client.get("/v1/incidents")).status_code == 200
    finally:
        await proxy.stop()


async def test_readyz_503_when_migrations_are_behind_head() -> None:
    async with throwaway_database(migrate_to="0001_schema") as url, served(url) as client:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert "0001_schema" in r.json()["detail"] and head_revision() in r.json()["detail"]
