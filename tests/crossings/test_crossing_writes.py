"""Editors add and correct crossing points: roles, duplicates, fields named in 422s, If-Match,
audit entries, and filters that see a new crossing at once."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.core.test_errors import assert_problem
from tests.support.keys import Keys

MERGE = {"Content-Type": "application/merge-patch+json"}


def new_crossing(**overrides: Any) -> dict[str, Any]:
    """Shaheedano Dand, a Kurram crossing (a fact of the test, not of the seed)."""
    body: dict[str, Any] = {
        "slug": "shaheedano-dand",
        "name": "Shaheedano Dand",
        "location": {"type": "Point", "coordinates": [70.05, 33.95]},
        "province": "PK-KP",
        "district": "kurram",
        "afghan_side": {"name": "Dand-e-Patan", "province": "AF-PIA"},
        "notified_for_trade": False,
        "pedestrians": True,
        "notes": "a test crossing",
    }
    return body | overrides


async def audit_rows(db: AsyncSession, entity_type: str, entity_id: str) -> list[Any]:
    return list(
        await db.execute(
            text(
                "SELECT action, actor_key_id, detail FROM audit_log"
                " WHERE entity_type = :t AND entity_id = :i ORDER BY id"
            ),
            {"t": entity_type, "i": entity_id},
        )
    )


async def test_an_editor_creates_a_crossing_that_reads_back_as_posted(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    body = new_crossing()
    r = await client.post("/v1/crossings", json=body, headers=keys.editor)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/v1/crossings/shaheedano-dand"
    assert r.headers["etag"] == '"1"'
    created = r.json()
    got = await client.get(r.headers["location"])
    assert got.json() == created and got.headers["etag"] == '"1"'
    for field in ("slug", "name", "location", "province", "district", "afghan_side", "notes"):
        assert created[field] == body[field], field
    assert created["pedestrians"] is True and created["notified_for_trade"] is False
    assert created["current_status"] == {"status": "open", "since": None, "reason": None}
    assert created["status_history"] == [] and created["version"] == 1
    listed = (await client.get("/v1/crossings")).json()["items"]
    assert "shaheedano-dand" in {c["slug"] for c in listed}
    (row,) = await audit_rows(db, "crossing", "shaheedano-dand")
    assert row.action == "crossing.created" and row.actor_key_id == keys.ids["editor"]
    assert row.detail["after"]["name"] == "Shaheedano Dand"


async def test_only_editors_create_crossings(client: AsyncClient, keys: Keys) -> None:
    r = await client.post("/v1/crossings", json=new_crossing())
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    for role in ("reader", "analyst"):
        assert_problem(
            await client.post("/v1/crossings", json=new_crossing(), headers=keys.headers[role]), 403
        )
    assert (
        await client.post("/v1/crossings", json=new_crossing(), headers=keys.admin)
    ).status_code == 201


async def test_a_taken_slug_is_a_409(client: AsyncClient, keys: Keys) -> None:
    body = assert_problem(
        await client.post("/v1/crossings", json=new_crossing(slug="torkham"), headers=keys.editor),
        409,
    )
    assert "torkham" in body["detail"]
    torkham = (await client.get("/v1/crossings/torkham")).json()
    assert torkham["name"] == "Torkham"


async def test_bad_fields_are_422s_naming_each(client: AsyncClient, keys: Keys) -> None:
    cases: list[tuple[dict[str, Any], set[str]]] = [
        (new_crossing(province="PK-XX", district=None), {"province"}),
        (new_crossing(province="PK-BA"), {"district"}),  # kurram is in KP
        (new_crossing(district="atlantis"), {"district"}),
        (new_crossing(district="quetta"), {"district"}),  # Balochistan's, not KP's
        (new_crossing(province="AF-NAN", district=None), {"province"}),
        (new_crossing(afghan_side={"name": "x", "province": "AF-ZZ"}), {"afghan_side.province"}),
        (
            new_crossing(location={"type": "Point", "coordinates": [10.0, 50.0]}),
            {"location.coordinates"},
        ),
        (new_crossing(slug="Bad Slug"), {"slug"}),
        (new_crossing(name="  "), {"name"}),
        (new_crossing(version=3), {"version"}),
        (new_crossing(colour="red"), {"colour"}),
        (new_crossing(province="PK-XX", name=""), {"province", "district", "name"}),
    ]
    for payload, fields in cases:
        payload = {k: v for k, v in payload.items() if v is not None}
        body = assert_problem(
            await client.post("/v1/crossings", json=payload, headers=keys.editor), 422
        )
        assert {e["field"] for e in body["errors"]} == fields, (payload, body)
    slugs = {c["slug"] for c in (await client.get("/v1/crossings")).json()["items"]}
    assert "shaheedano-dand" not in slugs


async def test_a_new_crossing_is_a_filter_value_at_once(client: AsyncClient, keys: Keys) -> None:
    # The process's copy of the reference codes is loaded first, without the new crossing.
    assert (await client.get("/v1/incidents", params={"crossing": "torkham"})).status_code == 200
    assert_problem(await client.get("/v1/incidents", params={"crossing": "shaheedano-dand"}), 422)
    assert (
        await client.post("/v1/crossings", json=new_crossing(), headers=keys.editor)
    ).status_code == 201
    r = await client.get("/v1/incidents", params={"crossing": "shaheedano-dand", "radius_km": 50})
    assert r.status_code == 200, r.text
    near = await client.get("/v1/crossings/shaheedano-dand/incidents")
    assert near.status_code == 200 and near.json()["items"] == []


async def test_patch_needs_the_current_version_and_keeps_the_slug(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    url = "/v1/crossings/torkham"
    headers = keys.editor | MERGE
    assert_problem(await client.patch(url, json={"notes": "x"}, headers=headers), 428)
    assert_problem(
        await client.patch(url, json={"notes": "x"}, headers=headers | {"If-Match": "1"}), 400
    )
    for role in ("reader", "analyst"):
        assert_problem(
            await client.patch(
                url, json={"notes": "x"}, headers=keys.headers[role] | MERGE | {"If-Match": '"1"'}
            ),
            403,
        )
    before = (await client.get(url)).json()
    r = await client.patch(
        url,
        json={"notes": "busiest crossing", "afghan_side": {"name": None}, "pedestrians": False},
        headers=headers | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    after = r.json()
    assert after["version"] == 2 and after["notes"] == "busiest crossing"
    assert after["afghan_side"] == {"name": None, "province": before["afghan_side"]["province"]}
    assert after["pedestrians"] is False and after["name"] == before["name"]
    assert (await client.get(url)).json() == after
    stale = assert_problem(
        await client.patch(url, json={"notes": "lost"}, headers=headers | {"If-Match": '"1"'}), 412
    )
    assert "version 2" in stale["detail"]
    moved = assert_problem(
        await client.patch(url, json={"slug": "torkham-2"}, headers=headers | {"If-Match": '"2"'}),
        422,
    )
    assert [e["field"] for e in moved["errors"]] == ["slug"]
    same = await client.patch(
        url,
        json={"slug": "torkham", "notes": "busiest crossing"},
        headers=headers | {"If-Match": '"2"'},
    )
    assert same.status_code == 200 and same.json()["version"] == 2  # nothing changed
    bad = assert_problem(
        await client.patch(url, json={"district": "quetta"}, headers=headers | {"If-Match": '"2"'}),
        422,
    )
    assert [e["field"] for e in bad["errors"]] == ["district"]
    assert_problem(
        await client.patch("/v1/crossings/nowhere", json={}, headers=headers | {"If-Match": '"1"'}),
        404,
    )
    rows = await audit_rows(db, "crossing", "torkham")
    assert [r.action for r in rows] == ["crossing.updated"]
    assert rows[0].detail["changed_fields"] == ["afghan_side", "notes", "pedestrians"]
