"""Keys and the public-read switch: with BW_PUBLIC_READ=false every read needs a valid key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.service import create_key
from app.core.config import Settings
from app.core.db import get_session
from app.main import create_app


@pytest.fixture
async def private_client(settings: Settings, db: AsyncSession) -> AsyncIterator[AsyncClient]:
    app = create_app(settings.model_copy(update={"public_read": False}))

    async def test_session() -> AsyncIterator[AsyncSession]:
        yield db

    app.dependency_overrides[get_session] = test_session
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def test_public_reads_need_no_key(client: AsyncClient) -> None:
    assert (await client.get("/v1/crossings")).status_code == 200


async def test_private_reads_without_a_key_are_401_with_www_authenticate(
    private_client: AsyncClient,
) -> None:
    r = await private_client.get("/v1/crossings")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"] == "application/problem+json"
    assert (await private_client.get("/healthz")).status_code == 200  # probes stay open


@pytest.mark.parametrize("header", ["Bearer bw_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_bad_keys_are_401_even_when_reads_are_public(
    client: AsyncClient, header: str
) -> None:
    r = await client.get("/v1/provinces", headers={"Authorization": header})
    assert r.status_code == 401
    assert "www-authenticate" in r.headers


async def test_a_reader_key_reads_and_a_revoked_one_does_not(
    private_client: AsyncClient, db: AsyncSession
) -> None:
    key, secret = await create_key(db, "reader one", "reader")
    auth = {"Authorization": f"Bearer {secret}"}
    assert (await private_client.get("/v1/provinces", headers=auth)).status_code == 200
    await db.execute(update(ApiKey).where(ApiKey.id == key.id).values(revoked_at=datetime.now(UTC)))
    assert (await private_client.get("/v1/provinces", headers=auth)).status_code == 401


async def test_keys_are_random_prefixed_and_stored_only_as_a_hash(db: AsyncSession) -> None:
    (a, secret_a), (b, secret_b) = [await create_key(db, n, "analyst") for n in ("a", "b")]
    assert secret_a != secret_b and secret_a.startswith("bw_")
    assert len(secret_a) >= 43 + 3  # 256 random bits, URL-safe base64
    row = (await db.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": a.id})).one()
    stored = " ".join(v.hex() if isinstance(v, bytes) else str(v) for v in row)
    assert secret_a not in stored and secret_a[12:] not in stored
    assert len(a.key_hash) == 32 and b.key_hash != a.key_hash


def _security(doc: dict[str, Any], method: str, path: str) -> list[dict[str, list[str]]]:
    return doc["paths"][path][method]["security"]  # type: ignore[no-any-return]


async def test_openapi_has_a_bearer_scheme_optional_on_public_reads(client: AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer bw_…`",
    }
    bearer = {"HTTPBearer": []}
    for path in ("/v1/incidents", "/v1/stats/fatalities", "/v1/exports/incidents", "/v1/groups"):
        assert _security(doc, "get", path) == [{}, bearer], path
    assert _security(doc, "post", "/v1/incidents") == [bearer]
    assert _security(doc, "patch", "/v1/incidents/{incident_id}") == [bearer]
    assert _security(doc, "get", "/v1/api-keys") == [bearer]
    assert "security" not in doc["paths"]["/healthz"]["get"]


async def test_openapi_of_a_private_server_asks_a_key_for_reads(
    private_client: AsyncClient,
) -> None:
    doc = (await private_client.get("/openapi.json")).json()
    assert _security(doc, "get", "/v1/incidents") == [{"HTTPBearer": []}]


async def test_a_keys_last_use_is_recorded_at_most_once_a_minute() -> None:
    from sqlalchemy import text

    from tests.support.dbutil import committed_site
    from tests.support.polling import eventually

    async with committed_site() as site:
        engine = site.app.state.engine

        async def last_used() -> object:
            async with engine.connect() as conn:
                return (
                    await conn.execute(
                        text("SELECT last_used_at FROM api_keys WHERE name = 'site analyst'")
                    )
                ).scalar()

        assert await last_used() is None
        assert (await site.client.get("/v1/provinces", headers=site.analyst)).status_code == 200
        first = await eventually(last_used, what="last_used_at written")
        for _ in range(3):
            assert (await site.client.get("/v1/groups", headers=site.analyst)).status_code == 200
        assert await last_used() == first  # within the minute, not written again
        listed = (await site.client.get("/v1/api-keys", headers=site.editor)).status_code
        assert listed == 403
