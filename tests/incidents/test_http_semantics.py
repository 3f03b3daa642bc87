"""Conditional reads and writes, one answer naming every bad field, the words used for
retracted incidents, and one timestamp format everywhere."""

from __future__ import annotations

import re

from httpx import AsyncClient

from tests.core.test_errors import assert_problem
from tests.support.keys import Keys
from tests.support.payloads import incident

RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


async def test_get_answers_if_none_match_with_304_until_the_incident_changes(
    client: AsyncClient, keys: Keys
) -> None:
    location = (await client.post("/v1/incidents", json=incident(), headers=keys.analyst)).headers[
        "location"
    ]
    first = await client.get(location)
    etag = first.headers["etag"]
    same = await client.get(location, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag
    assert (await client.get(location, headers={"If-None-Match": '"99"'})).status_code == 200
    await client.patch(
        location,
        json={"place_name": "moved"},
        headers={**keys.analyst, "If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    changed = await client.get(location, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["place_name"] == "moved"


async def test_one_422_names_shape_and_reference_errors_together(
    client: AsyncClient, keys: Keys
) -> None:
    bad = incident(district="no-such-district", perpetrator="no-such-group")
    bad["casualties"][0]["killed"] = -1
    bad["occurred_on"] = "30/01/2023"
    body = assert_problem(await client.post("/v1/incidents", json=bad, headers=keys.analyst), 422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"casualties.0.killed", "occurred_on", "district", "perpetrator"}


async def test_a_patch_names_shape_and_reference_errors_together(
    client: AsyncClient, keys: Keys
) -> None:
    location = (await client.post("/v1/incidents", json=incident(), headers=keys.analyst)).headers[
        "location"
    ]
    r = await client.patch(
        location,
        json={"district": "quetta", "attack_type": "bombing"},
        headers={**keys.analyst, "If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    body = assert_problem(r, 422)
    assert {e["field"] for e in body["errors"]} == {"district", "attack_type"}


async def test_status_retracted_is_refused_with_a_reason(client: AsyncClient) -> None:
    for path in ("/v1/incidents", "/v1/exports/incidents", "/v1/stats/fatalities"):
        body = assert_problem(await client.get(path, params={"status": "retracted"}), 422)
        (error,) = body["errors"]
        assert error["field"] == "status"
        assert "never" in error["message"] and "unknown" not in error["message"], error


async def test_timestamps_are_rfc_3339_with_z_everywhere(client: AsyncClient, keys: Keys) -> None:
    created = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    doc = created.json()
    stamps = [doc["created_at"], doc["updated_at"]]
    history = (await client.get(f"{created.headers['location']}/history")).json()
    stamps += [item["at"] for item in history["items"]]
    stamps += [history["items"][0]["after"]["created_at"]]
    feed = (await client.get("/v1/changes", params={"limit": 1000})).json()
    stamps += [item["at"] for item in feed["items"]]
    listed = (await client.get("/v1/incidents", params={"limit": 1})).json()["items"]
    stamps += [listed[0]["updated_at"]]
    for stamp in stamps:
        assert RFC3339_Z.fullmatch(stamp), stamp
