"""HTTP routes of /ogc: OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from app import __version__
from app.auth.dependencies import ReadAccess
from app.core.clock import KARACHI
from app.core.config import cursor_key
from app.core.db import SessionDep, read_connection
from app.core.ids import parse_uuid
from app.core.openapi import ref
from app.core.params import public_base, public_here
from app.geo.ogc import service
from app.geo.ogc.openapi import OPENAPI_30, document
from app.geo.ogc.query import CRS84, IncidentItemsQuery, ItemsQuery
from app.geo.ogc.schemas import (
    Collection,
    Collections,
    Conformance,
    Feature,
    FeatureCollection,
    LandingPage,
)
from app.reference.names import names_of

router = APIRouter(prefix="/ogc", tags=["ogc"], dependencies=[ReadAccess])

JSON = "application/json"
GEOJSON = "application/geo+json"
TITLE = "Borderwatch OGC API – Features"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
# The representation every /ogc page has (JSON, and GeoJSON for features); a client may ask
# for it by name.
JsonOnly = Annotated[
    Literal["json"] | None,
    Query(alias="f", description="Output format: `json` (the only one served)"),
]
CollectionId = Annotated[
    str, Path(description="incidents, crossings; provinces and districts once loaded")
]
FeatureId = Annotated[str, Path(description="The feature's id (incident id, slug, code)")]


class GeoJSONResponse(Response):
    """A GeoJSON answer."""

    media_type = GEOJSON


class OpenAPI30Response(Response):
    """An OpenAPI 3.0 document."""

    media_type = OPENAPI_30


def _answer(model: type[Any], media: str = JSON) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "OK", "content": {media: {"schema": ref(model)}}}}


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such collection"}}


def _base(request: Request) -> str:
    return public_base(request) + router.prefix


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


def _json(body: Any, media_type: str = JSON) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")), media_type=media_type
    )


@router.get("", summary="Landing page", responses=_answer(LandingPage))
async def landing(request: Request, _f: JsonOnly = None) -> Response:
    """What this service offers and where: the API definition, conformance, collections."""
    base = _base(request)
    return _json(
        {
            "title": TITLE,
            "description": "Militant attacks in Pakistan's border regions and the border "
            "crossings, as OGC API – Features for GIS clients (QGIS, GDAL/OGR).",
            "links": [
                _link(base, "self", JSON, "This document"),
                _link(f"{base}/api", "service-desc", OPENAPI_30, "The API definition"),
                _link(
                    public_base(request) + "/docs",
                    "service-doc",
                    "text/html",
                    "The API documentation",
                ),
                _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
                _link(f"{base}/collections", "data", JSON, "The collections"),
            ],
        }
    )


@router.get(
    "/api",
    summary="The API definition (OpenAPI 3.0)",
    response_class=OpenAPI30Response,
    responses={200: {"description": "OK", "content": {OPENAPI_30: {"schema": {"type": "object"}}}}},
)
async def api_definition(request: Request, _f: JsonOnly = None) -> Response:
    """This API's /ogc paths as an OpenAPI 3.0 document."""
    base = _base(request)
    cache: dict[str, bytes] = request.app.state.__dict__.setdefault("ogc_openapi", {})
    body = cache.get(base)
    if body is None:
        doc = document(request.app.routes, router.prefix, TITLE, __version__, public_base(request))
        if len(cache) >= 8:  # one per base URL: clients choosing Host must not grow it
            cache.clear()
        body = cache[base] = json.dumps(doc, ensure_ascii=False).encode()
    return Response(body, media_type=OPENAPI_30)


@router.get("/conformance", summary="Conformance classes", responses=_answer(Conformance))
async def conformance(_f: JsonOnly = None) -> Response:
    """The OGC API – Features conformance classes this service implements."""
    return _json({"conformsTo": CONFORMANCE})


def _instant(day: date, at: time) -> str:
    moment = datetime.combine(day, at, KARACHI).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _collection(base: str, c: service.Collection) -> dict[str, Any]:
    href = f"{base}/collections/{c.id}"
    extent: dict[str, Any] = {}
    if c.bbox is not None:
        extent["spatial"] = {"bbox": [list(c.bbox)], "crs": CRS84}
    if c.interval is not None:
        first, last = c.interval
        interval = [_instant(first, time(0)), _instant(last, time(23, 59, 59))]
        extent["temporal"] = {"interval": [interval], "trs": GREGORIAN}
    out: dict[str, Any] = {"id": c.id, "title": c.title, "description": c.description}
    if extent:
        out["extent"] = extent
    return out | {
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            _link(href, "self", JSON, c.title),
            _link(f"{href}/items", "items", GEOJSON, f"{c.title} as GeoJSON"),
        ],
    }


