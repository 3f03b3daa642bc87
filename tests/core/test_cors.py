"""CORS for browser dashboards on other origins: preflights, exposed headers, a configured
list of origins, and error answers that carry the CORS headers too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Headers
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import get_session
from app.main import create_app

DASHBOARD = "https://dashboard.example.org"
EXPOSED = {"etag", "x-data-version", "location", "link"}


def exposed(headers: Headers) -> set[str]:
    return {h.strip().lower() for h in headers["access-control-expose-headers"].split(",")}


async def test_preflight_allows_the_api_methods_and_headers(client: AsyncClient) -> None:
    r = await client.options(
        "/v1/incidents/abc",
        headers={
            "Origin": DASHBOARD,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match, "
            "if-none-match, idempotency-key",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "if-none-match", "idempotency-key"} <= (
        allowed
    )
    assert "access-control-allow-credentials" not in r.headers


async def test_a_read_from_another_origin_exposes_etag_and_data_version(
    client: AsyncClient,
) -> None:
    r = await client.get("/v1/incidents", headers={"Origin": DASHBOARD})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert exposed(r.headers) >= EXPOSED
    assert "x-data-version" in r.headers


async def test_error_answers_carry_the_cors_headers(client: AsyncClient) -> None:
    origin = {"Origin": DASHBOARD}
    for r in [
        await client.get("/v1/incidents/00000000-0000-0000-0000-000000000000", headers=origin),
        await client.get("/v1/incidents", params={"limit": 501}, headers=origin),
        await client.post("/v1/incidents", json={}, headers=origin),
        await client.post(
            "/v1/incidents",
            content=b"x" * (1024 * 1024 + 1),
            headers={**origin, "Content-Type": "application/json"},
        ),
    ]:
        assert r.status_code in (401, 404, 413, 422), r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["access-control-allow-origin"] == "*", r.status_code
        assert exposed(r.headers) >= EXPOSED


@pytest.fixture
async def listed(
    settings: Settings, db: AsyncSession
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """The app with BW_CORS_ORIGINS naming two origins."""
    app = create_app(
        settings.model_copy(update={"cors_origins": f"{DASHBOARD}, https://maps.example.org/"})
    )

    async def test_session() -> AsyncIterator[AsyncSession]:
        yield db

    app.dependency_overrides[get_session] = test_session
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield app, client


async def test_a_listed_origin_is_echoed_and_another_is_not(
    listed: tuple[FastAPI, AsyncClient],
) -> None:
    _, client = listed
    for origin in (DASHBOARD, "https://maps.example.org"):
        r = await client.get("/v1/provinces", headers={"Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin
        assert "Origin" in r.headers["vary"]
    r = await client.get("/v1/provinces", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200  # the browser, not the server, withholds the body
    assert "access-control-allow-origin" not in r.headers
    r = await client.options(
        "/v1/provinces",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "origin" in r.json()["detail"]
    assert "access-control-allow-origin" not in r.headers


async def test_an_unexpected_error_is_a_500_problem_with_cors_headers(
    listed: tuple[FastAPI, AsyncClient],
) -> None:
    app, client = listed

    async def boom() -> None:
        raise RuntimeError("secret detail that must not leak")

    app.add_api_route("/boom", boom)
    r = await client.get("/boom", headers={"Origin": DASHBOARD})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/problems/internal-error"
    assert "secret" not in r.text
    assert r.headers["access-control-allow-origin"] == DASHBOARD


async def test_an_empty_origin_list_turns_cors_off(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ""}))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        r = await client.get("/healthz", headers={"Origin": DASHBOARD})
    assert "access-control-allow-origin" not in r.headers
