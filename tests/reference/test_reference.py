"""Reference endpoints serve the vocabularies, units, actors and crossings of SPEC."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from httpx import AsyncClient

from app.crossings.schemas import StatusEventOut
from app.crossings.service import current_status

ROOT = Path(__file__).resolve().parents[2]
SPEC_PROVINCES = {
    "PK-KP",
    "PK-BA",
    "PK-PB",
    "PK-SD",
    "PK-IS",
    "PK-GB",
    "PK-JK",
    "AF-BDS",
    "AF-NUR",
    "AF-KNR",
    "AF-NAN",
    "AF-PIA",
    "AF-KHO",
    "AF-PKA",
    "AF-ZAB",
    "AF-KAN",
    "AF-HEL",
    "AF-NIM",
}
SPEC_ACTORS = {
    "ttp",
    "iskp",
    "hafiz-gul-bahadur",
    "lashkar-e-islam",
    "jamaat-ul-ahrar",
    "tehreek-e-jihad-pakistan",
    "lashkar-e-jhangvi",
    "bla",
    "blf",
    "unknown",
    "pakistan-armed-forces",
    "afghan-taliban-forces",
}
MERGED = {
    "bajaur",
    "mohmand",
    "khyber",
    "kurram",
    "orakzai",
    "north-waziristan",
    "upper-south-waziristan",
    "lower-south-waziristan",
}


async def test_vocabularies_match_the_spec(client: AsyncClient) -> None:
    r = await client.get("/v1/vocabularies")
    assert r.status_code == 200
    v = r.json()
    assert v["attack_type"] == [
        "suicide_bombing",
        "ied",
        "armed_assault",
        "targeted_killing",
        "ambush",
        "rocket_mortar",
        "cross_border_fire",
        "air_drone_strike",
        "kidnapping",
        "other",
    ]
    assert v["casualty_category"] == [
        "security_forces",
        "police",
        "civilians",
        "militants",
        "unknown",
    ]
    assert v["status"] == ["reported", "verified", "disputed", "retracted"]
    assert v["kind"] == ["attack", "security_operation", "border_clash", "cross_border_strike"]
    assert "health_polio" in v["target_type"] and len(v["target_type"]) == 13
    assert set(v["province"]) == SPEC_PROVINCES
    assert set(v["perpetrator"]) >= SPEC_ACTORS


async def test_provinces_are_the_spec_codes_with_names(client: AsyncClient) -> None:
    r = await client.get("/v1/provinces")
    items = {p["code"]: p for p in r.json()["items"]}
    assert set(items) == SPEC_PROVINCES
    assert items["PK-KP"]["name"] == "Khyber Pakhtunkhwa"
    assert items["AF-NAN"]["country"] == "AF"
    assert items["PK-BA"]["has_geometry"] is False


async def test_districts_of_kp_include_the_merged_districts_and_splits(client: AsyncClient) -> None:
    r = await client.get("/v1/districts", params={"province": "PK-KP"})
    assert r.status_code == 200
    items = {d["slug"]: d for d in r.json()["items"]}
    assert {d["province"] for d in items.values()} == {"PK-KP"}
    assert {s for s, d in items.items() if d["is_merged"]} == MERGED
    assert {"dera-ismail-khan", "upper-chitral", "lower-chitral", "peshawar"} <= set(items)
    assert items["north-waziristan"]["name"] == "North Waziristan"


async def test_districts_filter_takes_several_provinces(client: AsyncClient) -> None:
    both = (await client.get("/v1/districts", params={"province": "PK-KP,PK-BA"})).json()["items"]
    everything = (await client.get("/v1/districts")).json()["items"]
    assert {d["province"] for d in both} == {"PK-KP", "PK-BA"}
    assert {"quetta", "chaman", "hub", "qila-saifullah"} <= {d["slug"] for d in both}
    assert len(everything) == len(both) + 1  # Islamabad
    assert [d["slug"] for d in everything if d["province"] == "PK-IS"] == ["islamabad"]


async def test_unknown_province_filter_is_a_422_naming_the_field(client: AsyncClient) -> None:
    r = await client.get("/v1/districts", params={"province": "PK-KP,XX-YY"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": "province", "message": "unknown value 'XX-YY'"}]


async def test_groups_hold_the_spec_actors_and_flag_state_forces(client: AsyncClient) -> None:
    items = {g["slug"]: g for g in (await client.get("/v1/groups")).json()["items"]}
    assert set(items) >= SPEC_ACTORS
    assert {s for s, g in items.items() if g["is_state_force"]} == {
        "pakistan-armed-forces",
        "afghan-taliban-forces",
    }
    assert "IS-K" in items["iskp"]["aliases"]


async def test_crossings_list_torkham_and_chaman_with_coordinates(client: AsyncClient) -> None:
    r = await client.get("/v1/crossings")
    assert r.status_code == 200
    items = {c["slug"]: c for c in r.json()["items"]}
    assert set(items) == {
        "torkham",
        "chaman",
        "ghulam-khan",
        "angoor-adda",
        "kharlachi",
        "badini",
        "nawa-pass",
        "gursal",
        "arandu",
    }
    assert items["torkham"]["location"] == {"type": "Point", "coordinates": [71.09, 34.107]}
    assert items["chaman"]["location"]["coordinates"] == [66.44, 30.91]
    assert items["chaman"]["afghan_side"] == {"name": "Spin Boldak", "province": "AF-KAN"}
    assert items["chaman"]["district"] == "chaman"
    trade = {s for s, c in items.items() if c["notified_for_trade"]}
    assert trade == {"torkham", "chaman", "ghulam-khan", "angoor-adda", "kharlachi", "badini"}
    assert items["nawa-pass"]["current_status"]["status"] == "closed"
    assert "status_history" not in items["torkham"]


def _seeded_crossings() -> list[dict[str, str]]:
    """The crossings migration 0002 seeds, from the project's copy in migrations/data/."""
    with (ROOT / "migrations" / "data" / "crossings.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def test_crossings_are_served_as_the_migration_seeds_them(client: AsyncClient) -> None:
    items = {c["slug"]: c for c in (await client.get("/v1/crossings")).json()["items"]}
    rows = _seeded_crossings()
    assert set(items) == {row["slug"] for row in rows}
    for row in rows:
        served = items[row["slug"]]
        assert served["name"] == row["name"]
        assert served["location"]["coordinates"] == [float(row["lon"]), float(row["lat"])]
        assert served["province"] == row["province"]
        assert served["district"] == (row["district"] or None)
        assert served["afghan_side"] == {
            "name": row["afghan_name"] or None,
            "province": row["afghan_province"] or None,
        }
        assert served["notified_for_trade"] == (row["notified_for_trade"] == "true")
        assert served["pedestrians"] == (row["pedestrians"] == "true")


# Facts about the border, written here rather than read from the seed data they check:
# (lon, lat) within KNOWN_WITHIN degrees, province, district and the Afghan province across.
KNOWN_CROSSINGS = {
    "torkham": ((71.09, 34.11), "PK-KP", "khyber", "AF-NAN"),
    "chaman": ((66.44, 30.91), "PK-BA", "chaman", "AF-KAN"),
    "ghulam-khan": ((69.95, 33.17), "PK-KP", "north-waziristan", "AF-KHO"),
    "angoor-adda": ((69.38, 32.35), "PK-KP", "lower-south-waziristan", "AF-PKA"),
}
KNOWN_WITHIN = 0.1


async def test_seeded_crossings_agree_with_known_geography(client: AsyncClient) -> None:
    items = {c["slug"]: c for c in (await client.get("/v1/crossings")).json()["items"]}
    for slug, ((lon, lat), province, district, afghan_province) in KNOWN_CROSSINGS.items():
        served = items[slug]
        served_lon, served_lat = served["location"]["coordinates"]
        assert abs(served_lon - lon) <= KNOWN_WITHIN and abs(served_lat - lat) <= KNOWN_WITHIN, (
            slug,
            served["location"],
        )
        assert (served["province"], served["district"]) == (province, district), slug
        assert served["afghan_side"]["province"] == afghan_province, slug
    districts = {
        d["slug"]: d["province"] for d in (await client.get("/v1/districts")).json()["items"]
    }
    for slug, served in items.items():
        # Every crossing is on the Durand Line: Pakistani side in KP or Balochistan, in one of
        # that province's districts, the other side in Afghanistan; longitude before latitude.
        lon, lat = served["location"]["coordinates"]
        assert 60.5 <= lon <= 75 and 29 <= lat <= 37.5, (slug, served["location"])
        assert served["province"] in {"PK-KP", "PK-BA"}, slug
        assert districts[served["district"]] == served["province"], slug
        assert served["afghan_side"]["province"].startswith("AF-"), slug


async def test_crossing_detail_has_its_history_newest_first(client: AsyncClient) -> None:
    r = await client.get("/v1/crossings/torkham")
    assert r.status_code == 200
    body = r.json()
    starts = [e["from"] for e in body["status_history"]]
    assert starts == sorted(starts, reverse=True)
    assert {"status": "closed", "from": "2023-09-06", "to": "2023-09-15"}.items() <= next(
        e for e in body["status_history"] if e["from"] == "2023-09-06"
    ).items()
    history = await client.get("/v1/crossings/torkham/status")
    assert history.json()["items"] == body["status_history"]


async def test_unknown_crossing_is_a_404_problem(client: AsyncClient) -> None:
    r = await client.get("/v1/crossings/khunjerab")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404 and "khunjerab" in r.json()["detail"]


def _event(i: int, status: str, start: str, end: str | None) -> StatusEventOut:
    return StatusEventOut(
        id=i,
        status=status,
        from_=date.fromisoformat(start),
        to=date.fromisoformat(end) if end else None,
        reason=status,
        source_url=None,
        version=1,
    )


@pytest.mark.parametrize(
    ("today", "expected", "since"),
    [
        ("2023-01-01", "open", None),
        ("2023-09-10", "closed", "2023-09-06"),
        ("2023-12-01", "open", "2023-09-16"),
        ("2024-06-01", "restricted", "2024-01-13"),
        ("2025-10-11", "restricted", "2024-01-13"),
        ("2025-10-12", "closed", "2025-10-12"),  # the closure ended the restriction the day before
    ],
)
def test_current_status_is_the_latest_event_in_force(
    today: str, expected: str, since: str | None
) -> None:
    events = [
        _event(1, "closed", "2023-09-06", "2023-09-15"),
        _event(2, "restricted", "2024-01-13", "2025-10-11"),
        _event(3, "closed", "2025-10-12", None),
    ]
    status = current_status(events, date.fromisoformat(today))
    assert status.status == expected
    assert status.since == (date.fromisoformat(since) if since else None)
