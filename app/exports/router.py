"""The researchers' routes: the change feed, and exports streamed by PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import text

from app.auth.dependencies import ReadAccess
from app.core import dataversion
from app.core.db import SessionDep
from app.core.errors import validation_problem
from app.core.openapi import ref, text_body
from app.exports import service
from app.exports.schemas import (
    CSV_EXPORT,
    NDJSON_EXPORT,
    ChangeFeed,
    ExportFeatureCollection,
    IncidentArray,
)
from app.incidents import listing

router = APIRouter(prefix="/v1", tags=["changes"], dependencies=[ReadAccess])

_CHANGES = text("""
    SELECT r.seq, r.op, r.incident_id, r.at, r.after::text AS incident
      FROM incident_revisions r
     WHERE r.seq > :after AND r.seq <= :upto
     ORDER BY r.seq
     LIMIT :limit
""")


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
    after: Annotated[int, Query(ge=0, description="Last sequence number already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Creates, updates and deletes oldest first, each with the incident as that write left
    it (null for deletes). Sequence numbers follow commit order without gaps, so a client
    that resumes after the last `seq` it applied misses nothing. `next_after` is the `seq`
    to ask after for the next page, or null once the feed is caught up; `X-Data-Version` is
    the newest sequence number when the page was read."""
    upto = await dataversion.current(session)
    rows = list(await session.execute(_CHANGES, {"after": after, "upto": upto, "limit": limit}))
    items = [
        f'{{"seq":{r.seq},"op":{json.dumps(r.op)},"id":"{r.incident_id}",'
        f'"at":{json.dumps(r.at.isoformat())},"incident":{r.incident or "null"}}}'
        for r in rows
    ]
    more = bool(rows) and rows[-1].seq < upto
    body = (
        '{"items":['
        + ",".join(items)
        + '],"next_after":'
        + (str(rows[-1].seq) if more else "null")
        + "}"
    )
    return Response(body, media_type="application/json", headers={"X-Data-Version": str(upto)})


@router.get(
    "/exports/incidents",
    dependencies=[Depends(listing.documented_filters)],
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
    request: Request,
    session: SessionDep,
    format: Literal["ndjson", "json", "geojson", "csv"] = "ndjson",
    version: Annotated[
        int | None, Query(ge=0, description="Reproduce the data as of this X-Data-Version")
    ] = None,
) -> StreamingResponse:
    """Every matching incident, ordered by id, streamed from PostgreSQL's COPY in one
    snapshot with constant memory. CSV flattens casualties into `killed_<category>` and
    `injured_<category>` columns. `X-Data-Version` names the data exported; asking again
    with `version=<that number>` later gives the same bytes, rebuilt from the revision
    history, whatever was edited or deleted since."""
    raw = listing.raw_filters(request.query_params)
    filters = listing.parse_filters(raw, await listing.references_for(raw, session))
    if version is not None and version > await dataversion.current(session):
        raise validation_problem(
            [{"field": "version", "message": "is newer than the data (see X-Data-Version)"}]
        )
    export = service.build(filters, format, version)
    conn = await request.app.state.engine.connect()
    try:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        await conn.begin()
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        # Stream in id order from the primary-key index from the first row on, rather than
        # computing every document and sorting them before the first byte.
        await conn.execute(text("SET LOCAL enable_sort = off"))
        seen = (
            version
            if version is not None
            else int((await conn.execute(text("SELECT seq FROM data_version"))).scalar_one())
        )
        driver = (await conn.get_raw_connection()).driver_connection
    except BaseException:
        await conn.close()
        raise

    async def body() -> AsyncIterator[bytes]:
        chunks = service.stream(driver, export)
        finished = False
        try:
            async for chunk in chunks:
                yield chunk
            finished = True
        finally:
            # Also when the client went away and this task is being cancelled.
            with anyio.CancelScope(shield=True):
                if not finished:
                    # Cut the COPY off at once: close the socket rather than ask PostgreSQL
                    # to cancel a COPY that is blocked writing to a reader who left.
                    driver.terminate()
                await chunks.aclose()
                if finished:
                    await conn.commit()
                else:
                    await conn.invalidate()  # the pool makes a new connection in its place
                await conn.close()

    name = f"borderwatch-incidents-v{seen}.{service.EXTENSION[format]}"
    return StreamingResponse(
        body(),
        media_type=service.MEDIA[format],
        headers={
            "X-Data-Version": str(seen),
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )
