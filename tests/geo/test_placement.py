"""Boundaries that place incidents: a district derived from the location, a location more than
10 km outside its province refused, on every write path; boundaries served as GeoJSON."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.geo import boundaries
from app.geo.boundaries import Fields
from tests.support.boundaries import box, circle, east_of, feature, haversine_km, vertices
from tests.support.keys import Keys
from tests.support.payloads import PESHAWAR

# A made-up Khyber Pakhtunkhwa (a box whose east edge is the meridian 72) with two districts.
KP = box(70.0, 33.0, 72.0, 35.0)
DISTRICTS = {"peshawar": box(71.4, 33.9, 71.7, 34.1), "khyber": box(71.0, 33.9, 71.4, 34.3)}
IN_PESHAWAR = [71.55, 34.0]
IN_KHYBER = [71.2, 34.2]
LAT = 34.5  # east of the box, away from the districts


async def load_districts(db: AsyncSession) -> None:
    features = [feature(g, name=slug) for slug, g in DISTRICTS.items()]
    report = await boundaries.load(db, features, "district", Fields(name="name"))
    assert len(report.loaded) == 2


async def load_province(db: AsyncSession) -> None:
    report = await boundaries.load(db, [feature(KP, iso="PK-KP")], "province", Fields(code="iso"))
    assert len(report.loaded) == 1


def incident(coordinates: list[float], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(PESHAWAR)
    body["location"]["coordinates"] = coordinates
    body.pop("district")
    body.update(changes)
    return body


def slow_way(body: dict[str, Any]) -> dict[str, Any]:
    """The same incident in a shape only IncidentIn's way takes (a non-ASCII source URL)."""
    body = copy.deepcopy(body)
    body["sources"][0]["url"] = "https://ur.wikipedia.org/wiki/پشاور"
    return body


def outside_by(km: float) -> list[float]:
    """A point `km` east of the box's east edge, checked against a haversine here."""
    lon = east_of(72.0, LAT, km)
    assert haversine_km(72.0, LAT, lon, LAT) == pytest.approx(km, rel=1e-9)
    return [lon, LAT]


async def post(client: AsyncClient, keys: Keys, body: dict[str, Any]) -> Any:
    return await client.post("/v1/incidents", json=body, headers=keys.analyst)


@pytest.mark.parametrize("way", [lambda b: b, slow_way], ids=["quick", "incident-in"])
async def test_a_district_is_derived_from_the_location_once_its_boundary_is_loaded(
    client: AsyncClient, db: AsyncSession, keys: Keys, way: Any
) -> None:
    before = await post(client, keys, way(incident(IN_PESHAWAR)))
    assert before.status_code == 201 and before.json()["district"] is None

    await load_districts(db)
    created = await post(client, keys, way(incident(IN_PESHAWAR)))
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["district"] == "peshawar"
    # The stored document, the CSV line, the revision and the rollups all carry it.
    read = await client.get(f"/v1/incidents/{doc['id']}")
    assert read.json()["district"] == "peshawar"
    line = await db.scalar(
        text("SELECT line FROM incident_csv_lines WHERE id = :id"), {"id": doc["id"]}
    )
    assert ",PK-KP,peshawar," in line
    await db.commit()  # numbers the revision and moves the rollups
    after = await db.scalar(
        text(
            "SELECT after->>'district' FROM incident_revisions WHERE incident_id = :id"
            " AND op = 'created'"
        ),
        {"id": doc["id"]},
    )
    assert after == "peshawar"
    counted = await db.scalar(
        text(
            "SELECT sum(incidents) FROM fatality_rollup WHERE district_slug = 'peshawar'"
            " AND category = '' AND day = '2023-01-30'"
        )
    )
    assert counted == 1

    stated = await post(client, keys, way(incident(IN_PESHAWAR, district="khyber")))
    assert stated.json()["district"] == "khyber"  # a district sent is kept


