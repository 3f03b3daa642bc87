"""Closures against violence (`GET /v1/stats/crossings`): days closed and restricted counted
inside each period from the status events, incidents within a geodesic radius counted by the
day they occurred, every crossing and period present, cacheable like the other statistics."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi
from app.core.dataversion import move_epoch
from app.crossings.stats import FIGURES_SQL, CrossingStatsQuery, arguments
from app.stats.periods import label, period_start, periods
from tests.core.test_errors import assert_problem
from tests.incidents.test_listing import generated
from tests.stats.test_stats_cache import stats_cache
from tests.support.dbutil import committed_site
from tests.support.keys import Keys
from tests.support.payloads import incident

EARTH_KM = 6371.0088  # mean radius
BADINI = (68.2, 31.0)  # lon, lat (no seeded status events)
ARANDU = "arandu"  # no seeded status events either
SEEDED = [
    "angoor-adda",
    "arandu",
    "badini",
    "chaman",
    "ghulam-khan",
    "gursal",
    "kharlachi",
    "nawa-pass",
    "torkham",
]
FIGURES = ("days_closed", "days_restricted", "incidents", "killed", "injured")


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon1, lat1), (lon2, lat2) = (map(math.radians, p) for p in (a, b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def destination(origin: tuple[float, float], km: float, bearing: float) -> tuple[float, float]:
    """The point `km` from origin on a great circle at `bearing` degrees (on the sphere)."""
    lon, lat = map(math.radians, origin)
    d, theta = km / EARTH_KM, math.radians(bearing)
    lat2 = math.asin(math.sin(lat) * math.cos(d) + math.cos(lat) * math.sin(d) * math.cos(theta))
    lon2 = lon + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(lat), math.cos(d) - math.sin(lat) * math.sin(lat2)
    )
    return round(math.degrees(lon2), 6), round(math.degrees(lat2), 6)


async def crossing_stats(client: AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/stats/crossings", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def series_of(body: dict[str, Any], slug: str) -> dict[str, Any]:
    return next(s for s in body["series"] if s["key"] == slug)


def column(series: dict[str, Any], figure: str) -> list[int]:
    return [p[figure] for p in series["points"]]


async def add_event(
    db: AsyncSession, slug: str, status: str, start: date, end: date | None
) -> None:
    """A status event written as the writes endpoint would (another part of the API), with
    the new epoch it moves."""
    await db.execute(
        text(
            "INSERT INTO crossing_status_events (crossing_slug, status, valid_from, valid_to) "
            "VALUES (:slug, :status, :start, :end)"
        ),
        {"slug": slug, "status": status, "start": start, "end": end},
    )
    await move_epoch(db)


def status_by_day(
    events: list[tuple[str, date, date | None]], first: date, last: date
) -> dict[date, str]:
    """The status of each day from first to last as the issue states it, a day at a time: an
    open-ended event ends the day before the next one starts, and of the events in force the
    one that started last (the later added, on the same day) wins."""
    numbered = list(enumerate(events))
    out = {}
    day = first
    while day <= last:
        in_force = []
        for n, (status, start, end) in numbered:
            if end is None:
                later = [s for _, (_, s, _) in numbered if s > start]
                end = min(later) - timedelta(days=1) if later else date.max
            if start <= day <= end:
                in_force.append((start, n, status))
        out[day] = max(in_force)[2] if in_force else "open"
        day += timedelta(days=1)
    return out


# ---- days closed and restricted -------------------------------------------------------------

EVENTS: list[tuple[str, date, date | None]] = [
    # Stored as the writes store them (migration 0009 forbids two events on one day): an
    # open-ended event followed by a later one carries the end the rules gave it.
    ("closed", date(2024, 1, 28), date(2024, 3, 3)),
    ("restricted", date(2024, 3, 10), date(2024, 4, 4)),  # ended by the closure of 5 April
    ("closed", date(2024, 4, 5), date(2024, 4, 30)),  # ended by the opening of 1 May
    ("open", date(2024, 5, 1), date(2024, 6, 30)),  # ended by the restriction of 1 July
    ("restricted", date(2024, 7, 1), date(2024, 7, 9)),
    ("closed", date(2024, 7, 10), date(2024, 7, 12)),
    ("restricted", date(2024, 7, 13), date(2024, 7, 31)),
]


async def test_days_closed_are_counted_inside_each_month(
    client: AsyncClient, db: AsyncSession
) -> None:
    for status, start, end in EVENTS:
        await add_event(db, ARANDU, status, start, end)
    body = await crossing_stats(
        client, crossing=ARANDU, period="month", since="2024-01-01", until="2024-08-31"
    )
    arandu = series_of(body, ARANDU)
    assert [p["period"] for p in arandu["points"]] == [f"2024-{m:02d}" for m in range(1, 9)]
    # 28 January to 3 March 2024 (a leap year): 4, 29 and 3 days.
    assert column(arandu, "days_closed") == [4, 29, 3, 26, 0, 0, 3, 0]
    assert column(arandu, "days_restricted") == [0, 0, 22, 4, 0, 0, 28, 0]
    # The same from the rules applied a day at a time.
    days = status_by_day(EVENTS, date(2024, 1, 1), date(2024, 8, 31))
    for figure, status in (("days_closed", "closed"), ("days_restricted", "restricted")):
        by_month: dict[str, int] = defaultdict(int)
        for day, found in days.items():
            by_month[label(period_start(day, "month"), "month")] += found == status
        assert column(arandu, figure) == [by_month[p["period"]] for p in arandu["points"]]
    assert arandu["totals"]["days_closed"] == 4 + 29 + 3 + 26 + 3
    assert arandu["totals"]["days_restricted"] == 22 + 4 + 28


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, date, date | None]]:
    """Up to six events in early 2024 as the writes leave them: no day in two events, any of
    them bounded, the last one open-ended or not, in any order of insertion."""
    events: list[tuple[str, date, date | None]] = []
    start = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 30)))
    count = draw(st.integers(1, 6))
    for n in range(count):
        status = draw(st.sampled_from(["open", "closed", "restricted"]))
        last = n == count - 1
        length = draw((st.none() if last else st.nothing()) | st.integers(0, 40))
        end = None if length is None else start + timedelta(days=length)
        events.append((status, start, end))
        if end is None:
            break
        start = end + timedelta(days=1 + draw(st.integers(0, 20)))
    return draw(st.permutations(events))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=histories(), period=st.sampled_from(["day", "week", "month"]))
async def test_days_follow_the_rules_for_any_history(
    client: AsyncClient, db: AsyncSession, events: list[tuple[str, date, date | None]], period: str
) -> None:
    since, until = date(2023, 12, 20), date(2024, 5, 31)
    savepoint = await db.begin_nested()
    try:
        for status, start, end in events:  # in list order: ids follow it
            await add_event(db, ARANDU, status, start, end)
        body = await crossing_stats(
            client, crossing=ARANDU, period=period, since=since.isoformat(), until=until.isoformat()
        )
    finally:
        await savepoint.rollback()
    days = status_by_day(events, since, until)
    for figure, status in (("days_closed", "closed"), ("days_restricted", "restricted")):
        want: dict[str, int] = defaultdict(int)
        for day, found in days.items():
            want[label(period_start(day, period), period)] += found == status  # type: ignore[arg-type]
        points = series_of(body, ARANDU)["points"]
        assert {p["period"]: p[figure] for p in points} == {
            p["period"]: want[p["period"]] for p in points
        }


async def test_a_closure_across_months_in_a_common_year_counts_28_days_of_february(
    client: AsyncClient, db: AsyncSession
) -> None:
    await add_event(db, ARANDU, "closed", date(2023, 1, 28), date(2023, 3, 3))
    body = await crossing_stats(
        client, crossing=ARANDU, period="month", since="2023-01-01", until="2023-03-31"
    )
    assert column(series_of(body, ARANDU), "days_closed") == [4, 28, 3]
    quarter = await crossing_stats(
        client, crossing=ARANDU, period="quarter", since="2023-01-01", until="2023-06-30"
    )
    assert column(series_of(quarter, ARANDU), "days_closed") == [35, 0]


async def test_periods_clipped_by_since_and_until_count_only_their_days(
    client: AsyncClient, db: AsyncSession
) -> None:
    await add_event(db, ARANDU, "closed", date(2024, 1, 28), date(2024, 3, 3))
    body = await crossing_stats(
        client, crossing=ARANDU, period="month", since="2024-02-10", until="2024-03-02"
    )
    assert body["since"] == "2024-02-10" and body["until"] == "2024-03-02"
    points = series_of(body, ARANDU)["points"]
    assert [(p["period"], p["start"], p["end"], p["days_closed"]) for p in points] == [
        ("2024-02", "2024-02-10", "2024-02-29", 20),
        ("2024-03", "2024-03-01", "2024-03-02", 2),
    ]
    week = await crossing_stats(
        client, crossing=ARANDU, period="week", since="2024-03-01", until="2024-03-06"
    )
    assert [
        (p["period"], p["start"], p["end"], p["days_closed"])
        for p in series_of(week, ARANDU)["points"]
    ] == [("2024-W09", "2024-03-01", "2024-03-03", 3), ("2024-W10", "2024-03-04", "2024-03-06", 0)]


async def test_days_after_today_count_as_neither_closed_nor_restricted(
    client: AsyncClient, db: AsyncSession
) -> None:
    today = today_karachi()
    await add_event(db, ARANDU, "closed", today - timedelta(days=3), None)
    await add_event(db, "badini", "restricted", today - timedelta(days=1), today + timedelta(9))
    body = await crossing_stats(
        client,
        crossing="arandu,badini",
        period="day",
        since=(today - timedelta(days=5)).isoformat(),
        until=(today + timedelta(days=5)).isoformat(),
    )
    assert body["status_known_until"] == today.isoformat()
    assert column(series_of(body, ARANDU), "days_closed") == [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert column(series_of(body, "badini"), "days_restricted") == [0] * 4 + [1, 1] + [0] * 5


async def test_the_seeded_closures_count_once_each_day(client: AsyncClient) -> None:
    # Ghulam Khan was closed on 28 June 2025 and again (open-ended both) on 12 October.
    body = await crossing_stats(
        client, crossing="ghulam-khan,chaman", period="year", since="2025-01-01", until="2025-12-31"
    )
    assert series_of(body, "ghulam-khan")["totals"]["days_closed"] == 187  # 28 June-31 Dec
    chaman = series_of(body, "chaman")["totals"]
    # Restricted (since 2023) to 11 October, closed 12-19 October, restricted again from 20.
    assert chaman["days_closed"] == 8
    assert chaman["days_restricted"] == 365 - 8


# ---- incidents near a crossing ---------------------------------------------------------------

# (km from Badini, bearing, day, killed, injured, status)
NEAR_BADINI = [
    (2, 0, "2024-01-03", 3, 1, "reported"),
    (12, 90, "2024-01-31", 1, 4, "verified"),
    (20, 200, "2024-02-01", 7, 0, "reported"),
    (20, 300, "2024-03-15", 0, 9, "disputed"),
    (30, 45, "2024-01-10", 11, 2, "reported"),  # outside 25 km, inside 50 km
    (40, 150, "2024-02-20", 5, 5, "reported"),
    (80, 10, "2024-02-21", 50, 50, "reported"),  # outside both
    (5, 120, "2024-02-02", 20, 20, "retracted"),  # never counted
    (6, 240, "2024-03-03", 30, 30, "deleted"),  # never counted
]


async def post_near_badini(client: AsyncClient, keys: Keys) -> list[tuple[float, dict[str, Any]]]:
    """The incidents of NEAR_BADINI posted through the API: (haversine km, payload) of the
    live ones."""
    live = []
    for km, bearing, day, killed, injured, status in NEAR_BADINI:
        where = destination(BADINI, km, bearing)
        assert abs(haversine_km(BADINI, where) - km) < 0.01
        payload = incident(
            occurred_on=day,
            location={"type": "Point", "coordinates": list(where)},
            province="PK-BA",
            district=None,
            casualties=[{"category": "civilians", "killed": killed, "injured": injured}],
            fatality_range=None,
            status="reported" if status in ("retracted", "deleted") else status,
        )
        r = await client.post("/v1/incidents", json=payload, headers=keys.editor)
        assert r.status_code == 201, r.text
        edit = {**keys.editor, "If-Match": '"1"'}
        if status == "retracted":
            r = await client.patch(
                r.headers["location"],
                json={"status": "retracted"},
                headers={**edit, "Content-Type": "application/merge-patch+json"},
            )
            assert r.status_code == 200, r.text
        elif status == "deleted":
            assert (await client.delete(r.headers["location"], headers=edit)).status_code == 204
        else:
            live.append((haversine_km(BADINI, where), payload))
    return live


def expected_near(
    live: list[tuple[float, dict[str, Any]]], radius_km: float, since: date, until: date
) -> dict[str, list[int]]:
    """incidents, killed, injured by month label, from the payloads and haversine."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for km, payload in live:
        day = date.fromisoformat(payload["occurred_on"])
        if km <= radius_km and since <= day <= until:
            cell = out[label(period_start(day, "month"), "month")]
            cell[0] += 1
            cell[1] += sum(c["killed"] for c in payload["casualties"])
            cell[2] += sum(c["injured"] for c in payload["casualties"])
    return out


async def test_incidents_within_the_radius_count_by_the_month_they_occurred(
    client: AsyncClient, keys: Keys
) -> None:
    live = await post_near_badini(client, keys)
    for radius, since, until in (
        (25, date(2024, 1, 1), date(2024, 3, 31)),
        (50, date(2024, 1, 1), date(2024, 3, 31)),
        (25, date(2024, 1, 15), date(2024, 3, 10)),  # clipped: the 3 and 15 March ones fall out
    ):
        body = await crossing_stats(
            client,
            crossing="badini",
            radius_km=radius,
            since=since.isoformat(),
            until=until.isoformat(),
        )
        assert body["radius_km"] == radius
        badini = series_of(body, "badini")
        want = expected_near(live, radius, since, until)
        got = {p["period"]: [p["incidents"], p["killed"], p["injured"]] for p in badini["points"]}
        assert got == {
            label(s, "month"): want[label(s, "month")] for s, _, _ in periods(since, until, "month")
        }, radius
        assert badini["totals"]["incidents"] == sum(v[0] for v in want.values())
        assert badini["totals"]["killed"] == sum(v[1] for v in want.values())
    inside = await crossing_stats(
        client, crossing="badini", radius_km=25, since="2024-01-01", until="2024-03-31"
    )
    assert column(series_of(inside, "badini"), "incidents") == [2, 1, 1]
    assert series_of(inside, "badini")["totals"]["killed"] == 3 + 1 + 7 + 0


async def test_the_answer_agrees_with_the_incidents_near_each_crossing(
    client: AsyncClient, keys: Keys
) -> None:
    r = await client.post(
        "/v1/incidents:batch", json={"incidents": generated(150, seed=11)}, headers=keys.analyst
    )
    assert r.status_code == 201
    body = await crossing_stats(client, radius_km=60, period="year")
    found = 0
    for series in body["series"]:
        near = await client.get(
            f"/v1/crossings/{series['key']}/incidents", params={"radius_km": 60, "limit": 500}
        )
        items = near.json()["items"]
        assert near.json()["next_cursor"] is None
        found += len(items)
        assert series["totals"]["incidents"] == len(items), series["key"]
        assert series["totals"]["killed"] == sum(i["killed_total"] for i in items)
        assert series["totals"]["injured"] == sum(i["injured_total"] for i in items)
        by_year: dict[str, int] = defaultdict(int)
        for i in items:
            by_year[i["occurred_on"][:4]] += 1
        assert {p["period"]: p["incidents"] for p in series["points"] if p["incidents"]} == by_year
    assert found > 20  # the generated incidents do lie near crossings


# ---- shape, errors and caching ---------------------------------------------------------------


async def test_every_crossing_has_every_period_zero_filled(client: AsyncClient) -> None:
    body = await crossing_stats(client, since="2022-11-20", until="2023-02-10")
    assert body["period"] == "month" and body["radius_km"] == 25
    assert [s["key"] for s in body["series"]] == SEEDED
    assert series_of(body, "torkham")["label"] == "Torkham"
    assert series_of(body, "ghulam-khan")["label"] == "Ghulam Khan"
    for series in body["series"]:
        assert [(p["period"], p["start"], p["end"]) for p in series["points"]] == [
            ("2022-11", "2022-11-20", "2022-11-30"),
            ("2022-12", "2022-12-01", "2022-12-31"),
            ("2023-01", "2023-01-01", "2023-01-31"),
            ("2023-02", "2023-02-01", "2023-02-10"),
        ]
        assert all(set(p) == {"period", "start", "end", *FIGURES} for p in series["points"])
        assert set(series["totals"]) == set(FIGURES)
    # Nawa Pass has been closed since 2007: every day of the range.
    assert column(series_of(body, "nawa-pass"), "days_closed") == [11, 31, 31, 10]
    assert series_of(body, "badini")["totals"] == dict.fromkeys(FIGURES, 0)
    some = await crossing_stats(client, crossing="torkham,chaman", period="year")
    assert [s["key"] for s in some["series"]] == ["chaman", "torkham"]
    assert some["since"] == "2021-08-15" and some["until"] == today_karachi().isoformat()
    assert some["series"][0]["points"][0]["period"] == "2021"


async def test_bad_parameters_are_422_naming_them(client: AsyncClient) -> None:
    for params, fields in (
        ({"crossing": "torkham,nowhere"}, ["crossing"]),
        ({"crossing": ",,,"}, ["crossing"]),
        ({"crossing": ""}, ["crossing"]),
        ({"radius_km": "0"}, ["radius_km"]),
        ({"radius_km": "1e-320"}, ["radius_km"]),
        ({"radius_km": "0.09"}, ["radius_km"]),
        ({"radius_km": "301"}, ["radius_km"]),
        ({"period": "decade"}, ["period"]),
        ({"since": "2000-12-31"}, ["since"]),
        ({"since": "2024-02-01", "until": "2024-01-31"}, ["until"]),
        ({"since": "2024-13-01"}, ["since"]),
        ({"group_by": "province"}, ["group_by"]),
    ):
        body = assert_problem(await client.get("/v1/stats/crossings", params=params), 422)
        assert [e["field"] for e in body["errors"]] == fields, (params, body)
    body = assert_problem(
        await client.get("/v1/stats/crossings", params={"crossing": "nowhere"}), 422
    )
    assert body["errors"] == [{"field": "crossing", "message": "unknown value 'nowhere'"}]
    # The messages of /v1/stats/fatalities.
    for params in ({"since": "2000-12-31"}, {"since": "2024-02-01", "until": "2024-01-31"}):
        ours = (await client.get("/v1/stats/crossings", params=params)).json()["errors"]
        theirs = (await client.get("/v1/stats/fatalities", params=params)).json()["errors"]
        assert ours == theirs


async def test_etag_304_and_a_new_etag_when_a_status_event_is_added(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    params = {"crossing": ARANDU, "period": "year"}
    first = await client.get("/v1/stats/crossings", params=params)
    etag = first.headers["etag"]
    assert first.headers["x-data-version"].isdigit()
    assert first.headers["cache-control"].endswith("max-age=10, must-revalidate")
    again = await client.get("/v1/stats/crossings", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    other = await client.get("/v1/stats/crossings", params={**params, "radius_km": 30})
    assert other.headers["etag"] != etag  # another question, another tag

    await add_event(db, ARANDU, "closed", date(2025, 3, 1), date(2025, 3, 2))
    moved = await client.get("/v1/stats/crossings", params=params, headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    assert series_of(moved.json(), ARANDU)["totals"]["days_closed"] == 2
    assert moved.headers["x-data-version"] == first.headers["x-data-version"]  # not an incident

    r = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    assert r.status_code == 201
    after = await client.get(
        "/v1/stats/crossings", params=params, headers={"If-None-Match": moved.headers["etag"]}
    )
    assert after.status_code == 200
    assert int(after.headers["x-data-version"]) > int(moved.headers["x-data-version"])


async def test_the_stats_cache_serves_it_until_a_status_event_moves_the_epoch() -> None:
    url = "/v1/stats/crossings?crossing=arandu&period=year&since=2024-01-01&until=2024-12-31"
    async with committed_site(stats_cache=True) as site:
        first = await site.client.get(url)
        cache = stats_cache(site)  # the middleware stack is built by the first request
        hits = cache.hits
        again = await site.client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and cache.hits == hits + 1
        async with site.app.state.sessionmaker() as session:
            await add_event(session, ARANDU, "closed", date(2024, 5, 1), date(2024, 5, 3))
            await session.commit()
        moved = await site.client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert moved.status_code == 200 and cache.hits == hits + 1
        assert moved.headers["etag"] != first.headers["etag"]
        assert series_of(moved.json(), ARANDU)["totals"]["days_closed"] == 3


async def test_the_radius_search_uses_the_geography_index(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    r = await client.post(
        "/v1/incidents:batch", json={"incidents": generated(400, seed=3)}, headers=keys.analyst
    )
    assert r.status_code == 201
    await db.execute(text("ANALYZE incidents"))
    q = CrossingStatsQuery(period="month")
    q = q.model_copy(update={"until": q.last_day})
    conn = (await (await db.connection()).get_raw_connection()).driver_connection
    plan = "\n".join(
        r[0] for r in await conn.fetch("EXPLAIN " + FIGURES_SQL, *arguments(q, SEEDED, q.until))
    )
    assert "ix_incidents_geog" in plan, plan


async def test_openapi_documents_the_crossings_statistics(client: AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    operation = doc["paths"]["/v1/stats/crossings"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {"since", "until", "period", "radius_km", "crossing"}
    assert all(p.get("description") for p in params.values())
    assert operation["description"] and {"200", "304", "422"} <= set(operation["responses"])
