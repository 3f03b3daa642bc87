"""Mapbox Vector Tiles of incidents, crossing points and province outlines, built by PostGIS
(ST_TileEnvelope, ST_AsMVTGeom, ST_AsMVT), and the TileJSON documents that describe them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Invalid
from app.crossings.service import list_crossings
from app.incidents.filters import IncidentFilters, column_sql, positional

MAX_ZOOM = 22  # the deepest tile served; clients overzoom TILEJSON_MAXZOOM's tiles before it
TILEJSON_MAXZOOM = 14  # the deepest tile a map needs for points and outlines
EXTENT = 4096  # tile coordinates per side (the MVT default)
BUFFER = 64  # tile coordinates kept beyond each edge, so circles are not cut at tile borders
CELL = 64  # side of an aggregation cell, in tile coordinates: 64 x 64 cells a tile
# Every incident and crossing lies here (the CHECK of migration 0001_schema): the TileJSON
# bounds, so that clients ask for no tile outside it.
REGION = (60.0, 23.0, 78.0, 38.0)
CENTER = (69.5, 32.0, 5)
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"

Version = tuple[int, int]  # change-feed sequence number, epoch (app.core.dataversion)


class TileQuery(IncidentFilters):
    """The query of an incident tile: the list filters; pages do not apply to a tile."""


@dataclass(frozen=True)
class Tile:
    """A tile of the XYZ (slippy map) matrix of EPSG:3857."""

    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        errors = []
        if not 0 <= self.z <= MAX_ZOOM:
            errors.append({"field": "z", "message": f"must be a zoom level from 0 to {MAX_ZOOM}"})
        else:
            last = 2**self.z - 1
            for name in ("x", "y"):
                if not 0 <= getattr(self, name) <= last:
                    message = f"must be from 0 to {last} at zoom {self.z} (2^z - 1)"
                    errors.append({"field": name, "message": message})
        if errors:
            raise Invalid(errors, "The tile is outside the tile matrix.")

    def envelope(self) -> str:
        """The tile in EPSG:3857, as ST_AsMVTGeom clips and scales to it."""
        return f"ST_TileEnvelope({self.z}, {self.x}, {self.y})"

    def area(self) -> str:
        """The tile and its buffer in EPSG:4326, the SRID of the stored points, so that
        `geom && area` is a range of their GiST index. A Mercator rectangle is a rectangle of
        longitudes and latitudes, so the slippy-map formula gives it exactly; the buffer is
        clamped to the edges of the world (a tile at x = 0 or 2^z - 1 reaching past ±180°
        would wrap round to the other hemisphere and find nothing: every tile of zoom 1)."""
        n = 1 << self.z
        margin = BUFFER / EXTENT

        def lon(x: float) -> float:
            return min(max(x / n * 360.0 - 180.0, -180.0), 180.0)

        def lat(y: float) -> float:
            y = min(max(y, 0.0), float(n))
            return float(math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n)))))

        west, east = lon(self.x - margin), lon(self.x + 1 + margin)
        south, north = lat(self.y + 1 + margin), lat(self.y - margin)
        return f"ST_MakeEnvelope({west!r}, {south!r}, {east!r}, {north!r}, 4326)"

    def mvt_geom(self, geom: str) -> str:
        """A geometry of EPSG:4326 in this tile's coordinates, clipped to its buffer."""
        return (
            f"ST_AsMVTGeom(ST_Transform({geom}, 3857), {self.envelope()}, {EXTENT}, {BUFFER}, true)"
        )


# A tile's numbers are written into its statement (checked integers, nothing a client wrote),
# so that PostgreSQL plans each tile for its own area. Bound as parameters, they let a prepared
# statement settle on a generic plan made for an area of unknown size: a GiST scan reading every
# incident through the index at zoom 4 (680 ms at 100k incidents, against 320 ms with the plan
# made for that tile, a sequential scan).


# ---- incidents ------------------------------------------------------------------------------

