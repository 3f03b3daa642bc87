"""The dashboard aggregates: zero-filled, clipped, exact against the incidents tables,
cacheable, and refusing bad parameters."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi
from app.stats.periods import label, periods
from tests.support.keys import Keys
from tests.support.payloads import incident
from tests.support.stats_oracle import expected, live_incidents, rollup_drift, served

SAMPLES = Path(__file__).resolve().parents[2] / "app/incidents/data/sample_incidents.csv"
CATEGORIES = ("security_forces", "police", "civilians", "militants", "unknown")


def sample_rows() -> list[dict[str, str]]:
    with SAMPLES.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def sample_payload(row: dict[str, str]) -> dict[str, Any]:
    return {
        "occurred_on": row["date"],
        "place_name": row["place"],
        "location": {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]},
        "province": row["province"],
        "district": row["district"] or None,
        "attack_type": row["attack_type"],
        "target_type": row["target_type"],
        "perpetrator": row["perpetrator"],
        "attribution": row["attribution"],
        "casualties": [
            {"category": c, "killed": int(row[f"killed_{c}"]), "injured": int(row[f"injured_{c}"])}
            for c in CATEGORIES
            if int(row[f"killed_{c}"]) or int(row[f"injured_{c}"])
        ],
        "sources": [{"url": row["source_url"]}],
    }


async def stats(client: AsyncClient, **params: str) -> dict[str, Any]:
    r = await client.get("/v1/stats/fatalities", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def province_year(body: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        (s["key"], p["period"]): (p["killed"], p["injured"], p["incidents"])
        for s in body["series"]
        for p in s["points"]
    }


async def test_sample_incidents_add_up_by_province_and_year(
    client: AsyncClient, keys: Keys
) -> None:
    before = province_year(await stats(client, period="year"))
    r = await client.post(
        "/v1/incidents:batch",
        json={"incidents": [sample_payload(r) for r in sample_rows()]},
        headers=keys.analyst,
    )
    assert r.status_code == 201, r.text
    after = province_year(await stats(client, period="year"))

    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in sample_rows():
        cell = sums[(row["province"], row["date"][:4])]
        cell[0] += sum(int(row[f"killed_{c}"]) for c in CATEGORIES)
        cell[1] += sum(int(row[f"injured_{c}"]) for c in CATEGORIES)
        cell[2] += 1
    assert sums[("PK-KP", "2023")][0] == 85 + 29  # Police Lines (with the bomber), Daraban
    for cell, (killed, injured, count) in sums.items():
        old = before.get(cell, (0, 0, 0))
        assert after[cell] == (old[0] + killed, old[1] + injured, old[2] + count), cell


async def test_every_series_has_every_period_clipped_to_the_range(
    client: AsyncClient, keys: Keys
) -> None:
    await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    body = await stats(
        client, since="2022-11-20", until="2023-02-10", period="month", province="PK-KP,PK-BA"
    )
    assert [s["key"] for s in body["series"]] == ["PK-BA", "PK-KP"]  # asked for: both shown
    for series in body["series"]:
        assert [(p["period"], p["start"], p["end"]) for p in series["points"]] == [
            ("2022-11", "2022-11-20", "2022-11-30"),
            ("2022-12", "2022-12-01", "2022-12-31"),
            ("2023-01", "2023-01-01", "2023-01-31"),
            ("2023-02", "2023-02-01", "2023-02-10"),
        ]
    kp = body["series"][1]
    assert kp["label"] == "Khyber Pakhtunkhwa"
    assert [p["killed"] for p in kp["points"]] == [0, 0, 84, 0]
    assert body["series"][0]["totals"] == {"killed": 0, "injured": 0, "incidents": 0}
    assert body["totals"] == {"killed": 84, "injured": 217, "incidents": 1}


@pytest.mark.parametrize(
    ("period", "since", "until", "labels"),
    [
        ("day", "2023-01-30", "2023-02-01", ["2023-01-30", "2023-01-31", "2023-02-01"]),
        ("week", "2021-01-01", "2021-01-12", ["2020-W53", "2021-W01", "2021-W02"]),
        ("quarter", "2022-12-31", "2023-04-01", ["2022-Q4", "2023-Q1", "2023-Q2"]),
        ("year", "2021-08-15", "2023-01-01", ["2021", "2022", "2023"]),
    ],
)
def test_period_labels_follow_the_spec(
    period: str, since: str, until: str, labels: list[str]
) -> None:
    grid = periods(date.fromisoformat(since), date.fromisoformat(until), period)  # type: ignore[arg-type]
    assert [label(start, period) for start, _, _ in grid] == labels  # type: ignore[arg-type]
    assert grid[0][1] == date.fromisoformat(since) and grid[-1][2] == date.fromisoformat(until)


async def test_category_filter_counts_only_those_casualties(
    client: AsyncClient, keys: Keys
) -> None:
    await client.post("/v1/incidents", json=incident(), headers=keys.analyst)  # police+civ
    await client.post(
        "/v1/incidents",
        json=incident(
            casualties=[{"category": "militants", "killed": 5, "injured": 0}], fatality_range=None
        ),
        headers=keys.analyst,
    )
    police = await stats(client, category="police", group_by="none", period="year")
    assert police["totals"] == {"killed": 80, "injured": 200, "incidents": 1}
    both = await stats(client, category="police,civilians", group_by="none", period="year")
    assert both["totals"] == {"killed": 84, "injured": 217, "incidents": 1}  # counted once
    by_cat = await stats(
        client, category="police,civilians,militants", group_by="category", period="year"
    )
    assert {s["key"]: s["totals"]["incidents"] for s in by_cat["series"]} == {
        "civilians": 1,
        "militants": 1,
        "police": 1,
    }
    assert by_cat["totals"]["incidents"] == 2


async def test_retracted_and_deleted_incidents_never_count(client: AsyncClient, keys: Keys) -> None:
    base = (await stats(client, group_by="none"))["totals"]
    a = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    b = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    assert (await stats(client, group_by="none"))["totals"]["killed"] == base["killed"] + 168
    await client.patch(
        a.headers["location"],
        json={"status": "retracted"},
        headers={**keys.editor, "If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    await client.delete(b.headers["location"], headers={**keys.editor, "If-Match": '"1"'})
    assert (await stats(client, group_by="none"))["totals"] == base


async def test_cumulative_series_run_up_to_the_totals(client: AsyncClient, keys: Keys) -> None:
    for day in ("2022-03-04", "2023-01-30", "2023-01-31"):
        await client.post("/v1/incidents", json=incident(occurred_on=day), headers=keys.analyst)
    body = await stats(
        client,
        cumulative="true",
        group_by="none",
        period="year",
        since="2022-01-01",
        until="2023-12-31",
    )
    points = body["series"][0]["points"]
    assert [p["killed"] for p in points] == [84, 252]
    assert body["series"][0]["totals"]["killed"] == 252


async def test_csv_has_one_row_per_series_and_period(client: AsyncClient, keys: Keys) -> None:
    await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    r = await client.get(
        "/v1/stats/fatalities",
        params={
            "format": "csv",
            "period": "quarter",
            "since": "2023-01-01",
            "until": "2023-12-31",
            "province": "PK-KP,PK-BA",
        },
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 2 * 4
    assert {(row["key"], row["period"]): int(row["killed"]) for row in rows}[
        ("PK-KP", "2023-Q1")
    ] == 84


async def test_etag_gives_304_until_the_data_changes(client: AsyncClient, keys: Keys) -> None:
    first = await client.get("/v1/stats/fatalities")
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = await client.get("/v1/stats/fatalities", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    other = await client.get("/v1/stats/fatalities", params={"period": "year"})
    assert other.headers["etag"] != etag  # another question, another validator
    await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    changed = await client.get("/v1/stats/fatalities", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert int(changed.headers["x-data-version"]) == int(first.headers["x-data-version"]) + 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2023-02-01", "until": "2023-01-01"}, "until"),
        ({"since": "1999-01-01"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"period": "decade"}, "period"),
        ({"group_by": "weather"}, "group_by"),
        ({"category": "police,tourists"}, "category"),
        ({"province": "PK-XX"}, "province"),
        ({"district": "atlantis"}, "district"),
        ({"perpetrator": "spectre"}, "perpetrator"),
        ({"kind": "war"}, "kind"),
        ({"status": "deleted"}, "status"),
        ({"attack_type": "drive_by"}, "attack_type"),
        ({"cumulative": "perhaps"}, "cumulative"),
        ({"status": "retracted"}, "status"),
        ({"until": "9999-12-31"}, "until"),
        ({"since": "2001-01-01", "period": "day", "group_by": "district"}, "period"),
        ({"format": "xlsx"}, "format"),
    ],
)
async def test_invalid_parameters_are_422_naming_them(
    client: AsyncClient, params: dict[str, str], field: str
) -> None:
    r = await client.get("/v1/stats/fatalities", params=params)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


QUESTIONS: list[dict[str, str]] = [
    {},
    {"period": "day", "group_by": "district", "since": "2023-01-01", "until": "2023-03-01"},
    {"period": "week", "group_by": "perpetrator", "kind": "attack,border_clash"},
    {"period": "quarter", "group_by": "category", "category": "police,civilians"},
    {"period": "year", "group_by": "attack_type", "province": "PK-KP"},
    {"group_by": "none", "category": "militants,unknown", "status": "reported,verified"},
    {"group_by": "kind", "perpetrator": "ttp,bla", "district": "peshawar,quetta"},
]


async def assert_matches_incidents(client: AsyncClient, db: AsyncSession) -> None:
    incidents = await live_incidents(db)
    today = today_karachi()
    for params in QUESTIONS:
        body = await stats(client, **params)
        assert served(body) == expected(incidents, params, today), params
    assert await rollup_drift(db) == 0


async def test_aggregates_equal_a_direct_computation(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    rows = [sample_payload(r) for r in sample_rows()]
    rows += [
        incident(
            occurred_on="2023-02-01",
            kind="border_clash",
            perpetrator="bla",
            district="quetta",
            province="PK-BA",
        )
    ]
    await client.post("/v1/incidents:batch", json={"incidents": rows}, headers=keys.analyst)
    await assert_matches_incidents(client, db)


async def test_summary_totals_groups_and_deadliest(client: AsyncClient, keys: Keys) -> None:
    await client.post(
        "/v1/incidents:batch",
        json={"incidents": [sample_payload(r) for r in sample_rows()]},
        headers=keys.analyst,
    )
    r = await client.get("/v1/stats/summary")
    assert r.status_code == 200 and "etag" in r.headers
    body = r.json()
    rows = sample_rows()
    killed = sum(int(row[f"killed_{c}"]) for row in rows for c in CATEGORIES)
    assert body["totals"]["killed"] == killed and body["totals"]["incidents"] == len(rows)
    assert body["deadliest"]["place_name"] == "Police Lines mosque"
    assert body["latest_incident_on"] == max(row["date"] for row in rows)
    provinces = {p["key"]: p for p in body["by_province"]}
    assert provinces["PK-KP"]["label"] == "Khyber Pakhtunkhwa"
    assert sum(p["killed"] for p in body["by_province"]) == killed
    assert sum(c["killed"] for c in body["by_category"]) == killed
    assert {a["key"] for a in body["by_perpetrator"]} == {row["perpetrator"] for row in rows}
    attacks_only = (await client.get("/v1/stats/summary", params={"kind": "border_clash"})).json()
    assert attacks_only["totals"]["incidents"] == 0 and attacks_only["deadliest"] is None


async def test_repeated_filter_parameters_add_up(client: AsyncClient, keys: Keys) -> None:
    await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    repeated = await client.get(
        "/v1/stats/fatalities",
        params=[("category", "police"), ("category", "civilians"), ("group_by", "none")],
    )
    commas = await stats(client, category="police,civilians", group_by="none")
    assert (
        repeated.json()["totals"]
        == commas["totals"]
        == {"killed": 84, "injured": 217, "incidents": 1}
    )
