"""Every rule of SPEC "Incident": a bad payload gets a 422 problem naming the field, and
nothing is stored."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi
from app.incidents.models import Incident
from tests.support.keys import Keys
from tests.support.payloads import incident


async def count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Incident)) or 0)


def casualties(*rows: tuple[str, Any, Any]) -> list[dict[str, Any]]:
    return [{"category": c, "killed": k, "injured": i} for c, k, i in rows]


TOMORROW = (today_karachi() + timedelta(days=1)).isoformat()

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("before 2001", {"occurred_on": "2000-12-31"}, "occurred_on"),
    ("tomorrow in Karachi", {"occurred_on": TOMORROW}, "occurred_on"),
    ("date as a number", {"occurred_on": 20230130}, "occurred_on"),
    ("not a date", {"occurred_on": "2023-02-30"}, "occurred_on"),
    ("a datetime for a date", {"occurred_on": "2023-01-30T00:00:00"}, "occurred_on"),
    (
        "east of the region",
        {"location": {"type": "Point", "coordinates": [78.5, 34.0]}},
        "location.coordinates",
    ),
    (
        "south of the region",
        {"location": {"type": "Point", "coordinates": [70.0, 22.9]}},
        "location.coordinates",
    ),
    (
        "lat/lon swapped",
        {"location": {"type": "Point", "coordinates": [34.0131, 71.5594]}},
        "location.coordinates",
    ),
    (
        "coordinates as strings",
        {"location": {"type": "Point", "coordinates": ["71.5", "34"]}},
        "location.coordinates",
    ),
    (
        "three coordinates",
        {"location": {"type": "Point", "coordinates": [71.5, 34.0, 10]}},
        "location.coordinates",
    ),
    (
        "not a point",
        {"location": {"type": "LineString", "coordinates": [71.5, 34.0]}},
        "location.type",
    ),
    ("negative count", {"casualties": casualties(("police", -1, 0))}, "casualties.0.killed"),
    (
        "count over 10,000",
        {"casualties": casualties(("police", 1, 0), ("civilians", 10001, 0))},
        "casualties.1.killed",
    ),
    ("fractional count", {"casualties": casualties(("police", 1.5, 0))}, "casualties.0.killed"),
    ("count as a string", {"casualties": casualties(("police", "5", 0))}, "casualties.0.killed"),
    ("count as a boolean", {"casualties": casualties(("police", 1, True))}, "casualties.0.injured"),
    (
        "injured over 10,000",
        {"casualties": casualties(("police", 0, 10001))},
        "casualties.0.injured",
    ),
    ("unknown category", {"casualties": casualties(("tourists", 1, 0))}, "casualties.0.category"),
    (
        "repeated category",
        {"casualties": casualties(("police", 1, 0), ("police", 2, 0)), "fatality_range": None},
        "casualties.1.category",
    ),
    ("range below the toll", {"fatality_range": {"low": 90, "high": 101}}, "fatality_range"),
    ("range above the toll", {"fatality_range": {"low": 10, "high": 20}}, "fatality_range"),
    ("range upside down", {"fatality_range": {"low": 101, "high": 84}}, "fatality_range"),
    ("no source", {"sources": []}, "sources"),
    ("ftp source", {"sources": [{"url": "ftp://files.example.org/report.pdf"}]}, "sources.0.url"),
    ("javascript source", {"sources": [{"url": "javascript:alert(1)"}]}, "sources.0.url"),
    ("source without host", {"sources": [{"url": "https://"}]}, "sources.0.url"),
    ("URL ending in a newline", {"sources": [{"url": "https://dawn.com/x\n"}]}, "sources.0.url"),
    ("unknown province", {"province": "PK-XX", "district": None}, "province"),
    ("malformed province", {"province": "Khyber", "district": None}, "province"),
    ("unknown district", {"district": "atlantis"}, "district"),
    ("district of another province", {"district": "quetta"}, "district"),
    ("unknown group", {"perpetrator": "spectre"}, "perpetrator"),
    ("unknown crossing", {"crossing": "khunjerab"}, "crossing"),
    ("unknown attack type", {"attack_type": "drive_by"}, "attack_type"),
    ("unknown target type", {"target_type": "aliens"}, "target_type"),
    ("unknown kind", {"kind": "war"}, "kind"),
    ("unknown status", {"status": "deleted"}, "status"),
    ("NUL in place name", {"place_name": "Police\x00Lines"}, "place_name"),
    ("NUL in description", {"description": "a\x00b"}, "description"),
    ("lone surrogate in place name", {"place_name": "\ud800"}, "place_name"),
    (
        "NUL in a source title",
        {"sources": [{"url": "https://dawn.com/x", "title": "\x00"}]},
        "sources.0.title",
    ),
    ("bad tag", {"tags": ["Mosque Attack"]}, "tags.0"),
    ("unknown field", {"severity": "high"}, "severity"),
    ("client-chosen id", {"id": "my-own-id"}, "id"),
    ("client-computed total", {"killed_total": 84}, "killed_total"),
    ("client-set version", {"version": 7}, "version"),
    ("client-set owner", {"created_by": 1}, "created_by"),
    ("client-set timestamp", {"created_at": "2023-01-30T00:00:00Z"}, "created_at"),
]


@pytest.mark.parametrize(("override", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_incident_is_a_422_naming_the_field_and_stores_nothing(
    client: AsyncClient,
    db: AsyncSession,
    keys: Keys,
    override: dict[str, Any],
    field: str,
) -> None:
    before = await count(db)
    # json.dumps escapes non-ASCII, so even a lone surrogate travels as valid JSON.
    r = await client.post(
        "/v1/incidents",
        content=json.dumps(incident(**override)),
        headers={**keys.analyst, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert field in [e["field"] for e in body["errors"]], body["errors"]
    assert body["type"].endswith("/validation-error")
    assert await count(db) == before


async def test_missing_required_fields_are_each_named(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    body = incident()
    for name in ("occurred_on", "location", "province", "attack_type", "target_type", "sources"):
        del body[name]
    r = await client.post("/v1/incidents", json=body, headers=keys.analyst)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "occurred_on",
        "location",
        "province",
        "attack_type",
        "target_type",
        "sources",
    }


async def test_server_owned_fields_are_refused_with_a_message_that_says_so(
    client: AsyncClient,
    keys: Keys,
) -> None:
    r = await client.post(
        "/v1/incidents", json=incident(killed_total=1, version=2), headers=keys.analyst
    )
    assert r.status_code == 422
    messages = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert messages == {
        "killed_total": "is set by the server and cannot be sent",
        "version": "is set by the server and cannot be sent",
    }


async def test_malformed_json_is_a_400_problem(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await count(db)
    r = await client.post(
        "/v1/incidents",
        content=b'{"occurred_on": "2023-01-30",',
        headers={**keys.analyst, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert await count(db) == before


async def test_a_body_that_is_not_an_object_is_a_422(client: AsyncClient, keys: Keys) -> None:
    r = await client.post("/v1/incidents", json=[1, 2, 3], headers=keys.analyst)
    assert r.status_code == 422


async def test_body_over_one_mebibyte_is_a_413_problem(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await count(db)
    r = await client.post(
        "/v1/incidents", json=incident(description="x" * (1024 * 1024)), headers=keys.analyst
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert await count(db) == before


async def test_chunked_body_over_the_limit_is_a_413_too(client: AsyncClient, keys: Keys) -> None:
    async def chunks():  # no Content-Length: the limit is counted as the bytes arrive
        yield b'{"description": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    r = await client.post(
        "/v1/incidents",
        content=chunks(),
        headers={**keys.analyst, "Content-Type": "application/json"},
    )
    assert r.status_code == 413


async def test_a_field_name_no_encoding_can_hold_is_still_a_clean_422(
    client: AsyncClient,
    keys: Keys,
) -> None:
    created = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    body = b'{"\\ud800": 1}'  # a lone surrogate: valid JSON, not encodable as UTF-8
    for method, url, extra in [
        ("POST", "/v1/incidents", {"Content-Type": "application/json"}),
        (
            "PATCH",
            created.headers["location"],
            {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
        ),
    ]:
        r = await client.request(method, url, content=body, headers={**keys.analyst, **extra})
        assert r.status_code == 422, (method, r.text)
        assert r.headers["content-type"] == "application/problem+json"


async def test_json_nested_too_deep_is_a_400_malformed_json(
    client: AsyncClient, keys: Keys
) -> None:
    body = b"[" * 5000 + b"]" * 5000
    r = await client.post(
        "/v1/incidents", content=body, headers={**keys.analyst, "Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422)
    assert r.headers["content-type"] == "application/problem+json"


async def test_batch_lists_rows_that_are_not_objects_with_the_other_bad_rows(
    client: AsyncClient,
    db: AsyncSession,
    keys: Keys,
) -> None:
    before = await count(db)
    rows = [incident(), 5, incident(occurred_on="1999-01-01"), incident(district="quetta"), None]
    r = await client.post("/v1/incidents:batch", json={"incidents": rows}, headers=keys.analyst)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "incidents.1",
        "incidents.2.occurred_on",
        "incidents.3.district",
        "incidents.4",
    }
    assert await count(db) == before


async def test_only_the_batch_endpoint_takes_large_bodies(client: AsyncClient, keys: Keys) -> None:
    r = await client.patch(
        "/v1/incidents/x:batch",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={**keys.analyst, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
