"""HTTP routes of the vector tiles and their TileJSON documents: cacheable (an ETag from the
data version and the request, 304, Cache-Control)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import ReadAccess
from app.core import dataversion
from app.core.clock import today_karachi
from app.core.db import SessionDep, read_connection
from app.core.params import none_match, public_base
from app.geo import tiles
from app.geo.tiles import MAX_ZOOM, MEDIA_TYPE, Layer, Tile, TileQuery, Version
from app.incidents.filters import check_known
from app.reference.names import names_of

router = APIRouter(prefix="/v1/tiles", tags=["tiles"], dependencies=[ReadAccess])

MAX_AGE_S = 60  # tiles change with the data: a minute, then a cheap revalidation (304)

# Plain ASCII digits without leading zeros, so that a tile has one URL (and one cache entry):
# an int parameter would also take "+3", "003", "1_0" or " 3 " for the same tile.
_NUMBER = r"^(0|[1-9][0-9]{0,9})$"
Z = Annotated[
    str, Path(pattern=_NUMBER, description=f"Zoom level, 0 to {MAX_ZOOM}", examples=["8"])
]
X = Annotated[
    str, Path(pattern=_NUMBER, description="Column, 0 to 2^z - 1 (west to east)", examples=["178"])
]
Y = Annotated[
    str,
    Path(
        pattern=_NUMBER,
        description="Row, 0 to 2^z - 1 (north to south, XYZ scheme)",
        examples=["102"],
    ),
]

TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A Mapbox Vector Tile 2.1 (protobuf, EPSG:3857, extent 4096); its "
        "layers are described by the TileJSON document",
        "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    204: {"description": "An empty tile: nothing to show there"},
    304: {"description": "Not modified since the ETag"},
    422: {"description": "z, x or y outside the tile matrix, or a bad filter"},
}
TILEJSON_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A TileJSON 3.0.0 document",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    422: {"description": "A bad filter"},
}


def _cache_control(request: Request) -> str:
    scope = "public" if request.app.state.settings.public_read else "private"
    return f"{scope}, max-age={MAX_AGE_S}"


def _headers(request: Request, version: Version, key: tuple[Any, ...]) -> dict[str, str]:
    return {
        "Cache-Control": _cache_control(request),
        "ETag": dataversion.answer_etag(version, key),
        "X-Data-Version": str(version[0]),
    }


def _not_modified(request: Request, version: Version, key: tuple[Any, ...]) -> Response | None:
    """304 when If-None-Match names the ETag of this request at this data version."""
    headers = _headers(request, version, key)
    if none_match(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return None


def _tile(request: Request, version: Version, key: tuple[Any, ...], mvt: bytes) -> Response:
    headers = _headers(request, version, key)
    if not mvt:
        return Response(status_code=204, headers=headers)
    return Response(mvt, media_type=MEDIA_TYPE, headers=headers)


async def _small_layer_tile(
    request: Request,
    session: AsyncSession,
    zxy: tuple[str, str, str],
    key: tuple[Any, ...],
    render: Callable[[AsyncSession, Tile], Awaitable[bytes]],
) -> Response:
    """A tile of a layer of a few rows (crossings, provinces): a 304 when the ETag holds at
    this data version, else the tile `render` builds."""
    tile = Tile(*map(int, zxy))
    version = await dataversion.version(session)
    if (not_modified := _not_modified(request, version, key)) is not None:
        return not_modified
    return _tile(request, version, key, await render(session, tile))


def _tiles_url(request: Request, layer: str) -> str:
    """The absolute URL template of a layer's tiles, with the query the client passed."""
    base = public_base(request)
    # The query as the client wrote it, but braces: a map client fills in {z}, {x} and {y}
    # wherever they are, so a filter holding one (q={z}) would change with every tile.
    query = request.url.query.replace("{", "%7B").replace("}", "%7D")
    return f"{base}/v1/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf" + (f"?{query}" if query else "")


def _json(request: Request, document: dict[str, Any]) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return Response(
        body, media_type="application/json", headers={"Cache-Control": _cache_control(request)}
    )


def _tilejson(request: Request, layer: Layer, **kwargs: Any) -> Response:
    return _json(request, tiles.tilejson(layer, _tiles_url(request, layer.id), **kwargs))