# One statement, one snapshot: the data version, whether the tile holds more than `tcap`
# incidents (counting stops at tcap + 1, through the GiST index), and the tile, of single
# incidents or of grid cells. Each branch of the CASE is an InitPlan that runs only when it
# is taken. The cells are squares of the EPSG:3857 plane (the slippy-map formula, on the
# stored longitudes and latitudes: no projection per incident) anchored at its corner, so
# that a cell in one tile's buffer is the same cell, with the same count, in the next tile;
# a cell is named by one number, column << 32 | row (2^28 cells a side at zoom 22), which
# also orders the features (the same bytes for the same data), and drawn at the mean
# position of its incidents. Each point is read once (OFFSET 0 keeps
# PostgreSQL from pulling ST_X and ST_Y up into the three expressions that use them: 860 ms
# for a zoom-5 tile at 1M incidents, then 620). Every column it reads is in
# ix_incidents_tiles (migration 0011_tiles): unfiltered, or filtered on dates, kind,
# province, group or attack type, it is an index-only scan, not a scan of the wide table.
_INCIDENTS = """
WITH crowded AS (
    SELECT count(*) > :tcap AS yes
      FROM (SELECT FROM incidents i WHERE i.geom && {area} AND {condition} LIMIT :tcap + 1) n
)
SELECT d.seq, d.epoch, c.yes AS aggregated,
       CASE WHEN c.yes THEN (
           SELECT ST_AsMVT(t, 'incidents', {extent}, 'geom' ORDER BY g.cell)
             FROM (SELECT floor((q.lon + 180) / 360 * {cells})::bigint << 32
                          | floor((1 - asinh(tan(radians(q.lat))) / pi()) / 2
                                  * {cells})::bigint AS cell,
                          count(*) AS count, sum(q.killed_total)::bigint AS killed_total,
                          {mean} AS geom
                     FROM (SELECT ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.killed_total
                             FROM incidents i WHERE i.geom && {area} AND {condition}
                           OFFSET 0) q
                    GROUP BY 1) g,
                  LATERAL (SELECT g.count, g.killed_total, g.geom) t
       ) ELSE (
           SELECT ST_AsMVT(t, 'incidents', {extent}, 'geom' ORDER BY t.killed_total, t.id)
             FROM (SELECT i.id::text AS id, i.occurred_on::text AS occurred_on,
                          i.killed_total, i.perpetrator_slug AS perpetrator, i.attack_type,
                          i.kind, 1 AS count, {point} AS geom
                     FROM incidents i WHERE i.geom && {area} AND {condition}) t
       ) END AS mvt
  FROM data_version d, crowded c
"""


@dataclass(frozen=True)
class Rendered:
    """A tile's bytes (empty for an empty tile) and the data version they were read at."""

    version: Version
    mvt: bytes
    aggregated: bool = False


_TILE_PARTS = ("area", "envelope", "cells", "mean", "point")


def incidents_sql(filters: TileQuery, tile: Tile, cap: int) -> tuple[str, list[Any]]:
    """The statement of an incident tile (asyncpg's $n placeholders) and its arguments.
    The filters' shape is converted to $n once (positional() keeps it); the tile's numbers
    go in after, so that tiles do not crowd that cache of shapes."""
    params: dict[str, Any] = {"tcap": cap}
    shape = _INCIDENTS.format(
        condition=column_sql(filters, params),
        extent=EXTENT,
        buffer=BUFFER,
        **{part: "{" + part + "}" for part in _TILE_PARTS},
    )
    sql, args = positional(shape, params)
    return sql.format(
        area=tile.area(),
        envelope=tile.envelope(),
        cells=2**tile.z * (EXTENT // CELL),
        mean=tile.mvt_geom("ST_SetSRID(ST_MakePoint(avg(q.lon), avg(q.lat)), 4326)"),
        point=tile.mvt_geom("i.geom"),
    ), args


async def incident_tile(conn: Any, filters: TileQuery, tile: Tile, cap: int) -> Rendered:
    """The live incidents in a tile that pass the filters, one feature each; when more than
    `cap` would be, one feature per grid cell with their `count` and summed `killed_total`."""
    sql, args = incidents_sql(filters, tile, cap)
    row = await conn.fetchrow(sql, *args)
    return Rendered(
        (int(row["seq"]), int(row["epoch"])), bytes(row["mvt"] or b""), row["aggregated"]
    )


# ---- crossings and provinces -----------------------------------------------------------------

_CROSSINGS = """
SELECT ST_AsMVT(t, 'crossings', {extent}, 'geom' ORDER BY t.slug)
  FROM (SELECT c.slug, c.name, s.status, s.since AS status_since, c.province_code AS province,
               {point} AS geom
          FROM unnest(CAST(:slugs AS text[]), CAST(:statuses AS text[]),
                      CAST(:sinces AS text[])) AS s (slug, status, since)
          JOIN crossing_points c ON c.slug = s.slug
         WHERE c.geom && {area}) t
"""

# Outlines are clipped to the tile's buffered area before they are projected, so a deep tile
# projects a few vertices of a province, not all of them.
_PROVINCES = """
SELECT ST_AsMVT(t, 'provinces', {extent}, 'geom' ORDER BY t.code)
  FROM (SELECT p.code, p.name, p.country,
               {outline} AS geom
          FROM provinces p
         WHERE p.geom && {area}) t
 WHERE t.geom IS NOT NULL
"""


async def crossing_tile(session: AsyncSession, tile: Tile) -> bytes:
    """Crossing points in a tile with their status today, as app.crossings derives it."""
    crossings = await list_crossings(session)
    since = [c.current_status.since for c in crossings]
    params = {
        "slugs": [c.slug for c in crossings],
        "statuses": [c.current_status.status for c in crossings],
        "sinces": [s.isoformat() if s is not None else None for s in since],
    }
    sql = _CROSSINGS.format(extent=EXTENT, point=tile.mvt_geom("c.geom"), area=tile.area())
    return bytes(await session.scalar(text(sql), params) or b"")


async def province_tile(session: AsyncSession, tile: Tile) -> bytes:
    """Province outlines in a tile, for the provinces whose boundary is loaded."""
    outline = tile.mvt_geom(f"ST_ClipByBox2D(p.geom, {tile.area()})")
    sql = _PROVINCES.format(extent=EXTENT, outline=outline, area=tile.area())
    return bytes(await session.scalar(text(sql)) or b"")


async def province_bounds(session: AsyncSession) -> tuple[float, float, float, float] | None:
    """The extent of the loaded province boundaries, or None while none is loaded."""
    row = (
        await session.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM provinces) s WHERE e IS NOT NULL"
            )
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3])


