"""The change feed: every write, in order, with the incident it left, page by page."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.support.keys import Keys
from tests.support.payloads import incident


async def feed(client: AsyncClient, after: int, limit: int = 100) -> dict[str, Any]:
    r = await client.get("/v1/changes", params={"after": after, "limit": limit})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_feed_lists_creates_updates_and_deletes_in_order(
    client: AsyncClient, keys: Keys
) -> None:
    start = int(
        (await client.get("/v1/changes", params={"after": 0, "limit": 1})).headers["x-data-version"]
    )
    a = (await client.post("/v1/incidents", json=incident(), headers=keys.analyst)).json()
    b = (
        await client.post("/v1/incidents", json=incident(place_name="b"), headers=keys.analyst)
    ).json()
    patched = await client.patch(
        f"/v1/incidents/{a['id']}",
        json={"place_name": "a2"},
        headers={**keys.analyst, "If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    await client.delete(f"/v1/incidents/{b['id']}", headers={**keys.editor, "If-Match": '"1"'})

    body = await feed(client, start)
    assert [(i["op"], i["id"]) for i in body["items"]] == [
        ("created", a["id"]),
        ("created", b["id"]),
        ("updated", a["id"]),
        ("deleted", b["id"]),
    ]
    assert [i["seq"] for i in body["items"]] == list(range(start + 1, start + 5))
    assert body["items"][0]["incident"] == a
    assert body["items"][2]["incident"] == patched.json()
    assert body["items"][3]["incident"] is None
    assert body["next_after"] is None  # caught up


async def test_feed_pages_resume_after_the_last_seq(client: AsyncClient, keys: Keys) -> None:
    start = int((await client.get("/v1/changes")).headers["x-data-version"])
    await client.post(
        "/v1/incidents:batch", json={"incidents": [incident()] * 7}, headers=keys.analyst
    )
    seen: list[int] = []
    after = start
    while True:
        body = await feed(client, after, limit=3)
        seen += [i["seq"] for i in body["items"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert seen == list(range(start + 1, start + 8))


async def test_feed_parameters_are_checked(client: AsyncClient) -> None:
    for params in ({"after": "-1"}, {"limit": "0"}, {"limit": "1001"}, {"after": "x"}):
        r = await client.get("/v1/changes", params=params)
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