async def test_a_derived_district_belongs_to_the_stated_province(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    await load_districts(db)
    # Balochistan has no boundary loaded, so its location is not checked either.
    created = await post(client, keys, incident(IN_PESHAWAR, province="PK-BA"))
    assert created.status_code == 201, created.text
    assert created.json()["district"] is None
    between = await post(client, keys, incident([71.4, 34.0]))  # on both districts' edge
    assert between.json()["district"] is None


@pytest.mark.parametrize("way", [lambda b: b, slow_way], ids=["quick", "incident-in"])
async def test_a_location_more_than_10_km_outside_its_province_is_refused(
    client: AsyncClient, db: AsyncSession, keys: Keys, way: Any
) -> None:
    far = outside_by(20)
    unchecked = await post(client, keys, way(incident(far)))
    assert unchecked.status_code == 201  # no boundary loaded: not checked

    await load_province(db)
    near = await post(client, keys, way(incident(outside_by(5))))
    assert near.status_code == 201, near.text
    refused = await post(client, keys, way(incident(far)))
    assert refused.status_code == 422
    problem = refused.json()
    assert [e["field"] for e in problem["errors"]] == ["province"]
    message = problem["errors"][0]["message"]
    assert "20.0 km outside the boundary of PK-KP" in message or "19.9 km" in message


async def test_a_batch_lists_every_row_outside_its_province(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    await load_province(db)
    await load_districts(db)
    rows = [
        incident(IN_PESHAWAR),
        incident(outside_by(20)),
        incident(IN_KHYBER),
        incident(outside_by(30), occurred_on="2001-01-00"),
        incident(outside_by(25)),
    ]
    for way in (lambda b: b, slow_way):
        refused = await client.post(
            "/v1/incidents:batch",
            json={"incidents": [way(r) for r in rows]},
            headers=keys.analyst,
        )
        assert refused.status_code == 422
        fields = [e["field"] for e in refused.json()["errors"]]
        assert fields == ["incidents.1.province", "incidents.3.occurred_on", "incidents.4.province"]

    alone = await client.post(
        "/v1/incidents:batch", json={"incidents": [incident(outside_by(20))]}, headers=keys.analyst
    )
    assert [e["field"] for e in alone.json()["errors"]] == ["incidents.0.province"]

    good = [incident(IN_PESHAWAR), incident(IN_KHYBER), incident(outside_by(5))]
    created = await client.post(
        "/v1/incidents:batch", json={"incidents": good}, headers=keys.analyst
    )
    assert created.status_code == 201, created.text
    assert [d["district"] for d in created.json()["items"]] == ["peshawar", "khyber", None]


async def test_patch_derives_a_missing_district_and_checks_a_moved_location(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    old_far = (await post(client, keys, incident(outside_by(20)))).json()
    created = (await post(client, keys, incident(IN_PESHAWAR))).json()
    assert created["district"] is None
    await load_province(db)
    await load_districts(db)

    def patch(doc: dict[str, Any], body: dict[str, Any]) -> Any:
        return client.patch(
            f"/v1/incidents/{doc['id']}",
            json=body,
            headers={**keys.analyst, "If-Match": f'"{doc["version"]}"'},
        )

    # A change elsewhere derives the district the incident lacks.
    described = await patch(created, {"description": "Corrected."})
    assert described.status_code == 200 and described.json()["district"] == "peshawar"
    # Moving it into another district derives that one (the district it had is stale there);
    # a district the patch names is kept wherever the location goes; removing it derives it.
    moved = await patch(described.json(), {"location": {"type": "Point", "coordinates": IN_KHYBER}})
    assert moved.json()["district"] == "khyber"
    named = await patch(
        moved.json(),
        {"location": {"type": "Point", "coordinates": IN_PESHAWAR}, "district": "khyber"},
    )
    assert named.status_code == 200 and named.json()["district"] == "khyber"
    cleared = await patch(named.json(), {"district": None})
    assert cleared.json()["district"] == "peshawar"
    # An incident stored before the boundary is not refused while its place stays put.
    kept = await patch(old_far, {"description": "Still there."})
    assert kept.status_code == 200
    refused = await patch(
        cleared.json(), {"location": {"type": "Point", "coordinates": outside_by(20)}}
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["province"]


async def test_a_derived_district_follows_a_moved_location_unless_the_patch_names_one(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    """A district whose loaded boundary no longer covers the location is stale: a PATCH that
    moves the incident and does not name a district derives it again (or none)."""
    await load_districts(db)

    async def patch(doc: dict[str, Any], body: dict[str, Any]) -> Any:
        r = await client.patch(
            f"/v1/incidents/{doc['id']}",
            json=body,
            headers={**keys.analyst, "If-Match": f'"{doc["version"]}"'},
        )
        assert r.status_code == 200, r.text
        return r.json()

    def at(lon: float, lat: float) -> dict[str, Any]:
        return {"location": {"type": "Point", "coordinates": [lon, lat]}}

    created = (await post(client, keys, incident([71.5, 34.0]))).json()
    assert created["district"] == "peshawar"
    inside = await patch(created, at(71.6, 34.05))  # still inside Peshawar's box
    assert inside["district"] == "peshawar"
    away = await patch(inside, at(70.5, 33.5))  # inside no loaded district
    assert away["district"] is None
    stored = await db.scalar(
        text("SELECT district_slug FROM incidents WHERE id = :id"), {"id": away["id"]}
    )
    assert stored is None
    # A district the client names is never overridden, moved or not.
    named = await patch(away, {"district": "peshawar"})
    assert named["district"] == "peshawar"
    kept = await patch(named, at(70.6, 33.6) | {"district": "peshawar"})
    assert kept["district"] == "peshawar"
    # A district without a loaded boundary is not second-guessed.
    kohat = (await post(client, keys, incident([71.45, 33.6], district="kohat"))).json()
    assert (await patch(kohat, at(71.5, 33.55)))["district"] == "kohat"


async def test_boundaries_are_served_as_geojson_simplified_on_request(
    client: AsyncClient, db: AsyncSession
) -> None:
    plain = await client.get("/v1/provinces/PK-KP")
    assert plain.status_code == 200
    assert plain.json() == {
        "code": "PK-KP",
        "name": "Khyber Pakhtunkhwa",
        "country": "PK",
        "has_geometry": False,
    }
    none = await client.get("/v1/provinces/PK-KP?geometry=true")
    assert none.json()["geometry"] is None

    detailed = circle(71.0, 34.0, 1.0, 720)
    report = await boundaries.load(
        db, [feature(detailed, iso="PK-KP")], "province", Fields(code="iso")
    )
    assert report.loaded
    full = (await client.get("/v1/provinces/PK-KP?geometry=true&tolerance=0")).json()
    assert full["has_geometry"] is True and full["geometry"]["type"] == "MultiPolygon"
    assert vertices(full["geometry"]) == vertices(detailed)
    counts = [
        vertices(
            (await client.get(f"/v1/provinces/PK-KP?geometry=true&tolerance={t}")).json()[
                "geometry"
            ]
        )
        for t in (0.0001, 0.01, 0.1)
    ]
    assert vertices(detailed) > counts[0] > counts[1] > counts[2] >= 4
    listed = (await client.get("/v1/provinces")).json()["items"]
    assert {p["code"]: p["has_geometry"] for p in listed}["PK-KP"] is True

    district = await client.get("/v1/districts/peshawar?geometry=true")
    assert district.status_code == 200
    assert district.json()["province"] == "PK-KP" and district.json()["geometry"] is None
    await load_districts(db)
    shape = (await client.get("/v1/districts/peshawar?geometry=true")).json()["geometry"]
    assert shape == {"type": "MultiPolygon", "coordinates": [DISTRICTS["peshawar"]["coordinates"]]}


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v1/provinces/PK-XX", 404, None),
        ("/v1/districts/nowhere?geometry=true", 404, None),
        ("/v1/provinces/PK-KP?geometry=true&tolerance=5", 422, "tolerance"),
        ("/v1/provinces/PK-KP?geometry=true&tolerance=-1", 422, "tolerance"),
        ("/v1/provinces/PK-KP?geometry=true&tolerance=nan", 422, "tolerance"),
        ("/v1/districts/peshawar?geometry=maybe", 422, "geometry"),
    ],
)
async def test_unknown_units_and_bad_parameters_are_problems(
    client: AsyncClient, path: str, status: int, field: str | None
) -> None:
    answer = await client.get(path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert [e["field"] for e in answer.json()["errors"]] == [field]
