"""Small boundaries for tests: GeoJSON features of boxes and circles, and distances on the
sphere computed here, not by PostGIS."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

EARTH_KM = 6371.0088  # mean radius


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    """A Polygon geometry of a lon/lat box."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def circle(lon: float, lat: float, radius_deg: float, vertices: int) -> dict[str, Any]:
    """A Polygon geometry of a many-sided circle (a boundary with detail to simplify)."""
    ring = [
        [
            round(lon + radius_deg * math.cos(2 * math.pi * k / vertices), 6),
            round(lat + radius_deg * math.sin(2 * math.pi * k / vertices), 6),
        ]
        for k in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    """A GeoJSON Feature."""
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(features)}


def write(path: Path, *features: dict[str, Any]) -> Path:
    """A GeoJSON file of the features."""
    path.write_text(json.dumps(collection(*features)), encoding="utf-8")
    return path


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance on the mean sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(a))


def east_of(lon: float, lat: float, km: float) -> float:
    """The longitude whose point on the parallel `lat` lies `km` (great circle) east of (lon,
    lat); the meridian's nearest point to it is at almost the same latitude at these
    distances."""
    low, high = lon, lon + 10.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if haversine_km(lon, lat, mid, lat) < km else (low, mid)
    return (low + high) / 2


def vertices(geometry: dict[str, Any]) -> int:
    """Number of positions in a (Multi)Polygon geometry."""
    polygons = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    return sum(len(ring) for polygon in polygons for ring in polygon)
