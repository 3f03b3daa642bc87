"""The fast lane of `GET /v1/incidents` (app/incidents/lane.py) answers exactly as the route,
takes only what the route would answer the same way for anyone, and reads its page and data
version in one statement on the read pool, where every request commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.dbutil import Site, committed_site
from tests.support.payloads import incident


def lane(site: Site) -> Any:
    layer = site.app.middleware_stack
    while type(layer).__name__ != "ListLane":
        layer = layer.app
    return layer


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with committed_site(stats_cache=False) as site:
        rows = [
            incident(occurred_on=f"2023-0{1 + k % 9}-1{k % 10}", perpetrator=["ttp", "bla"][k % 2])
            for k in range(12)
        ]
        r = await site.client.post(
            "/v1/incidents:batch", json={"incidents": rows}, headers=site.editor
        )
        assert r.status_code == 201, r.text
        yield site


QUESTIONS = [
    "",
    "?province=PK-KP&perpetrator=ttp&limit=5",
    "?perpetrator=ttp,bla&perpetrator=iskp&limit=3&format=geojson",
    "?since=2023-03-01&until=2023-08-31",
    "?limit=4",
    "?kind=attack&category=police&min_killed=1&bbox=70,33,72,35",
    # refused: the route answers them, the same way
    "?province=PK-XX",
    "?limit=501",
    "?provnce=PK-KP",
    "?since=2023-01-01&since=2023-02-01",
    "?cursor=forged",
    "?province=",
]


async def _both(site: Site, url: str, **headers: str) -> tuple[Any, Any]:
    from app.core.db import get_session

    direct = await site.client.get(url, headers=headers)
    # Overridden dependencies send every request through FastAPI's route.
    site.app.dependency_overrides[get_session] = get_session
    try:
        routed = await site.client.get(url, headers=headers)
    finally:
        site.app.dependency_overrides.clear()
    return direct, routed


@pytest.mark.parametrize("question", QUESTIONS)
async def test_the_lane_answers_exactly_as_the_route(site: Site, question: str) -> None:
    taken = lane(site).taken
    direct, routed = await _both(site, "/v1/incidents" + question)
    assert lane(site).taken == taken + (QUESTIONS.index(question) < 6)
    assert direct.status_code == routed.status_code
    assert direct.content == routed.content
    assert direct.headers.items() == routed.headers.items()


async def test_the_next_pages_are_the_same_by_either_path(site: Site) -> None:
    url = "/v1/incidents?limit=5"
    while url:
        direct, routed = await _both(site, url)
        assert direct.status_code == 200 and direct.content == routed.content
        cursor = direct.json()["next_cursor"]
        url = f"/v1/incidents?limit=5&cursor={cursor}" if cursor else ""


@pytest.mark.parametrize(
    "query",
    [
        "province=PK-KP&perpetrator=ttp&limit=50",
        "limit=5&cursor=abc",
        "cursor=a%2Bb+c&limit=5",
        "limit=5&cursor=abc&cursor=def",  # twice: refused
        "limit=5&cursor=",  # empty: refused
        "limit=5&cursor=" + "a" * 501,  # too long: refused
        "limit=5&curs%6Fr=abc",  # spelled otherwise: still the cursor
        "limit=5&curs%6Fr=abc&cursor=def",  # twice, once spelled otherwise: refused
        "limit=501&cursor=abc",
        "cursor=abc&provnce=PK-KP",
    ],
)
def test_the_table_of_taken_queries_parses_as_the_lane_does(query: str) -> None:
    """The lane parses a query string less its cursor once per process; with any cursor
    the answer is what parsing the whole string gives, the first time and the next."""
    from app.incidents.lane import plain_query, taken_query

    whole = plain_query(query.encode())
    for _ in range(2):
        taken = taken_query(query.encode())
        if whole is None:
            assert taken is None
        else:
            assert taken == (whole, whole.scope())
            assert taken[0].cursor == whole.cursor


async def test_a_caller_with_a_key_goes_to_the_route(site: Site) -> None:
    taken = lane(site).taken
    bad = await site.client.get("/v1/incidents", headers={"Authorization": "Bearer bw_nope"})
    assert bad.status_code == 401
    good = await site.client.get("/v1/incidents", headers=site.analyst)
    assert good.status_code == 200 and lane(site).taken == taken


async def test_without_public_reads_the_lane_takes_nothing() -> None:
    async with committed_site(public_read=False) as private:
        r = await private.client.get("/v1/incidents")
        assert r.status_code == 401 and lane(private).taken == 0
        assert (
            await private.client.get("/v1/incidents", headers=private.analyst)
        ).status_code == 200


async def test_a_code_added_after_the_copy_was_read_is_accepted_in_the_lane(site: Site) -> None:
    assert (await site.client.get("/v1/incidents?perpetrator=ttp")).status_code == 200
    assert (await site.client.get("/v1/incidents?perpetrator=lane-new")).status_code == 422
    async with site.app.state.engine.begin() as conn:
        await conn.execute(text("INSERT INTO actors (slug, name) VALUES ('lane-new', 'New')"))
    taken = lane(site).taken
    r = await site.client.get("/v1/incidents?perpetrator=lane-new")
    assert r.status_code == 200 and r.json()["items"] == [] and lane(site).taken == taken + 1
    unknown = await site.client.get("/v1/incidents?perpetrator=still-nobody")
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["perpetrator"]


async def test_a_write_moves_the_page_and_its_version_together(site: Site) -> None:
    before = await site.client.get("/v1/incidents?limit=500")
    made = await site.client.post(
        "/v1/incidents", json=incident(occurred_on="2024-05-05"), headers=site.analyst
    )
    assert made.status_code == 201
    after = await site.client.get("/v1/incidents?limit=500")
    assert int(after.headers["x-data-version"]) == int(before.headers["x-data-version"]) + 1
    assert len(after.json()["items"]) == len(before.json()["items"]) + 1
    assert made.json()["id"] in {i["id"] for i in after.json()["items"]}
