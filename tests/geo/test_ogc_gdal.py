"""GDAL's own OGC API – Features client (the OAPIF driver of Debian's gdal-bin, installed by
scripts/test.sh) reading a real `borderwatch serve`: ogr2ogr copies every feature, and
ogrinfo -spat counts what a box holds, as the test counts it."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.geo.incidents import spread
from tests.support.dbutil import throwaway_database
from tests.support.server import Server, borderwatch, serving

INCIDENTS = 260  # 26 pages of GDAL's default page size (10), and more than one at any size


@dataclass
class Site:
    server: Server
    live: dict[str, tuple[float, float]]  # id -> (lon, lat) of every live incident


def request(url: str, key: str, method: str = "GET", body: Any = None, **headers: str) -> Any:
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(sent, timeout=60) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """A server on a database of its own with INCIDENTS incidents, one of them deleted."""
    for tool in ("ogr2ogr", "ogrinfo"):
        assert shutil.which(tool), f"{tool} is missing: run ./scripts/test.sh (installs gdal-bin)"
    log = tmp_path_factory.mktemp("gdal") / "server.log"
    async with throwaway_database() as url, serving(url, log) as server:
        out = await asyncio.to_thread(
            borderwatch, server.env, "keys", "create", "--name", "gdal", "--role", "editor"
        )
        key = out.strip().splitlines()[-1]
        stored = await asyncio.to_thread(
            request,
            f"{server.url}/v1/incidents:batch",
            key,
            "POST",
            {"incidents": spread(INCIDENTS, seed=11)},
        )
        docs = stored["items"]
        gone = docs.pop()
        await asyncio.to_thread(
            request,
            f"{server.url}/v1/incidents/{gone['id']}",
            key,
            "DELETE",
            None,
            **{"If-Match": '"1"'},
        )
        live = {d["id"]: tuple(d["location"]["coordinates"]) for d in docs}
        yield Site(server, live)


async def gdal(*args: str) -> str:
    done = await asyncio.to_thread(
        subprocess.run, list(args), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


async def copy(site: Site, layer: str, tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / f"{layer}.geojson"
    await gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{site.server.url}/ogc", layer)
    features: list[dict[str, Any]] = json.loads(out.read_text())["features"]
    return features


async def spatial_count(site: Site, layer: str, box: tuple[float, ...]) -> int:
    out = await gdal(
        "ogrinfo", "-ro", "-so", "-spat", *map(str, box), f"OAPIF:{site.server.url}/ogc", layer
    )
    found = re.search(r"^Feature Count: (\d+)$", out, flags=re.M)
    assert found, out
    return int(found[1])


def inside(box: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


async def test_ogr2ogr_copies_every_incident(site: Site, tmp_path: Path) -> None:
    features = await copy(site, "incidents", tmp_path)
    copied = {f["properties"]["id"]: tuple(f["geometry"]["coordinates"]) for f in features}
    assert len(features) == len(site.live) == INCIDENTS - 1
    assert copied == site.live  # every live incident, at its place; the deleted one not


async def test_ogrinfo_counts_the_incidents_in_a_box(site: Site) -> None:
    box = (70.505, 31.005, 72.255, 33.495)
    expected = sum(inside(box, *point) for point in site.live.values())
    assert 10 < expected < len(site.live)  # more than one page, less than everything
    assert await spatial_count(site, "incidents", box) == expected


async def test_gdal_reads_the_crossings(site: Site, tmp_path: Path) -> None:
    key_free = urllib.request.urlopen(f"{site.server.url}/v1/crossings", timeout=30)
    crossings = {
        c["slug"]: tuple(c["location"]["coordinates"]) for c in json.loads(key_free.read())["items"]
    }
    features = await copy(site, "crossings", tmp_path)
    copied = {f["properties"]["slug"]: tuple(f["geometry"]["coordinates"]) for f in features}
    assert copied == crossings
    box = (69.0, 31.0, 71.3, 34.3)
    expected = sum(inside(box, *point) for point in crossings.values())
    assert 0 < expected < len(crossings)
    assert await spatial_count(site, "crossings", box) == expected


async def test_gdal_sends_nothing_the_server_refuses(site: Site) -> None:
    """Every request GDAL made in this module was answered without a 4xx or 5xx."""
    await gdal("ogrinfo", "-ro", "-al", "-so", f"OAPIF:{site.server.url}/ogc")
    requests = re.findall(r'"(GET|HEAD|POST) (\S+) HTTP/1.1" (\d{3})', site.server.log.read_text())
    ogc = [(path, status) for _, path, status in requests if path.startswith("/ogc")]
    assert ogc, "no /ogc request in the server's log"
    assert [r for r in ogc if r[1][0] in "45"] == []
