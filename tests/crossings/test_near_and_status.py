"""A crossing's incidents page like every list and take its filters; a crossing's status
history shows when a status that a later one replaced ended."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.core.test_errors import assert_problem
from tests.incidents.test_listing import generated
from tests.support.keys import Keys


@pytest.fixture
async def near_torkham(client: AsyncClient, keys: Keys) -> list[dict[str, Any]]:
    r = await client.post(
        "/v1/incidents:batch", json={"incidents": generated(120)}, headers=keys.analyst
    )
    assert r.status_code == 201
    return r.json()["items"]  # type: ignore[no-any-return]


async def near_walk(client: AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    versions = set()
    while True:
        r = await client.get(
            "/v1/crossings/torkham/incidents",
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        assert r.status_code == 200, r.text
        versions.add(r.headers["x-data-version"])
        body = r.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            assert len(versions) == 1
            return items


async def test_pages_walk_every_incident_once_nearest_first(
    client: AsyncClient, near_torkham: list[dict[str, Any]]
) -> None:
    whole = (
        await client.get("/v1/crossings/torkham/incidents", params={"radius_km": 80, "limit": 500})
    ).json()
    assert whole["next_cursor"] is None and whole["items"]
    paged = await near_walk(client, {"radius_km": 80, "limit": 7})
    assert [i["id"] for i in paged] == [i["id"] for i in whole["items"]]
    distances = [i["distance_km"] for i in paged]
    assert distances == sorted(distances)


async def test_the_list_filters_apply_near_a_crossing(
    client: AsyncClient, near_torkham: list[dict[str, Any]]
) -> None:
    params = {"radius_km": 120, "limit": 500}
    everything = (await client.get("/v1/crossings/torkham/incidents", params=params)).json()
    kinds = {i["kind"] for i in everything["items"]}
    assert len(kinds) > 1, kinds
    kind = sorted(kinds)[0]
    only = await near_walk(client, {**params, "kind": kind, "limit": 5})
    assert only and {i["kind"] for i in only} == {kind}
    assert {i["id"] for i in only} == {i["id"] for i in everything["items"] if i["kind"] == kind}
    # The same incidents as the list filtered by crossing and kind.
    listed = (
        await client.get("/v1/incidents", params={"crossing": "torkham", "kind": kind, **params})
    ).json()["items"]
    assert {i["id"] for i in listed} == {i["id"] for i in only}


async def test_a_cursor_is_bound_to_its_crossing_and_filters(
    client: AsyncClient, near_torkham: list[dict[str, Any]]
) -> None:
    first = (
        await client.get("/v1/crossings/torkham/incidents", params={"radius_km": 120, "limit": 2})
    ).json()
    cursor = first["next_cursor"]
    assert cursor
    other = await client.get(
        "/v1/crossings/chaman/incidents", params={"radius_km": 120, "limit": 2, "cursor": cursor}
    )
    assert_problem(other, 400)
    refiltered = await client.get(
        "/v1/crossings/torkham/incidents",
        params={"radius_km": 120, "limit": 2, "cursor": cursor, "kind": "attack"},
    )
    assert_problem(refiltered, 400)


async def test_bad_filters_near_a_crossing_are_422(client: AsyncClient) -> None:
    for params, field in (
        ({"province": "PK-XX"}, "province"),
        ({"near": "71,34"}, "near"),
        ({"crossing": "chaman"}, "crossing"),
        ({"since": "2024-13-01"}, "since"),
    ):
        body = assert_problem(
            await client.get("/v1/crossings/torkham/incidents", params=params), 422
        )
        assert [e["field"] for e in body["errors"]] == [field], body


async def test_a_status_that_a_later_one_replaced_shows_its_end(client: AsyncClient) -> None:
    history = (await client.get("/v1/crossings/torkham/status")).json()["items"]
    restriction = next(e for e in history if e["from"] == "2024-01-13")
    assert restriction["status"] == "restricted"
    assert restriction["to"] == "2025-10-11"  # the day before the closure of 2025-10-12
    latest = history[0]
    assert latest["from"] == "2025-10-12" and latest["to"] is None
    chaman = (await client.get("/v1/crossings/chaman/status")).json()["items"]
    assert next(e for e in chaman if e["from"] == "2023-11-01")["to"] == "2025-10-11"
    bounded = next(e for e in chaman if e["from"] == "2025-10-12")
    assert bounded["to"] == "2025-10-19"  # a bounded period keeps its own end


async def test_openapi_offers_near_a_crossing_only_the_parameters_it_takes(
    client: AsyncClient,
) -> None:
    doc = (await client.get("/openapi.json")).json()
    params = {
        p["name"] for p in doc["paths"]["/v1/crossings/{slug}/incidents"]["get"]["parameters"]
    }
    assert {"radius_km", "limit", "cursor", "province", "kind", "since"} <= params
    assert not {"near", "crossing"} & params
    listed = {p["name"] for p in doc["paths"]["/v1/incidents"]["get"]["parameters"]}
    assert {"near", "crossing", "radius_km"} <= listed
