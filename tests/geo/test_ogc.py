"""/ogc over the real app: links, the OpenAPI 3.0 document, extents, bbox, datetime, limit,
next links, single features and every refusal as problem+json."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from openapi_spec_validator import validate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.geo.ogc.schemas import Collections, Conformance, Feature, FeatureCollection, LandingPage
from tests.geo.incidents import spread
from tests.support.keys import Keys

GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
ITEMS = "/ogc/collections/incidents/items"
KARACHI = ZoneInfo("Asia/Karachi")
WHOLE_REGION = "60,23,78,38"  # the incidents' CHECK region: a box around every incident


async def post(client: AsyncClient, keys: Keys, bodies: list[dict[str, Any]]) -> list[dict]:
    """Store the incidents; their documents as the API gives them."""
    answer = await client.post(
        "/v1/incidents:batch", json={"incidents": bodies}, headers=keys.analyst
    )
    assert answer.status_code == 201, answer.text
    return list(answer.json()["items"])


def relative(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def link(body: dict[str, Any], rel: str) -> dict[str, Any] | None:
    found = [x for x in body["links"] if x["rel"] == rel]
    assert len(found) <= 1, found
    return found[0] if found else None


async def walk(client: AsyncClient, url: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page from `url` on by its next links: the feature ids in order, and the pages."""
    ids, pages = [], []
    while url:
        answer = await client.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == GEOJSON
        page = answer.json()
        pages.append(page)
        ids += [f["id"] for f in page["features"]]
        nxt = link(page, "next")
        url = relative(nxt["href"]) if nxt else ""
    return ids, pages


