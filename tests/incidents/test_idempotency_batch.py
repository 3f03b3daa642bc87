"""Idempotent retries and all-or-nothing batches."""

from __future__ import annotations

import json
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.models import Incident
from tests.support.keys import Keys
from tests.support.payloads import incident


async def count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Incident)) or 0)


def body(**over: Any) -> bytes:
    return json.dumps(incident(**over)).encode()


async def post(
    client: AsyncClient,
    headers: dict[str, str],
    content: bytes,
    key: str | None,
    path: str = "/v1/incidents",
):  # type: ignore[no-untyped-def]
    h = {**headers, "Content-Type": "application/json"}
    if key is not None:
        h["Idempotency-Key"] = key
    return await client.post(path, content=content, headers=h)


async def test_same_key_and_body_replays_the_first_response(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await count(db)
    first = await post(client, keys.analyst, body(), "retry-1")
    second = await post(client, keys.analyst, body(), "retry-1")
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count(db) == before + 1


async def test_same_key_with_another_body_is_422(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    await post(client, keys.analyst, body(), "retry-2")
    before = await count(db)
    r = await post(client, keys.analyst, body(place_name="elsewhere"), "retry-2")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await count(db) == before


async def test_keys_are_scoped_to_the_api_key(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await count(db)
    a = await post(client, keys.analyst, body(), "shared-name")
    b = await post(client, keys.analyst2, body(), "shared-name")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers
    assert await count(db) == before + 2


async def test_keys_expire_after_24_hours(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    first = await post(client, keys.analyst, body(), "old-key")
    # now() is the test transaction's start, the same instant the stored row's default saw.
    row = await db.execute(
        text("SELECT expires_at - now() AS ttl FROM idempotency_keys WHERE key = 'old-key'")
    )
    assert row.scalar_one().total_seconds() == 24 * 3600
    await db.execute(
        text(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 hour'"
            " WHERE key = 'old-key'"
        )
    )
    again = await post(client, keys.analyst, body(place_name="new request"), "old-key")
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]


async def test_a_request_that_fails_validation_does_not_use_up_the_key(
    client: AsyncClient,
    keys: Keys,
) -> None:
    bad = await post(client, keys.analyst, body(district="quetta"), "fix-and-retry")
    assert bad.status_code == 422
    good = await post(client, keys.analyst, body(), "fix-and-retry")
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


async def test_any_bad_idempotency_key_is_a_422_naming_the_header(
    client: AsyncClient, keys: Keys
) -> None:
    for bad in ("has spaces in it", "x" * 256, "tab\there", ""):
        r = await post(client, keys.analyst, body(), bad)
        assert r.status_code == 422, (bad, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]


def batch(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"incidents": list(rows)}


async def test_batch_stores_every_incident_in_order(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await count(db)
    rows = [incident(place_name=f"site {n}") for n in range(25)]
    r = await client.post("/v1/incidents:batch", json=batch(*rows), headers=keys.analyst)
    assert r.status_code == 201, r.text
    items = r.json()["items"]
    assert [i["place_name"] for i in items] == [f"site {n}" for n in range(25)]
    assert len({i["id"] for i in items}) == 25
    assert await count(db) == before + 25
    assert (await client.get(f"/v1/incidents/{items[3]['id']}")).json() == items[3]


async def test_batch_with_bad_rows_lists_each_and_stores_nothing(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await count(db)
    rows = [incident() for _ in range(10)]
    rows[1]["occurred_on"] = "1999-01-01"
    rows[4]["casualties"] = [{"category": "police", "killed": -1}]
    rows[4]["district"] = "quetta"
    rows[7]["killed_total"] = 5
    r = await client.post("/v1/incidents:batch", json=batch(*rows), headers=keys.analyst)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {
        "incidents.1.occurred_on",
        "incidents.4.casualties.0.killed",
        "incidents.4.district",  # shape and reference errors in one answer
        "incidents.7.killed_total",
    }
    assert "3 of 10" in r.json()["detail"]
    assert await count(db) == before


async def test_batch_rule_errors_name_row_and_field(client: AsyncClient, keys: Keys) -> None:
    rows = [incident(), incident(district="quetta"), incident(perpetrator="spectre")]
    r = await client.post("/v1/incidents:batch", json=batch(*rows), headers=keys.analyst)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "incidents.1.district",
        "incidents.2.perpetrator",
    }


async def test_batch_size_is_bounded(client: AsyncClient, keys: Keys) -> None:
    empty = await client.post("/v1/incidents:batch", json=batch(), headers=keys.analyst)
    assert empty.status_code == 422
    tiny = {"occurred_on": "2023-01-01"}
    over = await client.post(
        "/v1/incidents:batch", json={"incidents": [tiny] * 5001}, headers=keys.analyst
    )
    assert over.status_code == 422
    assert over.json()["errors"][0]["field"] == "incidents"


async def test_batch_needs_an_analyst(client: AsyncClient, keys: Keys) -> None:
    r = await client.post("/v1/incidents:batch", json=batch(incident()), headers=keys.reader)
    assert r.status_code == 403
    assert (await client.post("/v1/incidents:batch", json=batch(incident()))).status_code == 401


async def test_batch_honours_idempotency_keys(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    content = json.dumps(batch(incident(), incident(place_name="b"))).encode()
    before = await count(db)
    first = await post(client, keys.analyst, content, "batch-1", "/v1/incidents:batch")
    second = await post(client, keys.analyst, content, "batch-1", "/v1/incidents:batch")
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert await count(db) == before + 2


async def test_batch_body_may_exceed_one_mebibyte(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    rows = [incident(description="d" * 5000) for _ in range(300)]  # about 1.9 MB
    r = await client.post("/v1/incidents:batch", json=batch(*rows), headers=keys.analyst)
    assert r.status_code == 201
    assert len(r.json()["items"]) == 300
