"""Exports, on a database of their own where every request commits (exports read through
their own connection and snapshot, as in production): the formats agree with each other,
with the list and with the change feed; a past version comes back byte for byte; clients
that leave mid-export release their connection."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from httpx import AsyncClient
from sqlalchemy import text

from app.core.config import Settings
from app.main import create_app
from tests.support.dbutil import Site, committed_site
from tests.support.net import free_port
from tests.support.payloads import incident
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = ("security_forces", "police", "civilians", "militants", "unknown")


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with committed_site(pool_size=4, max_overflow=0) as site:
        rows = [
            incident(
                place_name=f"site {n}",
                occurred_on=f"202{2 + n % 3}-0{1 + n % 9}-1{n % 9}",
                province=("PK-KP", "PK-BA")[n % 2],
                district=("peshawar", "quetta")[n % 2],
                casualties=[{"category": CATEGORIES[n % 5], "killed": n % 7, "injured": n % 4}],
                fatality_range=None,
                description='quote " and\nnewline, comma, back\\slash, \ttab and \r\n',
            )
            for n in range(60)
        ]
        r = await site.client.post(
            "/v1/incidents:batch", json={"incidents": rows}, headers=site.analyst
        )
        assert r.status_code == 201, r.text
        yield site


async def export(site: Site, fmt: str, **params: Any) -> tuple[bytes, dict[str, str]]:
    r = await site.client.get("/v1/exports/incidents", params={"format": fmt, **params})
    assert r.status_code == 200, r.text
    return r.content, dict(r.headers)


def ids_of(fmt: str, body: bytes) -> list[str]:
    if fmt == "ndjson":
        return [json.loads(line)["id"] for line in body.decode().splitlines()]
    if fmt == "json":
        return [d["id"] for d in json.loads(body)]
    if fmt == "geojson":
        return [f["id"] for f in json.loads(body)["features"]]
    return [row["id"] for row in csv.DictReader(io.StringIO(body.decode()))]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"province": "PK-BA"},
        {"category": "police,unknown"},
        {"since": "2023-01-01", "min_killed": "3"},
    ],
)
async def test_every_format_and_the_list_agree_on_the_ids(
    site: Site, params: dict[str, str]
) -> None:
    listed: list[str] = []
    cursor = None
    while True:
        page = (
            await site.client.get(
                "/v1/incidents",
                params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        listed += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    versions = set()
    for fmt in ("ndjson", "json", "geojson", "csv"):
        body, headers = await export(site, fmt, **params)
        assert ids_of(fmt, body) == sorted(listed), fmt  # exports are in id order
        versions.add(headers["x-data-version"])
        assert headers["content-disposition"].startswith("attachment; filename=")
    assert len(versions) == 1


async def test_media_types(site: Site) -> None:
    for fmt, media in [
        ("ndjson", "application/x-ndjson"),
        ("json", "application/json"),
        ("geojson", "application/geo+json"),
        ("csv", "text/csv"),
    ]:
        _, headers = await export(site, fmt)
        assert headers["content-type"].startswith(media)


async def test_geojson_export_is_rfc_7946(site: Site) -> None:
    body, _ = await export(site, "geojson")
    collection = json.loads(body)
    assert collection["type"] == "FeatureCollection"
    for feature in collection["features"]:
        assert set(feature) == {"type", "id", "geometry", "properties"}
        assert feature["type"] == "Feature" and isinstance(feature["id"], str)
        geometry = feature["geometry"]
        assert geometry["type"] == "Point" and len(geometry["coordinates"]) == 2
        lon, lat = geometry["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90 and lon > lat  # lon first here
        assert feature["properties"]["id"] == feature["id"]
        assert "location" not in feature["properties"]  # the geometry says it


async def test_csv_loads_with_the_right_totals(site: Site) -> None:
    body, _ = await export(site, "csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    docs = {d["id"]: d for d in json.loads((await export(site, "json"))[0])}
    assert len(rows) == len(docs)
    for row in rows:
        doc = docs[row["id"]]
        reported = {c["category"] for c in doc["casualties"]}
        for c in CATEGORIES:  # a category nobody reported is empty, not 0
            assert (row[f"killed_{c}"] == "") == (c not in reported)
        killed = sum(int(row[f"killed_{c}"] or 0) for c in CATEGORIES)
        assert killed == int(row["killed_total"]) == doc["killed_total"]
        injured = sum(int(row[f"injured_{c}"] or 0) for c in CATEGORIES)
        assert injured == int(row["injured_total"])
        assert float(row["lon"]) == doc["location"]["coordinates"][0]
        # quotes, line breaks, commas, backslashes and tabs survive
        assert row["description"] == doc["description"]
        assert row["source_urls"] == doc["sources"][0]["url"]


async def test_the_change_feed_holds_the_same_incidents(site: Site) -> None:
    docs = {d["id"]: d for d in json.loads((await export(site, "json"))[0])}
    live: dict[str, Any] = {}
    after = 0
    while True:
        body = (await site.client.get("/v1/changes", params={"after": after, "limit": 50})).json()
        for change in body["items"]:
            if change["op"] == "deleted":
                live.pop(change["id"], None)
            else:
                live[change["id"]] = change["incident"]
            after = change["seq"]
        if body["next_after"] is None:
            break
    replayed = {k: v for k, v in live.items() if v["status"] != "retracted"}
    assert replayed == docs


async def test_a_version_export_is_byte_identical_after_edits_and_deletes(site: Site) -> None:
    taken: dict[str, tuple[bytes, str]] = {}
    for fmt in ("ndjson", "json", "geojson", "csv"):
        body, headers = await export(site, fmt, province="PK-KP")
        taken[fmt] = (body, headers["x-data-version"])
    (version,) = {v for _, v in taken.values()}

    docs = json.loads(taken["json"][0])
    edited, deleted, retracted = docs[0]["id"], docs[1]["id"], docs[2]["id"]
    patch = {"Content-Type": "application/merge-patch+json"}
    await site.client.patch(
        f"/v1/incidents/{edited}",
        json={"place_name": "moved"},
        headers={**site.analyst, **patch, "If-Match": '"1"'},
    )
    await site.client.delete(f"/v1/incidents/{deleted}", headers={**site.editor, "If-Match": '"1"'})
    await site.client.patch(
        f"/v1/incidents/{retracted}",
        json={"status": "retracted"},
        headers={**site.editor, **patch, "If-Match": '"1"'},
    )
    await site.client.post("/v1/incidents", json=incident(), headers=site.analyst)

    now, headers = await export(site, "json", province="PK-KP")
    assert int(headers["x-data-version"]) == int(version) + 4
    assert now != taken["json"][0]
    for fmt, (body, _) in taken.items():
        again, headers = await export(site, fmt, province="PK-KP", version=version)
        assert again == body, fmt
        assert headers["x-data-version"] == version
    # Without filters the CSV export reads its own table of lines: it too has left the
    # deleted and retracted incidents out and holds the edit.
    ndjson, _ = await export(site, "ndjson")
    rows = list(csv.DictReader(io.StringIO((await export(site, "csv"))[0].decode())))
    assert [row["id"] for row in rows] == ids_of("ndjson", ndjson)
    assert {deleted, retracted}.isdisjoint(row["id"] for row in rows)
    assert [row["place_name"] for row in rows if row["id"] == edited] == ["moved"]


async def test_version_must_not_be_in_the_future(site: Site) -> None:
    current = int((await export(site, "ndjson"))[1]["x-data-version"])
    r = await site.client.get("/v1/exports/incidents", params={"version": current + 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "version"
    bad = await site.client.get("/v1/exports/incidents", params={"format": "xml"})
    assert bad.status_code == 422


async def test_fifty_aborted_exports_leave_the_pool_healthy(site: Site) -> None:
    # Enough rows that each export is still streaming when its client leaves.
    subprocess.run(
        [
            "psql",
            site.url.replace("+asyncpg", ""),
            "-X",
            "-q",
            "-v",
            "start=1",
            "-v",
            "stop=20000",
            "-f",
            str(ROOT / "bench" / "load_synthetic.sql"),
        ],
        check=True,
        capture_output=True,
    )
    app = create_app(Settings(database_url=site.url, pool_size=3, max_overflow=0, pool_timeout_s=2))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, timeout=10, what="uvicorn started")
        async with AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(50):
                async with client.stream("GET", "/v1/exports/incidents") as r:
                    assert r.status_code == 200
                    async for _chunk in r.aiter_raw():
                        break  # leave after the first chunk
            pool = app.state.engine.pool

            async def released() -> bool:
                assert pool.checkedout() == 0, f"{pool.checkedout()} connections checked out"
                return True

            await eventually(released, timeout=10)

            async def no_copy_left() -> bool:
                # Only this database's sessions: other suites on the server export too.
                async with app.state.engine.connect() as conn:
                    copying = (
                        await conn.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND query LIKE 'COPY (%'"
                                " AND state = 'active' AND pid <> pg_backend_pid()"
                            )
                        )
                    ).scalar()
                assert copying == 0, f"{copying} COPY still running on this database"
                return True

            await eventually(no_copy_left, timeout=10)
            # The pool (3 connections, 2 s to get one) still serves every request.
            for _ in range(10):
                assert (await client.get("/v1/provinces")).status_code == 200
            full = await client.get("/v1/exports/incidents", params={"format": "csv"})
            assert full.status_code == 200 and full.text.count("\n") > 20000
    finally:
        server.should_exit = True
        await serving
