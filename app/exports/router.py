"""The researchers' routes: the change feed, and exports streamed by PostgreSQL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.auth.dependencies import ReadAccess
from app.core import dataversion
from app.core.db import SessionDep
from app.core.errors import Invalid
from app.core.openapi import ref, text_body
from app.core.params import BIGINT_MAX
from app.exports import changes as feed
from app.exports import service
from app.exports.schemas import (
    CSV_EXPORT,
    NDJSON_EXPORT,
    ChangeFeed,
    ExportFeatureCollection,
    IncidentArray,
)
from app.incidents import filters
from app.incidents.filters import ExportQuery

router = APIRouter(prefix="/v1", tags=["changes"], dependencies=[ReadAccess])


@router.get(
    "/changes",
    summary="Change feed",
    responses={
        200: {"model": ChangeFeed, "description": "A page of changes, oldest first"},
        422: {"description": "A bad `after` or `limit`"},
    },
)
async def changes(
    session: SessionDep,
    after: Annotated[
        int, Query(ge=0, le=BIGINT_MAX, description="Last sequence number already seen")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Creates, updates and deletes oldest first, each with the incident as that write left
    it (null for deletes). Sequence numbers follow commit order without gaps, so a client
    that resumes after the last `seq` it applied misses nothing. `next_after` is the `seq`
    to ask after for the next page, or null once the feed is caught up; `X-Data-Version` is
    the newest sequence number when the page was read."""
    body, upto = await feed.page(session, after, limit)
    return Response(body, media_type="application/json", headers={"X-Data-Version": str(upto)})


@router.get(
    "/exports/incidents",
    summary="Export incidents (NDJSON, JSON, GeoJSON, CSV), streamed",
    responses={
        200: {
            "model": IncidentArray,
            "description": "The incidents in the format asked for, as a file download",
            "content": {
                service.MEDIA["ndjson"]: text_body(NDJSON_EXPORT),
                service.MEDIA["geojson"]: {"schema": ref(ExportFeatureCollection)},
                service.MEDIA["csv"]: text_body(CSV_EXPORT),
            },
        },
        422: {"description": "A bad filter, format or version"},
    },
)
async def export_incidents(
    request: Request, session: SessionDep, query: Annotated[ExportQuery, Query()]
) -> StreamingResponse:
    """Every matching incident, ordered by id, streamed from PostgreSQL's COPY in one
    snapshot with constant memory. CSV flattens casualties into `killed_<category>` and
    `injured_<category>` columns (empty where no such casualty row was reported).
    `X-Data-Version` names the data exported; asking again with `version=<that number>`
    later gives the same bytes, rebuilt from the revision history, whatever was edited or
    deleted since."""
    await filters.check(session, query)
    if query.version is not None and query.version > await dataversion.current(session):
        raise Invalid(
            [{"field": "version", "message": "is newer than the data (see X-Data-Version)"}]
        )
    opened = await service.open_export(request.app.state.engine, query, query.format, query.version)
    name = f"borderwatch-incidents-v{opened.version}.{service.EXTENSION[query.format]}"
    return StreamingResponse(
        opened.chunks,
        media_type=service.MEDIA[query.format],
        headers={
            "X-Data-Version": str(opened.version),
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )
