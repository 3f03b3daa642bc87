"""Every grouping × period, with and without filters, equals the same figures computed from
the incidents: the category-free rollup (fatality_dim, by day, week and month with one or
two fine dimensions) and the category rollups alike, over ranges that clip weeks and months."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi
from app.stats.filters import FatalitiesQuery
from app.stats.plan import lean, spans
from tests.stats.test_stats import sample_payload, sample_rows
from tests.support.keys import Keys
from tests.support.payloads import incident
from tests.support.stats_oracle import expected, live_incidents, rollup_drift, served

GROUPINGS = ("province", "district", "perpetrator", "category", "attack_type", "kind", "none")
PERIODS = ("day", "week", "month", "quarter", "year")
FILTERS: list[dict[str, str]] = [
    {},
    {"province": "PK-KP"},
    {"perpetrator": "ttp", "kind": "attack"},  # with group_by=district: a pair of fine ones
    {"district": "peshawar,quetta", "attack_type": "suicide_bombing,ied"},
    {"perpetrator": "ttp,bla", "district": "quetta", "attack_type": "ied"},  # three: fine rollup
    {"category": "police,civilians", "status": "reported"},
]
# A long range, and one that starts on a Thursday mid-month and ends on a Tuesday.
RANGES = [{"since": "2021-08-15"}, {"since": "2022-11-17", "until": "2024-02-13"}]
DAY_RANGE = {"since": "2023-01-25", "until": "2023-03-07"}  # day series stay small

EXTRA = [
    {"occurred_on": "2023-01-30", "kind": "border_clash", "perpetrator": "bla"},
    {"occurred_on": "2022-11-17", "district": "quetta", "province": "PK-BA", "attack_type": "ied"},
    {"occurred_on": "2024-02-13", "district": None, "status": "verified"},
    {
        "occurred_on": "2023-03-06",
        "perpetrator": "ttp",
        "attack_type": "ied",
        "district": "quetta",
        "province": "PK-BA",
        "casualties": [{"category": "militants", "killed": 3, "injured": 1}],
        "fatality_range": None,
    },
]


@pytest.fixture
async def loaded(client: AsyncClient, keys: Keys) -> None:
    rows = [sample_payload(r) for r in sample_rows()] + [incident(**over) for over in EXTRA]
    r = await client.post("/v1/incidents:batch", json={"incidents": rows}, headers=keys.editor)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("group_by", GROUPINGS)
async def test_every_period_and_filter_equals_the_incidents(
    client: AsyncClient, db: AsyncSession, loaded: None, group_by: str
) -> None:
    incidents = await live_incidents(db)
    today = today_karachi()
    for period in PERIODS:
        for filters in FILTERS:
            for span in [DAY_RANGE] if period == "day" else RANGES:
                params = {"group_by": group_by, "period": period, **filters, **span}
                r = await client.get("/v1/stats/fatalities", params=params)
                assert r.status_code == 200, (params, r.text)
                assert served(r.json()) == expected(incidents, params, today), params
    assert await rollup_drift(db) == 0


def test_questions_without_a_category_and_at_most_two_fine_dimensions_read_fatality_dim() -> None:
    assert lean(FatalitiesQuery(group_by="district", perpetrator=["ttp"], period="week"))
    assert lean(FatalitiesQuery(group_by="kind", district=["quetta"], attack_type=["ied"]))
    assert not lean(FatalitiesQuery(group_by="category"))
    assert not lean(FatalitiesQuery(group_by="none", category=["police"]))
    three = FatalitiesQuery(group_by="district", perpetrator=["ttp"], attack_type=["ied"])
    assert not lean(three)


def test_spans_read_whole_periods_at_their_grain_and_the_edges_by_day() -> None:
    from datetime import date

    thursday, tuesday = date(2022, 11, 17), date(2024, 2, 13)
    assert spans(thursday, tuesday, "week") == [
        ("week", date(2022, 11, 21), date(2024, 2, 11)),
        ("day", thursday, date(2022, 11, 20)),
        ("day", date(2024, 2, 12), tuesday),
    ]
    assert spans(thursday, tuesday, "month") == [
        ("month", date(2022, 12, 1), date(2024, 1, 31)),
        ("day", thursday, date(2022, 11, 30)),
        ("day", date(2024, 2, 1), tuesday),
    ]
    assert spans(date(2023, 1, 1), date(2023, 1, 31), "month") == [
        ("month", date(2023, 1, 1), date(2023, 1, 31))
    ]
    assert spans(thursday, date(2022, 11, 19), "week") == [("day", thursday, date(2022, 11, 19))]


async def test_a_rebuild_recomputes_every_rollup_to_the_same_figures(
    client: AsyncClient, db: AsyncSession, loaded: None
) -> None:
    from app.stats import rollup

    params = {"group_by": "district", "period": "week", "perpetrator": "ttp", "since": "2022-11-17"}
    before = (await client.get("/v1/stats/fatalities", params=params)).json()
    await db.execute(text("DELETE FROM fatality_dim"))  # drifted as far as it can
    await rollup.rebuild(db)
    assert await rollup_drift(db) == 0
    assert (await client.get("/v1/stats/fatalities", params=params)).json() == before
