"""Vector tiles of incidents, crossings and provinces, decoded with mapbox-vector-tile: each
feature in the tile the slippy-map formula gives for its point, with its attributes; filters,
empty tiles, the tile matrix, ETags, TileJSON, and grid cells over the point cap."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import dataversion
from app.core.clock import today_karachi
from app.geo.tiles import EXTENT, Tile, TileQuery, incidents_sql
from tests.core.test_errors import assert_problem
from tests.support.keys import Keys
from tests.support.payloads import incident

MVT = "application/vnd.mapbox-vector-tile"
TORKHAM = (71.090, 34.107)  # migrations/data/crossings.csv
NEAR_TORKHAM = (71.1012, 34.1133)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding a point (the slippy-map formula)."""
    n = 2**z
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int(x), int(y)


def in_tile(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Where a point lies inside its tile, in tile coordinates (0..EXTENT, y down)."""
    n = 2**z
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (x - int(x)) * EXTENT, (y - int(y)) * EXTENT


def tile_url(layer: str, tile: tuple[int, int, int]) -> str:
    return f"/v1/tiles/{layer}/{tile[0]}/{tile[1]}/{tile[2]}.pbf"


def features(r: Response, layer: str) -> list[dict[str, Any]]:
    """The features of one layer of a 200 tile."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    decoded = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})
    assert set(decoded) == {layer}
    assert decoded[layer]["extent"] == EXTENT
    return decoded[layer]["features"]  # type: ignore[no-any-return]


def killed(body: dict[str, Any]) -> int:
    return sum(c["killed"] for c in body["casualties"])


async def post(client: AsyncClient, keys: Keys, lon: float, lat: float, **over: Any) -> str:
    body = incident(location={"type": "Point", "coordinates": [lon, lat]}, **over)
    r = await client.post("/v1/incidents", json=body, headers=keys.analyst)
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


async def test_tiles_at_the_edges_of_the_world_find_what_they_hold(
    client: AsyncClient, keys: Keys
) -> None:
    """Tiles at x = 0 or 2^z - 1 reach past ±180° with their buffer: the area searched is
    clamped, not wrapped round to the other hemisphere (every zoom-1 tile was empty)."""
    lon, lat = NEAR_TORKHAM
    iid = await post(client, keys, lon, lat)
    for z in (0, 1, 2):
        tile = tile_of(lon, lat, z)
        found = features(await client.get(tile_url("incidents", tile)), "incidents")
        assert iid in {f["properties"]["id"] for f in found}, tile
    (torkham,) = [
        f
        for f in features(await client.get(tile_url("crossings", (1, 1, 0))), "crossings")
        if f["properties"]["slug"] == "torkham"
    ]
    assert torkham["properties"]["name"] == "Torkham"


async def test_an_incident_is_in_its_tile_with_its_attributes(
    client: AsyncClient, keys: Keys
) -> None:
    lon, lat = NEAR_TORKHAM
    body = incident(location={"type": "Point", "coordinates": [lon, lat]}, kind="border_clash")
    r = await client.post("/v1/incidents", json=body, headers=keys.analyst)
    iid = r.json()["id"]
    for z in (4, 9, 12, 16):
        (feature,) = features(
            await client.get(tile_url("incidents", tile_of(lon, lat, z))), "incidents"
        )
        assert feature["properties"] == {
            "id": iid,
            "occurred_on": "2023-01-30",
            "killed_total": killed(body),
            "perpetrator": "jamaat-ul-ahrar",
            "attack_type": "suicide_bombing",
            "kind": "border_clash",
            "count": 1,
        }
        assert feature["geometry"]["type"] == "Point"
        x, y = feature["geometry"]["coordinates"]
        want_x, want_y = in_tile(lon, lat, z)
        assert abs(x - want_x) <= 1 and abs(y - want_y) <= 1
    # The next tiles east and south at z=12 do not hold it.
    z, x, y = tile_of(lon, lat, 12)
    assert (await client.get(tile_url("incidents", (z, x + 1, y)))).status_code == 204
    assert (await client.get(tile_url("incidents", (z, x, y + 1)))).status_code == 204


async def test_filters_apply_and_only_live_incidents_show(client: AsyncClient, keys: Keys) -> None:
    lon, lat = NEAR_TORKHAM
    ttp = await post(client, keys, lon, lat, perpetrator="ttp", occurred_on="2024-05-01")
    iskp = await post(client, keys, lon + 0.01, lat, perpetrator="iskp", occurred_on="2022-05-01")
    gone = await post(client, keys, lon - 0.01, lat, perpetrator="ttp")
    retracted = await post(client, keys, lon, lat + 0.01, perpetrator="ttp")
    r = await client.delete(f"/v1/incidents/{gone}", headers={**keys.editor, "If-Match": '"1"'})
    assert r.status_code == 204
    r = await client.patch(
        f"/v1/incidents/{retracted}",
        json={"status": "retracted"},
        headers={**keys.editor, "If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200
    url = tile_url("incidents", tile_of(lon, lat, 10))

    def ids(r: Response) -> set[str]:
        return {f["properties"]["id"] for f in features(r, "incidents")}

    assert ids(await client.get(url)) == {ttp, iskp}
    assert ids(await client.get(url, params={"perpetrator": "ttp"})) == {ttp}
    assert ids(await client.get(url, params={"since": "2023-01-01"})) == {ttp}
    assert ids(
        await client.get(url, params={"perpetrator": "iskp,ttp", "until": "2023-01-01"})
    ) == {iskp}
    near = {"near": f"{lon + 0.01},{lat}", "radius_km": "0.5"}
    assert ids(await client.get(url, params=near)) == {iskp}
    assert (await client.get(url, params={"perpetrator": "bla"})).status_code == 204
    assert (await client.get(url, params={"q": "{area} 100%"})).status_code == 204  # bound


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"province": "PK-XX"}, "province"),
        ({"limit": "10"}, "limit"),  # pages do not apply to a tile
        ({"cursor": "abc"}, "cursor"),
        ({"bbox": "72,33,70,35"}, "bbox"),
    ],
)
async def test_a_bad_filter_is_a_422(
    client: AsyncClient, params: dict[str, str], field: str
) -> None:
    for url in ("/v1/tiles/incidents/5/22/12.pbf", "/v1/tiles/incidents.json"):
        body = assert_problem(await client.get(url, params=params), 422)
        assert [e["field"] for e in body["errors"]] == [field]