@router.get("/collections", summary="The collections", responses=_answer(Collections))
async def collections(request: Request, session: SessionDep, _f: JsonOnly = None) -> Response:
    """Incidents and crossings, and provinces and districts once their boundaries are
    loaded; each with its spatial extent (CRS84) and, for incidents, its temporal one."""
    base = _base(request)
    async with read_connection(request, session) as conn:
        found = await service.collections(conn)
    return _json(
        {
            "links": [_link(f"{base}/collections", "self", JSON, "The collections")],
            "collections": [_collection(base, c) for c in found],
        }
    )


@router.get(
    "/collections/{collection_id}",
    summary="One collection",
    responses={**_answer(Collection), **NOT_FOUND},
)
async def collection(
    request: Request, session: SessionDep, collection_id: CollectionId, _f: JsonOnly = None
) -> Response:
    """A collection's description, extents and links."""
    async with read_connection(request, session) as conn:
        (found,) = await service.collections(conn, collection_id)
    return _json(_collection(_base(request), found))


def _page(request: Request, collection_id: str, items: service.Items) -> Response:
    href = f"{_base(request)}/collections/{collection_id}"
    links = [
        _link(public_here(request), "self", GEOJSON, "This page"),
        _link(href, "collection", JSON, service.TITLES[collection_id]),
    ]
    if items.next_cursor is not None:
        next_url = public_here(request, cursor=items.next_cursor)
        links.append(_link(next_url, "next", GEOJSON, "The next page"))
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    counts = {"numberMatched": items.matched} if items.matched is not None else {}
    head = json.dumps(
        {
            "type": "FeatureCollection",
            **counts,
            "numberReturned": len(items.features),
            "timeStamp": stamp,
            "links": links,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    body = head[:-1] + ',"features":[' + ",".join(items.features) + "]}"
    return Response(body, media_type=GEOJSON)


ITEMS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of features",
        "content": {GEOJSON: {"schema": ref(FeatureCollection)}},
    },
    400: {
        "description": "A bad bbox, datetime, limit or filter, or a cursor this API did not "
        "make (OGC API - Features asks for 400 where the rest of the API answers 422)"
    },
    404: {"description": "No such collection"},
}


@router.get(
    "/collections/incidents/items",
    summary="Incidents as GeoJSON features",
    response_class=GeoJSONResponse,
    responses=ITEMS_RESPONSES,
)
async def incident_items(
    request: Request, session: SessionDep, query: Annotated[IncidentItemsQuery, Query()]
) -> Response:
    """Live incidents, newest day first, a page at a time (`limit`; the `next` link gives the
    following page, stable while incidents are added). `bbox` and `datetime` as OGC API –
    Features says; the filters of GET /v1/incidents by the same names. `numberMatched`
    (on the first page; pages reached by `next` leave it out) counts every incident that
    matches."""
    async with read_connection(request, session) as conn:
        items = await service.incident_items(
            conn,
            names_of(request.app.state),
            query.filters(),
            query.limit,
            query.cursor,
            cursor_key(request.app.state.settings),
        )
    return _page(request, service.INCIDENTS, items)


@router.get(
    "/collections/{collection_id}/items",
    summary="A collection's features as GeoJSON",
    response_class=GeoJSONResponse,
    responses=ITEMS_RESPONSES,
)
async def items(
    request: Request,
    session: SessionDep,
    collection_id: CollectionId,
    query: Annotated[ItemsQuery, Query()],
) -> Response:
    """A page of a collection's features in id order, with `bbox`, `limit` and `next` links
    (incidents: see their own path, which takes more filters)."""
    async with read_connection(request, session) as conn:
        found = await service.layer_items(
            conn, collection_id, query, cursor_key(request.app.state.settings)
        )
    return _page(request, collection_id, found)


def _feature(request: Request, collection_id: str, feature_id: str, text: str) -> Response:
    href = f"{_base(request)}/collections/{collection_id}"
    links = [
        _link(f"{href}/items/{feature_id}", "self", GEOJSON, "This feature"),
        _link(href, "collection", JSON, service.TITLES[collection_id]),
    ]
    body = text[:-1] + ',"links":' + json.dumps(links, separators=(",", ":")) + "}"
    return Response(body, media_type=GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    response_class=GeoJSONResponse,
    responses={
        200: {"description": "The feature", "content": {GEOJSON: {"schema": ref(Feature)}}},
        404: {"description": "No such collection or feature"},
    },
)
async def item(
    request: Request,
    session: SessionDep,
    collection_id: CollectionId,
    feature_id: FeatureId,
    _f: Annotated[
        Literal["json", "geojson"] | None, Query(alias="f", description="Output format (GeoJSON)")
    ] = None,
) -> Response:
    """One feature by id, with links to itself and its collection."""
    async with read_connection(request, session) as conn:
        if collection_id == service.INCIDENTS:
            text = await service.incident(conn, feature_id)
            # The id as the API writes it, however the client spelt it (upper case, urn:uuid:)
            feature_id = str(parse_uuid(feature_id))
        else:
            text = await service.layer_item(conn, collection_id, feature_id)
    return _feature(request, collection_id, quote(feature_id, safe=""), text)