# ---- TileJSON ------------------------------------------------------------------------------

INCIDENT_FIELDS = {
    "id": "Incident id (absent from grid cells)",
    "occurred_on": "Day of the incident, YYYY-MM-DD (absent from grid cells)",
    "killed_total": "People killed; in a grid cell, the sum over its incidents",
    "perpetrator": "Group slug, see /v1/groups (absent from grid cells)",
    "attack_type": "Attack type (absent from grid cells)",
    "kind": "attack, security_operation, border_clash or cross_border_strike (absent from "
    "grid cells)",
    "count": "Incidents the feature stands for: 1, or more in a grid cell",
}
CROSSING_FIELDS = {
    "slug": "Crossing slug, as in /v1/crossings/{slug}",
    "name": "Crossing name",
    "status": "Status today (Asia/Karachi): open, closed or restricted",
    "status_since": "First day of that status, YYYY-MM-DD, when known",
    "province": "Province code of the Pakistani side",
}
PROVINCE_FIELDS = {
    "code": "ISO 3166-2 code, e.g. PK-KP",
    "name": "Province name",
    "country": "PK or AF",
}


@dataclass(frozen=True)
class Layer:
    """What a TileJSON document says of one tile set."""

    id: str
    description: str
    fields: dict[str, str]


INCIDENTS = Layer(
    "incidents",
    "Live incidents (neither retracted nor deleted) that pass the filters, one point each. "
    "A tile that would hold more than the server's cap (BW_TILE_POINT_CAP) holds one point "
    f"per cell of a {EXTENT // CELL} x {EXTENT // CELL} grid instead, at the mean position "
    "of its incidents, with `count` and the summed `killed_total` only.",
    INCIDENT_FIELDS,
)
CROSSINGS = Layer(
    "crossings",
    "Pakistan-Afghanistan crossing points with their status today.",
    CROSSING_FIELDS,
)
PROVINCES = Layer(
    "provinces",
    "Province outlines, for the provinces whose boundary is loaded.",
    PROVINCE_FIELDS,
)


def tilejson(
    layer: Layer, tiles_url: str, bounds: tuple[float, float, float, float] = REGION
) -> dict[str, Any]:
    """A TileJSON 3.0.0 document for one layer, its tiles at `tiles_url` ({z}/{x}/{y})."""
    return {
        "tilejson": "3.0.0",
        "name": f"Borderwatch {layer.id}",
        "description": layer.description,
        "attribution": "Borderwatch",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": 0,
        "maxzoom": TILEJSON_MAXZOOM,
        "bounds": list(bounds),
        "center": list(CENTER),
        "vector_layers": [
            {
                "id": layer.id,
                "description": layer.description,
                "minzoom": 0,
                "maxzoom": TILEJSON_MAXZOOM,
                "fields": layer.fields,
            }
        ],
    }