async def test_an_empty_tile_is_a_204_that_can_be_cached(client: AsyncClient) -> None:
    r = await client.get("/v1/tiles/incidents/8/0/0.pbf")  # the Bering Sea
    assert r.status_code == 204 and r.content == b""
    assert r.headers["etag"] and r.headers["cache-control"].startswith("public, max-age=")
    again = await client.get(
        "/v1/tiles/incidents/8/0/0.pbf", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("23/0/0", "z"),
        ("3/8/0", "x"),
        ("3/0/8", "y"),
        ("0/1/0", "x"),
        ("-1/0/0", "z"),
        ("3/-1/0", "x"),
        ("3/1.5/0", "x"),
        ("3/0/y", "y"),
        ("1e3/0/0", "z"),
        ("30/1073741824/0", "z"),
        # One URL per tile: no sign, leading zero, digit separator or space.
        ("+3/0/0", "z"),
        ("03/0/0", "z"),
        ("1_0/0/0", "z"),
        ("3/%200/0", "x"),
    ],
)
async def test_a_tile_outside_the_matrix_is_a_422(
    client: AsyncClient, path: str, field: str
) -> None:
    for layer in ("incidents", "crossings", "provinces"):
        body = assert_problem(await client.get(f"/v1/tiles/{layer}/{path}.pbf"), 422)
        assert field in {e["field"] for e in body["errors"]}


def test_the_last_tile_of_each_zoom_is_in_the_matrix() -> None:
    Tile(0, 0, 0)
    Tile(22, 2**22 - 1, 2**22 - 1)


