"""Real races, on a database of their own where every request commits: one Idempotency-Key
sent many times at once creates one incident; many PATCHes with one ETag make one edit."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from app.main import create_app
from tests.support.dbutil import Site, committed_site
from tests.support.payloads import incident

CLIENTS = 8


@pytest.fixture(scope="module")
async def live() -> AsyncIterator[Site]:
    async with committed_site(pool_size=CLIENTS + 2, max_overflow=0) as site:
        yield site


async def scalar(live: Site, sql: str, **params: object) -> object:
    async with live.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return (await conn.execute(text(sql), params)).scalar()


async def test_simultaneous_retries_with_one_key_create_exactly_one_incident(
    live: Site,
) -> None:
    content = json.dumps(incident(place_name="race")).encode()
    headers = {**live.analyst, "Content-Type": "application/json", "Idempotency-Key": "race-1"}
    before = await scalar(live, "SELECT count(*) FROM incidents")
    responses = await asyncio.gather(
        *[
            live.client.post("/v1/incidents", content=content, headers=headers)
            for _ in range(CLIENTS)
        ]
    )
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in created) == 1
    assert await scalar(live, "SELECT count(*) FROM incidents") == int(before) + 1  # type: ignore[call-overload]
    # Once the winner has committed, every retry replays its response.
    again = await live.client.post("/v1/incidents", content=content, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == created[0].json()["id"]


async def test_simultaneous_patches_with_one_etag_make_exactly_one_edit(live: Site) -> None:
    r = await live.client.post("/v1/incidents", json=incident(), headers=live.analyst)
    location = r.headers["location"]
    responses = await asyncio.gather(
        *[
            live.client.patch(
                location,
                json={"place_name": f"editor {n}"},
                headers={
                    **live.editor,
                    "If-Match": '"1"',
                    "Content-Type": "application/merge-patch+json",
                },
            )
            for n in range(CLIENTS)
        ]
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: CLIENTS - 1}, statuses
    winner = next(r for r in responses if r.status_code == 200).json()
    final = (await live.client.get(location)).json()
    assert final["version"] == 2 and final["place_name"] == winner["place_name"]
    incident_id = location.rsplit("/", 1)[1]
    assert (
        await scalar(
            live, "SELECT count(*) FROM incident_revisions WHERE incident_id = :i", i=incident_id
        )
        == 2
    )


async def test_parallel_batches_all_land(live: Site) -> None:
    before = int(await scalar(live, "SELECT count(*) FROM incidents"))  # type: ignore[call-overload]
    responses = await asyncio.gather(
        *[
            live.client.post(
                "/v1/incidents:batch",
                json={"incidents": [incident(place_name=f"{c}-{n}") for n in range(50)]},
                headers=live.analyst,
            )
            for c in range(CLIENTS)
        ]
    )
    assert [r.status_code for r in responses] == [201] * CLIENTS
    assert await scalar(live, "SELECT count(*) FROM incidents") == before + CLIENTS * 50


async def test_a_write_over_the_statement_timeout_is_a_503_and_changes_nothing(
    live: Site,
) -> None:
    location = (
        await live.client.post("/v1/incidents", json=incident(), headers=live.analyst)
    ).headers["location"]
    incident_id = location.rsplit("/", 1)[1]
    settings = live.app.state.settings.model_copy(update={"statement_timeout_ms": 300})  # type: ignore[attr-defined]
    impatient = create_app(settings)
    async with (
        impatient.router.lifespan_context(impatient),
        AsyncClient(transport=ASGITransport(app=impatient), base_url="http://test") as client,
        live.app.state.engine.connect() as blocker,
    ):  # type: ignore[attr-defined]
        # Another transaction holds the row, so the PATCH's UPDATE waits past its timeout.
        await blocker.execute(
            text("SELECT 1 FROM incidents WHERE id = :i FOR UPDATE"), {"i": incident_id}
        )
        r = await client.patch(
            location,
            json={"place_name": "blocked"},
            headers={
                **live.editor,
                "If-Match": '"1"',
                "Content-Type": "application/merge-patch+json",
            },
        )
        await blocker.rollback()
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"].isdigit()
    assert "SELECT" not in r.text and "incidents" not in r.json()["detail"]
    after = (await live.client.get(location)).json()
    assert after["version"] == 1 and after["place_name"] == incident()["place_name"]


async def test_reads_racing_deletes_never_fail(live: Site) -> None:
    r = await live.client.post(
        "/v1/incidents:batch",
        json={"incidents": [incident() for _ in range(40)]},
        headers=live.analyst,
    )
    locations = [f"/v1/incidents/{i['id']}" for i in r.json()["items"]]
    calls = []
    for location in locations:
        calls += [live.client.get(location) for _ in range(4)]
        calls.append(live.client.delete(location, headers={**live.editor, "If-Match": '"1"'}))
    statuses = Counter(r.status_code for r in await asyncio.gather(*calls))
    assert set(statuses) <= {200, 204, 404}, statuses
    assert statuses[204] == len(locations)


async def test_parallel_posts_into_one_bucket_keep_the_rollup_exact(live: Site) -> None:
    from tests.support.stats_oracle import rollup_drift

    body = incident(occurred_on="2024-11-09", place_name="same bucket")

    async def client_posts() -> list[int]:
        return [
            (await live.client.post("/v1/incidents", json=body, headers=live.analyst)).status_code
            for _ in range(50)
        ]

    before = (
        await live.client.get("/v1/stats/fatalities", params={"group_by": "none", "period": "year"})
    ).json()
    statuses = await asyncio.gather(*[client_posts() for _ in range(CLIENTS)])
    assert Counter(s for batch in statuses for s in batch) == {201: CLIENTS * 50}
    after = (
        await live.client.get("/v1/stats/fatalities", params={"group_by": "none", "period": "year"})
    ).json()
    assert after["totals"]["incidents"] == before["totals"]["incidents"] + CLIENTS * 50
    assert after["totals"]["killed"] == before["totals"]["killed"] + CLIENTS * 50 * 84
    async with live.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        assert await rollup_drift(conn) == 0
        gaps = await conn.scalar(
            text("SELECT max(seq) - min(seq) + 1 - count(*) FROM incident_revisions")
        )
        assert gaps == 0  # the change feed is numbered without holes
        backwards = await conn.scalar(
            text(
                "SELECT count(*) FROM (SELECT at < lag(at) OVER (ORDER BY seq) AS back "
                "FROM incident_revisions) AS feed WHERE back"
            )
        )
        assert backwards == 0  # `at` is when a change was numbered: it grows with seq


async def test_cached_statistics_change_with_the_first_committed_write(live: Site) -> None:
    url = "/v1/stats/fatalities?group_by=none&period=year"
    cache = live.app.middleware_stack  # type: ignore[attr-defined]
    while type(cache).__name__ != "StatsCache":
        cache = cache.app
    first = await live.client.get(url)
    hits = cache.hits
    again = await live.client.get(url)
    assert cache.hits == hits + 1  # served from the cache, not rendered again
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == first.headers["cache-control"]
    not_modified = await live.client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304 and not not_modified.content

    await live.client.post("/v1/incidents", json=incident(), headers=live.analyst)
    after = await live.client.get(url)
    assert after.headers["etag"] != first.headers["etag"]
    assert after.json()["totals"]["killed"] == first.json()["totals"]["killed"] + 84
    assert (
        await live.client.get(url, headers={"If-None-Match": first.headers["etag"]})
    ).status_code == 200
    keyed = await live.client.get(url, headers=live.analyst)  # with a key: the same answer
    assert keyed.json() == after.json()

    from app.stats import rollup

    async with live.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        await rollup.rebuild(session)
        await session.commit()
    rebuilt = await live.client.get(url)
    assert rebuilt.headers["etag"] != after.headers["etag"]  # figures may have moved
    assert rebuilt.headers["x-data-version"] == after.headers["x-data-version"]
    assert rebuilt.json() == after.json()


async def test_a_cursor_walk_is_complete_while_incidents_are_inserted(live: Site) -> None:
    from datetime import date, timedelta

    seeded = await live.client.post(
        "/v1/incidents:batch",
        json={
            "incidents": [
                incident(
                    occurred_on=(date(2022, 1, 1) + timedelta(days=n)).isoformat(),
                    place_name="walk",
                )
                for n in range(120)
            ]
        },
        headers=live.analyst,
    )
    existing = {i["id"] for i in seeded.json()["items"]}

    async def writer() -> None:
        for n in range(30):  # new rows land before, among and after the walk's position
            day = (date(2021, 9, 1) + timedelta(days=17 * n)).isoformat()
            await live.client.post(
                "/v1/incidents",
                json=incident(occurred_on=day, place_name="walk"),
                headers=live.analyst,
            )

    async def walker() -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            params = {"q": "walk", "limit": 7, **({"cursor": cursor} if cursor else {})}
            body = (await live.client.get("/v1/incidents", params=params)).json()
            ids += [i["id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return ids
            await asyncio.sleep(0)

    walked, _ = await asyncio.gather(walker(), writer())
    assert len(walked) == len(set(walked))  # no duplicates
    assert existing <= set(walked)  # no gaps among the rows that were there all along


async def test_a_write_in_progress_holds_up_no_other_writer(live: Site) -> None:
    """The serialized step of a write (numbering its revisions, moving the rollups) runs
    inside its COMMIT: a write that has stored its rows but not committed must not make
    another write wait, and the feed numbers both in commit order."""
    from app.auth.service import Caller
    from app.incidents import rules, writes
    from app.reference.service import load_references

    editor = Caller(key_id=1, name="editor", role="editor")
    maker = live.app.state.sessionmaker  # type: ignore[attr-defined]
    async with maker() as slow, maker() as fast:
        refs = await load_references(slow)
        (slow_doc,) = await writes.create(
            slow, [rules.parse_one(incident(place_name="slow"), refs)], editor
        )
        # `slow` now holds its rows and revision, uncommitted.
        (fast_doc,) = await writes.create(
            fast, [rules.parse_one(incident(place_name="fast"), refs)], editor
        )
        await asyncio.wait_for(fast.commit(), timeout=5)  # no wait on `slow`
        await slow.commit()
    slow_id, fast_id = json.loads(slow_doc)["id"], json.loads(fast_doc)["id"]
    seqs = {str(row.incident_id): row.seq for row in await _revisions(live, [slow_id, fast_id])}
    assert seqs[fast_id] + 1 == seqs[slow_id]  # numbered when they committed


async def _revisions(live: Site, ids: list[str]) -> list[object]:
    async with live.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(
            await conn.execute(
                text(
                    "SELECT incident_id, seq FROM incident_revisions "
                    "WHERE incident_id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            )
        )
