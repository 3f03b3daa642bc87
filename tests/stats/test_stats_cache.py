"""The statistics cache serves callers with a key the same answers as anonymous ones, and
never answers a caller that the app would refuse: a bad, unknown or revoked key is a 401
however warm the cache, and so is no key where reads need one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.core.test_errors import assert_problem
from tests.support.dbutil import Site, committed_site
from tests.support.payloads import incident

URL = "/v1/stats/fatalities?group_by=province&period=month"


def stats_cache(site: Site) -> Any:
    cache = site.app.middleware_stack
    while type(cache).__name__ != "StatsCache":
        cache = cache.app
    return cache


async def execute(site: Site, sql: str, **params: object) -> Any:
    async with site.app.state.engine.begin() as conn:
        result = await conn.execute(text(sql), params)
        return result.scalar() if result.returns_rows else None


@pytest.fixture(scope="module")
async def public() -> AsyncIterator[Site]:
    async with committed_site(stats_cache=True) as site:
        r = await site.client.post("/v1/incidents", json=incident(), headers=site.analyst)
        assert r.status_code == 201, r.text
        yield site


@pytest.fixture(scope="module")
async def private() -> AsyncIterator[Site]:
    async with committed_site(stats_cache=True, public_read=False) as site:
        yield site


async def test_a_caller_with_a_key_is_served_the_cached_answer(public: Site) -> None:
    cache = stats_cache(public)
    anonymous = await public.client.get(URL)
    hits = cache.hits
    keyed = await public.client.get(URL, headers=public.analyst)
    assert cache.hits == hits + 1
    assert keyed.status_code == 200
    assert keyed.content == anonymous.content and keyed.headers["etag"] == anonymous.headers["etag"]
    not_modified = await public.client.get(
        URL, headers={**public.editor, "If-None-Match": anonymous.headers["etag"]}
    )
    assert not_modified.status_code == 304 and cache.hits == hits + 2


@pytest.mark.parametrize(
    "authorization", ["Bearer bw_not-a-key", "Bearer ", "Basic dXNlcjpwYXNz", "bw_no-scheme"]
)
async def test_a_bad_key_is_a_401_even_when_the_answer_is_cached(
    public: Site, authorization: str
) -> None:
    cache = stats_cache(public)
    await public.client.get(URL)  # cached now
    hits = cache.hits
    r = await public.client.get(URL, headers={"Authorization": authorization})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert cache.hits == hits


async def test_a_revoked_key_is_refused_by_the_cache(public: Site) -> None:
    from app.auth.service import create_key

    async with public.app.state.sessionmaker() as session:
        key, secret = await create_key(session, "soon revoked", "reader")
        await session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await public.client.get(URL, headers=headers)).status_code == 200
    await execute(public, "UPDATE api_keys SET revoked_at = now() WHERE id = :id", id=key.id)
    hits = stats_cache(public).hits
    assert_problem(await public.client.get(URL, headers=headers), 401)
    assert stats_cache(public).hits == hits


async def test_a_key_served_from_the_cache_is_noted_as_used(public: Site) -> None:
    await public.client.get(URL)
    await execute(public, "UPDATE api_keys SET last_used_at = NULL")
    hits = stats_cache(public).hits
    assert (await public.client.get(URL, headers=public.editor)).status_code == 200
    assert stats_cache(public).hits == hits + 1
    used = await execute(public, "SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL")
    assert used == 1


async def test_without_public_reads_the_cache_still_asks_for_a_key(private: Site) -> None:
    first = await private.client.get(URL, headers=private.analyst)
    cache = stats_cache(private)
    assert first.status_code == 200 and first.headers["cache-control"].startswith("private")
    hits = cache.hits
    again = await private.client.get(URL, headers=private.editor)
    assert cache.hits == hits + 1 and again.content == first.content
    assert_problem(await private.client.get(URL), 401)
    assert_problem(await private.client.get(URL, headers={"Authorization": "Bearer bw_x"}), 401)
    summary = await private.client.get("/v1/stats/summary")
    assert_problem(summary, 401)
    assert cache.hits == hits + 1


@pytest.fixture(scope="module")
async def uncached() -> AsyncIterator[Site]:
    async with committed_site(stats_cache=False) as site:
        rows = [
            incident(),
            incident(occurred_on="2022-03-04", perpetrator="bla", kind="border_clash"),
            incident(
                occurred_on="2024-02-13",
                province="PK-BA",
                district="quetta",
                location={"type": "Point", "coordinates": [66.99, 30.18]},
                casualties=[{"category": "militants", "killed": 3, "injured": 0}],
                fatality_range=None,
            ),
        ]
        r = await site.client.post(
            "/v1/incidents:batch", json={"incidents": rows}, headers=site.editor
        )
        assert r.status_code == 201, r.text
        yield site


FAST_LANE_QUESTIONS = [
    "",
    "?period=week&group_by=district&province=PK-KP",
    "?period=week&group_by=district&perpetrator=ttp&since=2022-02-17",
    "?period=day&group_by=none&since=2023-01-25&until=2023-02-07&cumulative=true",
    "?period=quarter&group_by=category&category=police,civilians",
    "?group_by=kind&category=militants&category=police&format=csv",
    "?period=year&group_by=attack_type&district=quetta,peshawar&attack_type=ied",
    "?period=month&group_by=perpetrator&status=reported&kind=attack,border_clash",
    # refused: the route answers them, the same way
    "?province=PK-XX",
    "?period=decade",
    "?provnce=PK-KP",
    "?period=week&period=month",
]


@pytest.mark.parametrize("question", FAST_LANE_QUESTIONS)
async def test_the_fast_lane_answers_exactly_as_the_route(uncached: Site, question: str) -> None:
    from app.core.db import get_session

    url = "/v1/stats/fatalities" + question
    direct = await uncached.client.get(url)
    # Overridden dependencies send every request through FastAPI's route.
    uncached.app.dependency_overrides[get_session] = get_session
    try:
        routed = await uncached.client.get(url)
        etag = routed.headers.get("etag")
        routed_304 = await uncached.client.get(url, headers={"If-None-Match": etag or "x"})
    finally:
        uncached.app.dependency_overrides.clear()
    direct_304 = await uncached.client.get(url, headers={"If-None-Match": etag or "x"})
    assert direct.status_code == routed.status_code
    assert direct.content == routed.content
    assert direct.headers.items() == routed.headers.items()
    assert direct_304.status_code == routed_304.status_code
    assert direct_304.headers.items() == routed_304.headers.items()


@pytest.mark.parametrize(
    ("question", "taken"),
    [(q, True) for q in FAST_LANE_QUESTIONS[:8]] + [(q, False) for q in FAST_LANE_QUESTIONS[8:]],
)
async def test_the_fast_lane_takes_plain_questions_only(
    uncached: Site, question: str, taken: bool
) -> None:
    from app.stats.router import fatalities_directly

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/stats/fatalities",
        "query_string": question.removeprefix("?").encode(),
        "headers": [],
        "app": uncached.app,
    }
    assert await fatalities_directly(scope, receive, send) is taken
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == (
        [200] if taken else []
    )