def assert_problem(answer: Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def point(doc: dict[str, Any]) -> tuple[float, float]:
    lon, lat = doc["location"]["coordinates"]
    return float(lon), float(lat)


# ---- landing page, conformance, API definition ---------------------------------------------


async def test_landing_page_links_lead_to_their_documents(client: AsyncClient) -> None:
    answer = await client.get("/ogc")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    LandingPage.model_validate(body)  # the answer has the documented shape
    rels = {x["rel"]: x for x in body["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == OPENAPI_30
    for rel, media in [
        ("self", "application/json"),
        ("service-desc", OPENAPI_30),
        ("conformance", "application/json"),
        ("data", "application/json"),
    ]:
        followed = await client.get(relative(rels[rel]["href"]))
        assert followed.status_code == 200, rel
        assert followed.headers["content-type"] == media, rel
    assert (await client.get(relative(rels["service-doc"]["href"]))).status_code == 200


async def test_conformance_names_core_geojson_and_oas30(client: AsyncClient) -> None:
    body = (await client.get("/ogc/conformance?f=json")).json()
    Conformance.model_validate(body)
    base = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    assert {base + c for c in ("core", "geojson", "oas30")} <= set(body["conformsTo"])


async def test_service_desc_is_a_valid_openapi_30_document_of_the_ogc_paths(
    client: AsyncClient,
) -> None:
    doc = (await client.get("/ogc/api")).json()
    assert doc["openapi"].startswith("3.0.")
    validate(doc)  # raises on anything OpenAPI 3.0 does not allow
    # Paths from the service's root, as OGC API clients look them up.
    assert doc["servers"] == [{"url": "http://test/ogc"}]
    assert {"/", "/conformance", "/collections", "/collections/{collection_id}/items"} <= set(
        doc["paths"]
    )
    params = {
        p["name"]: p for p in doc["paths"]["/collections/incidents/items"]["get"]["parameters"]
    }
    assert {"bbox", "datetime", "limit", "province", "perpetrator"} <= set(params)
    assert params["bbox"]["explode"] is False
    assert params["limit"]["schema"]["maximum"] == 10_000
    limit = doc["components"]["parameters"]["limit"]["schema"]  # where QGIS reads it
    assert (limit["default"], limit["maximum"]) == (10, 10_000)
    # FastAPI's own document stays OpenAPI 3.1.
    assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.1")


# ---- collections -----------------------------------------------------------------------------


async def test_collections_give_extents_computed_from_the_data(
    client: AsyncClient, keys: Keys
) -> None:
    docs = await post(client, keys, spread(40))
    body = (await client.get("/ogc/collections")).json()
    Collections.model_validate(body)
    by_id = {c["id"]: c for c in body["collections"]}
    assert {"incidents", "crossings"} <= set(by_id)
    assert "provinces" not in by_id and "districts" not in by_id  # no boundary loaded
    incidents = by_id["incidents"]
    assert incidents["itemType"] == "feature"
    assert link(incidents, "items")["type"] == GEOJSON  # type: ignore[index]
    (x0, y0, x1, y1) = incidents["extent"]["spatial"]["bbox"][0]
    lons, lats = zip(*(point(d) for d in docs), strict=True)
    # A box around every incident, inside the region incidents may lie in (read at the head
    # of the spatial index: entries of rows gone, other tests' included, may widen it).
    assert x0 <= min(lons) and y0 <= min(lats) and x1 >= max(lons) and y1 >= max(lats)
    assert x0 >= 60 and y0 >= 23 and x1 <= 78 and y1 <= 38
    days = sorted(d["occurred_on"] for d in docs)
    start, end = incidents["extent"]["temporal"]["interval"][0]
    as_day = lambda s: datetime.fromisoformat(s).astimezone(KARACHI).date().isoformat()  # noqa: E731
    assert (as_day(start), as_day(end)) == (days[0], days[-1])
    crossings = (await client.get("/v1/crossings")).json()
    points = [c["location"]["coordinates"] for c in crossings["items"]]
    box = by_id["crossings"]["extent"]["spatial"]["bbox"][0]
    assert box == [
        min(p[0] for p in points),
        min(p[1] for p in points),
        max(p[0] for p in points),
        max(p[1] for p in points),
    ]
    one = (await client.get("/ogc/collections/incidents")).json()
    assert one["id"] == "incidents" and one["extent"] == incidents["extent"]


async def test_boundaries_appear_as_collections_once_loaded(
    client: AsyncClient, db: AsyncSession
) -> None:
    assert_problem(await client.get("/ogc/collections/provinces"), 404)
    await db.execute(
        text(
            "UPDATE provinces SET geom = ST_Multi(ST_MakeEnvelope(69, 31, 72, 36, 4326)) "
            "WHERE code = 'PK-KP'"
        )
    )
    listed = {c["id"]: c for c in (await client.get("/ogc/collections")).json()["collections"]}
    assert "provinces" in listed and "districts" not in listed
    box = listed["provinces"]["extent"]["spatial"]["bbox"][0]
    assert all(abs(a - b) < 1e-4 for a, b in zip(box, [69, 31, 72, 36], strict=True)), box
    page = (await client.get("/ogc/collections/provinces/items")).json()
    assert [f["id"] for f in page["features"]] == ["PK-KP"]
    assert page["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert page["numberMatched"] == 1
    one = await client.get("/ogc/collections/provinces/items/PK-KP")
    assert one.status_code == 200 and one.json()["properties"]["name"]
    assert_problem(await client.get("/ogc/collections/provinces/items/PK-BA"), 404)


# ---- items -----------------------------------------------------------------------------------


async def test_next_links_walk_every_incident_once_newest_first(
    client: AsyncClient, keys: Keys
) -> None:
    docs = await post(client, keys, spread(37))
    ids, pages = await walk(client, f"{ITEMS}?limit=10")
    assert sorted(ids) == sorted(d["id"] for d in docs) and len(set(ids)) == 37
    assert [p["numberReturned"] for p in pages] == [10, 10, 10, 7]
    assert pages[0]["numberMatched"] == 37  # counted once: pages reached by next leave it out
    assert all("numberMatched" not in p for p in pages[1:])
    for page in pages:
        FeatureCollection.model_validate(page)
    order = {d["id"]: (d["occurred_on"], d["id"]) for d in docs}
    keys_in_order = [order[i] for i in ids]
    assert keys_in_order == sorted(
        keys_in_order, key=lambda k: (-date.fromisoformat(k[0]).toordinal(), k[1])
    )
    first = pages[0]
    stamp = datetime.fromisoformat(first["timeStamp"])
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 120
    assert link(first, "self") and link(first, "collection")
    feature = first["features"][0]
    assert feature["type"] == "Feature" and feature["id"] == feature["properties"]["id"]
    assert feature["geometry"]["type"] == "Point" and "location" not in feature["properties"]


async def test_pages_stay_whole_while_incidents_are_added(client: AsyncClient, keys: Keys) -> None:
    docs = await post(client, keys, spread(30))
    answer = (await client.get(f"{ITEMS}?limit=10")).json()
    seen = [f["id"] for f in answer["features"]]
    # Newer, older and same-day incidents arrive between the pages.
    await post(client, keys, spread(25, seed=99))
    rest, _ = await walk(client, relative(link(answer, "next")["href"]))  # type: ignore[index]
    seen += rest
    assert len(seen) == len(set(seen))  # nothing twice
    assert {d["id"] for d in docs} <= set(seen)  # nothing that was there is skipped


async def test_bbox_selects_the_incidents_inside(client: AsyncClient, keys: Keys) -> None:
    docs = await post(client, keys, spread(120))
    box = (70.505, 31.005, 72.255, 33.495)
    inside = {
        d["id"] for d in docs if box[0] <= point(d)[0] <= box[2] and box[1] <= point(d)[1] <= box[3]
    }
    assert 0 < len(inside) < 120
    ids, pages = await walk(client, f"{ITEMS}?bbox={','.join(map(str, box))}&limit=7")
    assert sorted(ids) == sorted(inside)
    assert pages[0]["numberMatched"] == len(inside)
    # A box around every incident: the count comes from the rollups, and is the same.
    whole = (await client.get(f"{ITEMS}?bbox={WHOLE_REGION}&limit=1")).json()
    assert whole["numberMatched"] == 120


async def test_bbox_forms_that_are_refused(client: AsyncClient) -> None:
    body = assert_problem(await client.get(f"{ITEMS}?bbox=70,31,0,72,33,100"), 400, "bbox")
    assert "6 numbers" in body["errors"][0]["message"]
    assert_problem(await client.get(f"{ITEMS}?bbox=70,31,72"), 400, "bbox")
    assert_problem(await client.get(f"{ITEMS}?bbox=72,31,70,33"), 400, "bbox")
    assert_problem(await client.get(f"{ITEMS}?bbox=70,33,72,31"), 400, "bbox")
    assert_problem(await client.get(f"{ITEMS}?bbox=70,31,200,33"), 400, "bbox")
    assert_problem(await client.get(f"{ITEMS}?bbox=a,b,c,d"), 400, "bbox")


def _days(docs: list[dict[str, Any]], first: str | None, last: str | None) -> set[str]:
    return {
        d["id"]
        for d in docs
        if (first is None or d["occurred_on"] >= first)
        and (last is None or d["occurred_on"] <= last)
    }


async def test_datetime_instants_and_intervals_select_days(client: AsyncClient, keys: Keys) -> None:
    docs = await post(client, keys, spread(90))
    one_day = docs[0]["occurred_on"]
    # A time selects the day it falls on in Pakistan: 20:00Z is 01:00 the next day there.
    late = (date.fromisoformat(one_day) - timedelta(days=1)).isoformat() + "T20:00:00Z"
    cases = {
        one_day: (one_day, one_day),
        late: (one_day, one_day),
        f"{one_day}T10:00:00+05:00": (one_day, one_day),
        "2024-01-01/2024-01-31": ("2024-01-01", "2024-01-31"),
        "2023-12-25T00:00:00Z/2024-01-05T12:00:00Z": ("2023-12-25", "2024-01-05"),
        "2024-02-01/..": ("2024-02-01", None),
        "../2023-12-31": (None, "2023-12-31"),
        "/2024-01-10": (None, "2024-01-10"),
        "2024-01-10/": ("2024-01-10", None),
        "../..": (None, None),
    }
    for value, (first, last) in cases.items():
        expected = _days(docs, first, last)
        answer = await client.get(ITEMS, params={"datetime": value, "limit": 10_000})
        assert answer.status_code == 200, (value, answer.text)
        body = answer.json()
        assert {f["id"] for f in body["features"]} == expected, value
        assert body["numberMatched"] == len(expected), value
    # With the list's own since/until too, the days both allow.
    both = await client.get(
        ITEMS, params={"datetime": "2024-01-01/..", "until": "2024-01-15", "limit": 10_000}
    )
    assert {f["id"] for f in both.json()["features"]} == _days(docs, "2024-01-01", "2024-01-15")


async def test_datetime_forms_that_are_refused(client: AsyncClient) -> None:
    for value in (
        "..",
        "",
        "yesterday",
        "2024-02-30",
        "2024-01-01T10:00:00",  # no offset: whose 10 o'clock?
        "2024-03-01/2024-01-01",
        "2024-01-01/2024-02-01/2024-03-01",
    ):
        assert_problem(await client.get(ITEMS, params={"datetime": value}), 400, "datetime")


async def test_number_matched_from_the_rollups_equals_a_count(
    client: AsyncClient, keys: Keys
) -> None:
    docs = await post(client, keys, spread(150))
    for interval, (first, last) in {
        "2023-12-31/2024-02-01": ("2023-12-31", "2024-02-01"),
        "2024-01-01/2024-02-29": ("2024-01-01", "2024-02-29"),
        "2024-01-15/2024-01-20": ("2024-01-15", "2024-01-20"),
        "2024-01-31/2024-02-01": ("2024-01-31", "2024-02-01"),
        "../2024-01-31": (None, "2024-01-31"),
        "2024-02-02/..": ("2024-02-02", None),
    }.items():
        for bbox in (None, WHOLE_REGION):
            params = {"datetime": interval, "limit": 1, **({"bbox": bbox} if bbox else {})}
            body = (await client.get(ITEMS, params=params)).json()
            assert body["numberMatched"] == len(_days(docs, first, last)), (interval, bbox)


async def test_limit_default_and_bounds(client: AsyncClient, keys: Keys) -> None:
    await post(client, keys, spread(12))
    assert (await client.get(ITEMS)).json()["numberReturned"] == 10
    assert (await client.get(f"{ITEMS}?limit=10000")).json()["numberReturned"] == 12
    assert_problem(await client.get(f"{ITEMS}?limit=0"), 400, "limit")
    assert_problem(await client.get(f"{ITEMS}?limit=10001"), 400, "limit")
    assert_problem(await client.get(f"{ITEMS}?limit=ten"), 400, "limit")


async def test_property_filters_by_the_list_names(client: AsyncClient, keys: Keys) -> None:
    docs = await post(client, keys, spread(60))
    ttp = {d["id"] for d in docs if d["perpetrator"] == "ttp"}
    answer = (await client.get(f"{ITEMS}?perpetrator=ttp&limit=100")).json()
    assert {f["id"] for f in answer["features"]} == ttp
    assert answer["numberMatched"] == len(ttp)
    killed = {d["id"] for d in docs if d["killed_total"] >= 3 and d["perpetrator"] != "ttp"}
    ids, _ = await walk(client, f"{ITEMS}?min_killed=3&perpetrator=iskp,unknown&limit=5")
    assert sorted(ids) == sorted(killed)
    assert_problem(await client.get(f"{ITEMS}?province=PK-XX"), 400, "province")
    assert_problem(await client.get(f"{ITEMS}?provnce=PK-KP"), 400, "provnce")
    assert_problem(await client.get(f"{ITEMS}?f=html"), 400, "f")


async def test_a_cursor_is_refused_when_altered_or_moved_to_other_filters(
    client: AsyncClient, keys: Keys
) -> None:
    await post(client, keys, spread(15))
    page = (await client.get(f"{ITEMS}?limit=5&perpetrator=ttp,iskp,unknown")).json()
    cursor = parse_qs(urlsplit(link(page, "next")["href"]).query)["cursor"][0]  # type: ignore[index]
    assert_problem(await client.get(f"{ITEMS}?limit=5&cursor={cursor}"), 400)
    assert_problem(await client.get(f"{ITEMS}?cursor={cursor[:-2]}xx"), 400)
    assert_problem(await client.get(f"/v1/incidents?cursor={cursor}"), 400)


async def test_one_incident_by_id_and_404s(client: AsyncClient, keys: Keys) -> None:
    (doc,) = await post(client, keys, spread(1))
    answer = await client.get(f"{ITEMS}/{doc['id']}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == GEOJSON
    feature = answer.json()
    Feature.model_validate(feature)
    assert feature["id"] == doc["id"] and feature["geometry"] == doc["location"]
    assert relative(link(feature, "self")["href"]) == f"{ITEMS}/{doc['id']}"  # type: ignore[index]
    assert link(feature, "collection")
    assert_problem(await client.get(f"{ITEMS}/0190a5e2-0000-7000-8000-000000000000"), 404)
    assert_problem(await client.get(f"{ITEMS}/not-an-id"), 404)
    deleted = await client.delete(
        f"/v1/incidents/{doc['id']}", headers={**keys.editor, "If-Match": '"1"'}
    )
    assert deleted.status_code == 204
    assert_problem(await client.get(f"{ITEMS}/{doc['id']}"), 404)
    assert (await client.get(ITEMS)).json()["numberMatched"] == 0
    assert_problem(await client.get("/ogc/collections/nothing"), 404)
    assert_problem(await client.get("/ogc/collections/nothing/items"), 404)
    assert_problem(await client.get("/ogc/collections/nothing/items/x"), 404)


async def test_crossings_as_features(client: AsyncClient) -> None:
    crossings = (await client.get("/v1/crossings")).json()["items"]
    ids, pages = await walk(client, "/ogc/collections/crossings/items?limit=3")
    assert ids == sorted(c["slug"] for c in crossings)
    assert pages[0]["numberMatched"] == len(crossings)
    assert "numberMatched" not in pages[1]
    torkham = (await client.get("/ogc/collections/crossings/items/torkham")).json()
    assert torkham["properties"]["name"] == "Torkham"
    listed = next(c for c in crossings if c["slug"] == "torkham")
    assert torkham["geometry"]["coordinates"] == listed["location"]["coordinates"]
    assert torkham["properties"]["status"] == listed["current_status"]["status"]
    box = (70.9, 33.9, 71.3, 34.3)
    near = sorted(
        c["slug"]
        for c in crossings
        if box[0] <= c["location"]["coordinates"][0] <= box[2]
        and box[1] <= c["location"]["coordinates"][1] <= box[3]
    )
    ids, _ = await walk(client, f"/ogc/collections/crossings/items?bbox={','.join(map(str, box))}")
    assert ids == near and "torkham" in near
    assert_problem(
        await client.get("/ogc/collections/crossings/items?datetime=2024-01-01"), 400, "datetime"
    )
    assert_problem(await client.get("/ogc/collections/crossings/items?province=PK-KP"), 400)
    assert_problem(await client.get("/ogc/collections/crossings/items/nowhere"), 404)


async def test_links_name_the_configured_public_url_not_the_clients_host(
    app: FastAPI, client: AsyncClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    await post(client, keys, spread(3))
    monkeypatch.setattr(app.state.settings, "public_url", "https://bw.example.org")
    hostile = {"Host": "evil.example"}
    landing = (await client.get("/ogc", headers=hostile)).json()
    assert all(link["href"].startswith("https://bw.example.org/") for link in landing["links"])
    page = (await client.get("/ogc/collections/incidents/items?limit=1", headers=hostile)).json()
    hrefs = {link["rel"]: link["href"] for link in page["links"]}
    assert hrefs["self"] == "https://bw.example.org/ogc/collections/incidents/items?limit=1"
    assert hrefs["next"].startswith("https://bw.example.org/ogc/collections/incidents/items?")
    api = (await client.get("/ogc/api", headers=hostile)).json()
    assert "evil.example" not in str(api)


async def test_bounds_at_the_end_of_the_calendar_count_like_no_bound(
    client: AsyncClient, keys: Keys
) -> None:
    docs = await post(client, keys, spread(5))
    for query in (
        "until=9999-12-31",
        "datetime=9999-12-31",
        "datetime=../9999-12-31",
        "datetime=2020-01-01/9999-12-31T12:00:00Z",
        "since=9999-12-02",
        "bbox=69,32,72,35&until=9999-12-31",
    ):
        r = await client.get(f"{ITEMS}?{query}")
        assert r.status_code == 200, (query, r.text)
        future = query.startswith(("datetime=9999", "since=9999"))
        want = 0 if future else len(docs) if "bbox" not in query else None
        if want is not None:
            assert r.json()["numberMatched"] == want, query


async def test_a_feature_id_is_written_as_the_api_writes_it(
    client: AsyncClient, keys: Keys
) -> None:
    (doc,) = await post(client, keys, spread(1))
    for spelt in (doc["id"].upper(), "urn:uuid:" + doc["id"], doc["id"].replace("-", "")):
        r = await client.get(f"{ITEMS}/{spelt}")
        assert r.status_code == 200, spelt
        self_link = link(r.json(), "self")
        assert self_link and self_link["href"].endswith(f"/items/{doc['id']}")
    for bad in ("%00", "torkham%00", "a%00b"):
        assert_problem(await client.get(f"/ogc/collections/crossings/items/{bad}"), 404)


async def test_an_interval_ending_before_it_starts_on_one_day_is_refused(
    client: AsyncClient,
) -> None:
    r = await client.get(f"{ITEMS}?datetime=2024-01-01T10:00:00Z/2024-01-01T09:00:00Z")
    body = assert_problem(r, 400)
    assert body["errors"][0]["field"] == "datetime"
    ok = await client.get(f"{ITEMS}?datetime=2024-01-01T09:00:00Z/2024-01-01T10:00:00Z")
    assert ok.status_code == 200