async def test_the_etag_holds_while_nothing_changes_and_moves_after_a_write(
    client: AsyncClient, keys: Keys, db: AsyncSession
) -> None:
    lon, lat = NEAR_TORKHAM
    await post(client, keys, lon, lat)
    url = tile_url("incidents", tile_of(lon, lat, 12))
    first = await client.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=60"
    etag = first.headers["etag"]
    same = await client.get(url, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.headers["etag"] == etag and same.content == b""
    # Another tile or other filters: another ETag.
    other = await client.get(url, params={"perpetrator": "ttp"})
    assert other.headers["etag"] != etag
    # Any incident write moves it, even one elsewhere (the tag names the data version).
    await post(client, keys, 66.97, 30.30)
    moved = await client.get(url, headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    # So does a change outside the incidents (a crossing, a boundary): the epoch.
    crossing_url = tile_url("crossings", tile_of(*TORKHAM, 10))
    before = (await client.get(crossing_url)).headers["etag"]
    await dataversion.move_epoch(db)
    after = await client.get(crossing_url, headers={"If-None-Match": before})
    assert after.status_code == 200 and after.headers["etag"] != before
    assert (
        await client.get(url, headers={"If-None-Match": moved.headers["etag"]})
    ).status_code == 200


async def test_tilejson_describes_the_tiles_with_the_filters_passed(client: AsyncClient) -> None:
    r = await client.get("/v1/tiles/incidents.json?province=PK-KP&perpetrator=ttp,iskp")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [
        "http://test/v1/tiles/incidents/{z}/{x}/{y}.pbf?province=PK-KP&perpetrator=ttp,iskp"
    ]
    assert 0 <= doc["minzoom"] < doc["maxzoom"] <= 22
    west, south, east, north = doc["bounds"]
    assert west < TORKHAM[0] < east and south < TORKHAM[1] < north
    lon, lat, zoom = doc["center"]
    assert west < lon < east and south < lat < north and doc["minzoom"] <= zoom <= doc["maxzoom"]
    (layer,) = doc["vector_layers"]
    assert layer["id"] == "incidents"
    want = {"id", "occurred_on", "killed_total", "perpetrator", "attack_type", "kind", "count"}
    assert set(layer["fields"]) == want and all(layer["fields"].values())
    assert "grid" in layer["description"]
    # Braces in a filter are not template variables for the client to fill in.
    braces = (await client.get("/v1/tiles/incidents.json?q={z}/{x}")).json()
    assert braces["tiles"] == ["http://test/v1/tiles/incidents/{z}/{x}/{y}.pbf?q=%7Bz%7D/%7Bx%7D"]
    # The template works as a client would fill it in.
    plain = (await client.get("/v1/tiles/incidents.json")).json()
    assert plain["tiles"] == ["http://test/v1/tiles/incidents/{z}/{x}/{y}.pbf"]
    for name, fields in (
        ("crossings", {"slug", "name", "status"}),
        ("provinces", {"code", "name"}),
    ):
        doc = (await client.get(f"/v1/tiles/{name}.json")).json()
        assert doc["tiles"] == [f"http://test/v1/tiles/{name}/{{z}}/{{x}}/{{y}}.pbf"]
        assert doc["vector_layers"][0]["id"] == name
        assert fields <= set(doc["vector_layers"][0]["fields"])


async def test_crossings_carry_the_status_app_crossings_derives(
    client: AsyncClient, db: AsyncSession
) -> None:
    # A restriction from today, the periods in force until now ending yesterday (as a status
    # event posted through the API would end an open-ended one).
    today = today_karachi()
    await db.execute(
        text(
            "UPDATE crossing_status_events SET valid_to = :yesterday "
            "WHERE crossing_slug = 'torkham' AND (valid_to IS NULL OR valid_to >= :today)"
        ),
        {"today": today, "yesterday": today - timedelta(days=1)},
    )
    await db.execute(
        text(
            "INSERT INTO crossing_status_events (crossing_slug, status, valid_from) "
            "VALUES ('torkham', 'restricted', :today)"
        ),
        {"today": today},
    )
    tile = tile_of(*TORKHAM, 11)
    found = {
        f["properties"]["slug"]: f
        for f in features(await client.get(tile_url("crossings", tile)), "crossings")
    }
    torkham = found["torkham"]
    listed = (await client.get("/v1/crossings/torkham")).json()
    assert torkham["properties"] == {
        "slug": "torkham",
        "name": "Torkham",
        "status": listed["current_status"]["status"],
        "status_since": listed["current_status"]["since"],
        "province": "PK-KP",
    }
    assert torkham["properties"]["status"] == "restricted"
    assert torkham["properties"]["status_since"] == today_karachi().isoformat()
    x, y = torkham["geometry"]["coordinates"]
    want_x, want_y = in_tile(*TORKHAM, 11)
    assert abs(x - want_x) <= 1 and abs(y - want_y) <= 1
    # Every crossing lies in the tile of its own point; one far from all is empty.
    for c in (await client.get("/v1/crossings")).json()["items"]:
        lon, lat = c["location"]["coordinates"]
        slugs = {
            f["properties"]["slug"]
            for f in features(
                await client.get(tile_url("crossings", tile_of(lon, lat, 9))), "crossings"
            )
        }
        assert c["slug"] in slugs
    assert (await client.get("/v1/tiles/crossings/8/0/0.pbf")).status_code == 204


async def test_provinces_whose_boundary_is_loaded_are_outlined(
    client: AsyncClient, db: AsyncSession
) -> None:
    assert (await client.get(tile_url("provinces", tile_of(71, 34, 6)))).status_code == 204
    await db.execute(
        text(
            "UPDATE provinces SET geom = ST_Multi(ST_MakeEnvelope(70, 33, 72, 35, 4326)) "
            "WHERE code = 'PK-KP'"
        )
    )
    await dataversion.move_epoch(db)  # as the boundary loader does
    (feature,) = features(await client.get(tile_url("provinces", tile_of(71, 34, 6))), "provinces")
    assert feature["properties"] == {"code": "PK-KP", "name": "Khyber Pakhtunkhwa", "country": "PK"}
    assert feature["geometry"]["type"] == "Polygon"
    # The polygon's corners where the slippy-map formula puts them (the tile holds it all).
    z, x, y = tile_of(71, 34, 6)
    assert tile_of(70, 35, 6) == tile_of(72, 33, 6) == (z, x, y)
    (ring,) = feature["geometry"]["coordinates"]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    (x0, y0), (x1, y1) = in_tile(70, 35, 6), in_tile(72, 33, 6)
    assert abs(min(xs) - x0) <= 1 and abs(max(xs) - x1) <= 1
    assert abs(min(ys) - y0) <= 1 and abs(max(ys) - y1) <= 1
    # Deep inside the polygon a tile is all province; outside it, empty.
    (inside,) = features(await client.get(tile_url("provinces", tile_of(71, 34, 12))), "provinces")
    assert inside["properties"]["code"] == "PK-KP"
    assert (await client.get(tile_url("provinces", tile_of(67, 30, 8)))).status_code == 204
    doc = (await client.get("/v1/tiles/provinces.json")).json()
    assert doc["bounds"] == pytest.approx([70, 33, 72, 35])


async def test_a_tile_over_the_cap_holds_grid_cells_with_counts(
    client: AsyncClient, keys: Keys, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Six incidents around Torkham and two at one point in Zhob, all in one z=4 tile.
    spots = [(71.0 + k * 0.2, 34.0 + k * 0.1) for k in range(6)] + [(69.45, 31.34)] * 2
    bodies = []
    for k, (lon, lat) in enumerate(spots):
        casualties = [{"category": "police", "killed": k + 1, "injured": 0}]
        location = {"type": "Point", "coordinates": [lon, lat]}
        bodies.append(incident(location=location, casualties=casualties, fatality_range=None))
    r = await client.post("/v1/incidents:batch", json={"incidents": bodies}, headers=keys.analyst)
    assert r.status_code == 201, r.text
    tile = tile_of(69, 32, 4)
    assert all(tile_of(lon, lat, 4) == tile for lon, lat in spots)
    url = tile_url("incidents", tile)

    monkeypatch.setattr(app.state.settings, "tile_point_cap", len(spots))
    single = features(await client.get(url), "incidents")
    assert len(single) == len(spots) and all(f["properties"]["count"] == 1 for f in single)
    capped = await client.get(url)

    monkeypatch.setattr(app.state.settings, "tile_point_cap", len(spots) - 1)
    cells = features(r := await client.get(url), "incidents")
    assert r.headers["etag"] != capped.headers["etag"]  # the cap is part of the answer
    assert all(set(f["properties"]) == {"count", "killed_total"} for f in cells)
    assert sum(f["properties"]["count"] for f in cells) == len(spots)
    assert sum(f["properties"]["killed_total"] for f in cells) == sum(range(1, len(spots) + 1))
    # Each cell (64 tile units a side) holds the incidents whose point falls in it, and lies
    # at their mean position: the two Zhob incidents share one, at their point.
    groups: dict[tuple[int, int], list[int]] = {}
    for k, (lon, lat) in enumerate(spots):
        px, py = in_tile(lon, lat, 4)
        groups.setdefault((int(px // 64), int(py // 64)), []).append(k)
    found = {}
    for f in cells:
        x, y = f["geometry"]["coordinates"]
        found[(int(x // 64), int(y // 64))] = (
            f["properties"]["count"],
            f["properties"]["killed_total"],
        )
    assert found == {cell: (len(ks), sum(k + 1 for k in ks)) for cell, ks in groups.items()}
    (zhob,) = [f for f in cells if f["properties"]["killed_total"] == 7 + 8]
    want_x, want_y = in_tile(69.45, 31.34, 4)
    x, y = zhob["geometry"]["coordinates"]
    assert abs(x - want_x) <= 1 and abs(y - want_y) <= 1
    # Filters apply before the count: a filtered tile under the cap is single incidents again.
    few = features(await client.get(url, params={"min_killed": len(spots) - 1}), "incidents")
    assert sorted(f["properties"]["killed_total"] for f in few) == [len(spots) - 1, len(spots)]
    assert all("id" in f["properties"] for f in few)


async def test_the_tile_area_is_a_range_of_the_gist_index(db: AsyncSession) -> None:
    sql, args = incidents_sql(TileQuery(), Tile(12, *tile_of(*TORKHAM, 12)[1:]), 2000)
    conn = (await (await db.connection()).get_raw_connection()).driver_connection
    # The table is empty here, so any scan of it or of a whole index of live incidents is as
    # cheap as any other. Without those (dropped in the test's transaction, which is rolled
    # back), the tile's area must be a condition the GiST index answers.
    for index in (
        "ix_incidents_tiles",
        "ix_incidents_killed_total_live",
        "ix_incidents_occurred_on_id",
    ):
        await conn.execute(f"DROP INDEX {index}")
    await conn.execute("SET LOCAL enable_seqscan = off")
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *args))
    await conn.execute("SET LOCAL enable_seqscan = on")
    # The count, the cells and the points: each reads the GiST index for the tile's area.
    assert plan.count("Index Scan using ix_incidents_geom") == 3, plan
    assert plan.count("Index Cond: (geom && '0103") == 3, plan  # a constant: the tile's area


async def test_the_openapi_document_describes_the_binary_tiles(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for layer in ("incidents", "crossings", "provinces"):
        responses = paths[f"/v1/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf"]["get"]["responses"]
        assert responses["200"]["content"] == {
            MVT: {"schema": {"type": "string", "format": "binary"}}
        }
        assert {"204", "304", "422"} <= set(responses)
        assert f"/v1/tiles/{layer}.json" in paths
    params = paths["/v1/tiles/incidents/{z}/{x}/{y}.pbf"]["get"]["parameters"]
    names = {p["name"] for p in params}
    assert {"z", "x", "y", "province", "perpetrator", "since", "bbox"} <= names
    assert not names & {"limit", "cursor", "format"}
    assert all(p.get("description") for p in params if p["in"] == "path")


async def test_tilejson_names_the_configured_public_url_whatever_the_host(
    app: FastAPI, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = {"Host": "evil.example"}
    r = await client.get("/v1/tiles/incidents.json", headers=hostile)
    assert r.json()["tiles"][0].startswith("http://evil.example/")  # unset: the request's own
    monkeypatch.setattr(app.state.settings, "public_url", "https://bw.example.org/")
    r = await client.get("/v1/tiles/incidents.json?kind=attack", headers=hostile)
    assert r.json()["tiles"] == [
        "https://bw.example.org/v1/tiles/incidents/{z}/{x}/{y}.pbf?kind=attack"
    ]
