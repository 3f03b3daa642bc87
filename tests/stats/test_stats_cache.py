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