@router.get(
    "/incidents/{z}/{x}/{y}.pbf",
    response_class=Response,
    summary="Vector tile of incidents",
    responses=TILE_RESPONSES,
)
async def incident_tile(
    request: Request,
    session: SessionDep,
    z: Z,
    x: X,
    y: Y,
    query: Annotated[TileQuery, Query()],
) -> Response:
    """Live incidents in tile z/x/y as a Mapbox Vector Tile built by PostGIS (layer
    `incidents`: id, occurred_on, killed_total, perpetrator, attack_type, kind, count),
    filtered by the list filters of `GET /v1/incidents`. A tile that would hold more
    incidents than the server's cap holds grid cells instead (`count`, summed
    `killed_total`). 204 for an empty tile. `ETag` follows the data version: send it back
    as `If-None-Match` for a 304 while nothing changed."""
    tile = Tile(int(z), int(x), int(y))
    cap = request.app.state.settings.tile_point_cap
    key = ("incidents", z, x, y, query.scope(), cap)
    async with read_connection(request, session) as conn:
        await check_known(conn, names_of(request.app.state), query)
        if request.headers.get("if-none-match") is not None:
            seq, epoch = await conn.fetchrow("SELECT seq, epoch FROM data_version")
            if (not_modified := _not_modified(request, (seq, epoch), key)) is not None:
                return not_modified
        rendered = await tiles.incident_tile(conn, query, tile, cap)
    return _tile(request, rendered.version, key, rendered.mvt)


@router.get(
    "/incidents.json",
    summary="TileJSON of the incident tiles",
    response_class=Response,
    responses=TILEJSON_RESPONSES,
)
async def incidents_tilejson(
    request: Request, session: SessionDep, query: Annotated[TileQuery, Query()]
) -> Response:
    """A TileJSON 3.0.0 document for map clients (MapLibre, OpenLayers, QGIS): the tile URL
    template, absolute and carrying the filters passed here, zoom range, bounds, centre and
    the `incidents` layer's fields."""
    async with read_connection(request, session) as conn:
        await check_known(conn, names_of(request.app.state), query)
    return _tilejson(request, tiles.INCIDENTS)


@router.get(
    "/crossings/{z}/{x}/{y}.pbf",
    response_class=Response,
    summary="Vector tile of crossing points",
    responses=TILE_RESPONSES,
)
async def crossing_tile(request: Request, session: SessionDep, z: Z, x: X, y: Y) -> Response:
    """Crossing points in tile z/x/y (layer `crossings`: slug, name, status, status_since,
    province), their status today derived from the status history as `GET /v1/crossings`
    does. 204 for an empty tile; ETag and 304 as the incident tiles."""
    key = ("crossings", z, x, y, today_karachi())
    return await _small_layer_tile(request, session, (z, x, y), key, tiles.crossing_tile)


@router.get(
    "/crossings.json",
    summary="TileJSON of the crossing tiles",
    response_class=Response,
    responses=TILEJSON_RESPONSES,
)
async def crossings_tilejson(request: Request) -> Response:
    """A TileJSON 3.0.0 document for the `crossings` layer."""
    return _tilejson(request, tiles.CROSSINGS)


@router.get(
    "/provinces/{z}/{x}/{y}.pbf",
    response_class=Response,
    summary="Vector tile of province outlines",
    responses=TILE_RESPONSES,
)
async def province_tile(request: Request, session: SessionDep, z: Z, x: X, y: Y) -> Response:
    """Province polygons in tile z/x/y (layer `provinces`: code, name, country), for the
    provinces whose boundary is loaded (`borderwatch boundaries load`). 204 for an empty
    tile; ETag and 304 as the incident tiles."""
    key = ("provinces", z, x, y)
    return await _small_layer_tile(request, session, (z, x, y), key, tiles.province_tile)


@router.get(
    "/provinces.json",
    summary="TileJSON of the province tiles",
    response_class=Response,
    responses=TILEJSON_RESPONSES,
)
async def provinces_tilejson(request: Request, session: SessionDep) -> Response:
    """A TileJSON 3.0.0 document for the `provinces` layer; its bounds are those of the
    loaded boundaries (the region of the data while none is loaded)."""
    bounds = await tiles.province_bounds(session)
    return _tilejson(request, tiles.PROVINCES, **({"bounds": bounds} if bounds else {}))
