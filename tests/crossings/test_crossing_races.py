"""Crossing writes where every request commits: concurrent overlapping status events leave
exactly one stored, concurrent creates of one slug make one crossing, and every crossing
write moves the statistics' ETag (the data epoch)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from itertools import pairwise

import pytest
from sqlalchemy import text

from tests.crossings.test_crossing_writes import MERGE, new_crossing
from tests.support.dbutil import Site, committed_site

CLIENTS = 6


@pytest.fixture(scope="module")
async def live() -> AsyncIterator[Site]:
    async with committed_site(pool_size=CLIENTS + 2, max_overflow=0) as site:
        yield site


async def scalar(live: Site, sql: str, **params: object) -> object:
    async with live.app.state.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def test_concurrent_overlapping_events_store_exactly_one(live: Site) -> None:
    slug = "race-overlap"
    r = await live.client.post("/v1/crossings", json=new_crossing(slug=slug), headers=live.editor)
    assert r.status_code == 201, r.text
    # Each is bounded and shares 2026-01-10 with every other: at most one can be stored.
    bodies = [
        {"status": "closed", "from": f"2026-01-{1 + n:02d}", "to": "2026-01-10"}
        for n in range(CLIENTS)
    ]
    responses = await asyncio.gather(
        *[
            live.client.post(f"/v1/crossings/{slug}/status", json=body, headers=live.editor)
            for body in bodies
        ]
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: CLIENTS - 1}, [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 201).json()
    for loser in (r for r in responses if r.status_code == 409):
        assert f"status event {winner['id']} " in loser.json()["detail"]
    stored = await scalar(
        live, "SELECT count(*) FROM crossing_status_events WHERE crossing_slug = :s", s=slug
    )
    assert stored == 1


async def test_concurrent_open_ended_events_never_share_a_day(live: Site) -> None:
    slug = "race-open"
    await live.client.post("/v1/crossings", json=new_crossing(slug=slug), headers=live.editor)
    responses = await asyncio.gather(
        *[
            live.client.post(
                f"/v1/crossings/{slug}/status",
                json={"status": "restricted", "from": f"2025-0{1 + n}-01"},
                headers=live.editor,
            )
            for n in range(CLIENTS)
        ]
    )
    # Which are stored depends on the order they commit in: one that starts inside a period
    # that an earlier-committed event bounded (an open-ended one posted before a later one
    # ends the day before it) is refused. Whatever the order, the rules hold.
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409} and statuses[201] >= 1, statuses
    items = (await live.client.get(f"/v1/crossings/{slug}/status")).json()["items"]
    assert len(items) == statuses[201]
    assert sum(e["to"] is None for e in items) == 1 and items[0]["to"] is None
    ordered = items[::-1]
    for before, after in pairwise(ordered):
        assert before["to"] is not None and before["to"] < after["from"], items


async def test_concurrent_creates_of_one_slug_make_one_crossing(live: Site) -> None:
    body = new_crossing(slug="race-create")
    responses = await asyncio.gather(
        *[live.client.post("/v1/crossings", json=body, headers=live.editor) for _ in range(4)]
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 3}


async def test_every_crossing_write_moves_the_statistics_etag(live: Site) -> None:
    async def stats_etag() -> str:
        r = await live.client.get("/v1/stats/fatalities")
        assert r.status_code == 200
        return r.headers["etag"]

    slug = "epoch-moves"
    seen = [await stats_etag()]
    r = await live.client.post("/v1/crossings", json=new_crossing(slug=slug), headers=live.editor)
    assert r.status_code == 201
    seen.append(await stats_etag())
    r = await live.client.patch(
        f"/v1/crossings/{slug}",
        json={"notes": "edited"},
        headers=live.editor | MERGE | {"If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200
    seen.append(await stats_etag())
    r = await live.client.post(
        f"/v1/crossings/{slug}/status",
        json={"status": "closed", "from": "2025-10-12"},
        headers=live.editor,
    )
    assert r.status_code == 201
    event = r.headers["location"]
    seen.append(await stats_etag())
    r = await live.client.patch(
        event, json={"reason": "clashes"}, headers=live.editor | MERGE | {"If-Match": '"1"'}
    )
    assert r.status_code == 200
    seen.append(await stats_etag())
    r = await live.client.delete(event, headers=live.editor | {"If-Match": '"2"'})
    assert r.status_code == 204
    seen.append(await stats_etag())
    assert len(set(seen)) == len(seen), seen
    # A refused write moves nothing.
    r = await live.client.post(
        f"/v1/crossings/{slug}/status",
        json={"status": "closed", "from": "2025-10-12", "to": "2025-10-01"},
        headers=live.editor,
    )
    assert r.status_code == 422
    assert await stats_etag() == seen[-1]
