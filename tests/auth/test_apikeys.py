"""Admins manage API keys over HTTP; keys are shown once and every change is audited."""

from __future__ import annotations

import logging

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.core.test_errors import assert_problem
from tests.support.keys import Keys


async def test_admin_creates_lists_and_revokes_keys(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    r = await client.post(
        "/v1/api-keys", json={"name": "new analyst", "role": "analyst"}, headers=keys.admin
    )
    assert r.status_code == 201
    new = r.json()
    secret = new["key"]
    assert secret.startswith(new["prefix"]) and new["role"] == "analyst"

    listed = (await client.get("/v1/api-keys", headers=keys.admin)).json()["items"]
    mine = next(k for k in listed if k["id"] == new["id"])
    assert "key" not in mine and secret not in str(listed)

    auth = {"Authorization": f"Bearer {secret}"}
    assert (
        await client.post("/v1/incidents:batch", json={"incidents": []}, headers=auth)
    ).status_code == 422  # authenticated, then invalid
    assert (await client.delete(f"/v1/api-keys/{new['id']}", headers=keys.admin)).status_code == 204
    assert (
        await client.post("/v1/incidents:batch", json={"incidents": []}, headers=auth)
    ).status_code == 401
    actions = (
        await db.execute(
            text("SELECT action, actor_key_id FROM audit_log WHERE entity_id = :id ORDER BY id"),
            {"id": str(new["id"])},
        )
    ).all()
    assert [(a.action, a.actor_key_id) for a in actions] == [
        ("api_key.create", keys.ids["admin"]),
        ("api_key.revoke", keys.ids["admin"]),
    ]


async def test_only_admins_manage_keys(client: AsyncClient, keys: Keys) -> None:
    for who in ("reader", "analyst", "editor"):
        h = keys.headers[who]
        assert (await client.get("/v1/api-keys", headers=h)).status_code == 403
        assert (
            await client.post("/v1/api-keys", json={"name": "x", "role": "admin"}, headers=h)
        ).status_code == 403
    assert (await client.get("/v1/api-keys")).status_code == 401


async def test_key_requests_are_validated(client: AsyncClient, keys: Keys) -> None:
    r = await client.post("/v1/api-keys", json={"name": "x", "role": "root"}, headers=keys.admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"
    r = await client.post(
        "/v1/api-keys", json={"name": "x", "role": "reader", "key": "mine"}, headers=keys.admin
    )
    assert r.status_code == 422
    assert (await client.delete("/v1/api-keys/999999", headers=keys.admin)).status_code == 404


async def test_a_key_name_with_a_nul_is_a_422_naming_it_before_the_database(
    client: AsyncClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    # The name pattern's `\S` matches NUL, so "\x00" reached PostgreSQL, which refused it:
    # a 422 naming `body` ("breaks a rule of the database") instead of `name`.
    for name in ["\x00", "a\x00", "\x00b c"]:
        with caplog.at_level(logging.WARNING):
            r = await client.post(
                "/v1/api-keys", json={"name": name, "role": "reader"}, headers=keys.admin
            )
        body = assert_problem(r, 422)
        assert [e["field"] for e in body["errors"]] == ["name"], body
        assert "refused a write" not in caplog.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_key_whose_body_is_not_json_is_a_415(
    client: AsyncClient, db: AsyncSession, keys: Keys, content_type: str | None
) -> None:
    # Every other write answers 415 to a body not sent as JSON; this one answered 422.
    headers = {**keys.admin}
    if content_type:
        headers["Content-Type"] = content_type
    before = await db.scalar(text("SELECT count(*) FROM api_keys"))
    r = await client.post(
        "/v1/api-keys", content=b'{"name": "x", "role": "reader"}', headers=headers
    )
    body = assert_problem(r, 415)
    assert body["type"].endswith("/unsupported-media-type")
    assert await db.scalar(text("SELECT count(*) FROM api_keys")) == before
