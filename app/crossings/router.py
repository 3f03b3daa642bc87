"""HTTP routes of the crossing points."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.auth.dependencies import ReadAccess
from app.core.config import cursor_key
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.crossings import service
from app.crossings.schemas import CrossingDetail, CrossingIncidents, CrossingList, StatusHistory
from app.crossings.service import NearQuery

router = APIRouter(prefix="/v1/crossings", tags=["crossings"], dependencies=[ReadAccess])

Slug = Annotated[
    str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80, examples=["torkham"])
]


@router.get("", response_model=CrossingList, summary="Crossing points with current status")
async def list_crossings(session: SessionDep) -> CrossingList:
    """Every crossing point, with its status today derived from its history."""
    return CrossingList(items=await service.list_crossings(session))


async def _get(session: SessionDep, slug: str) -> CrossingDetail:
    crossing = await service.get_crossing(session, slug)
    if crossing is None:
        raise NotFound(f"No crossing point {slug!r}.")
    return crossing


@router.get(
    "/{slug}",
    response_model=CrossingDetail,
    summary="One crossing point",
    responses={404: {"description": "No such crossing"}},
)
async def get_crossing(session: SessionDep, slug: Slug) -> CrossingDetail:
    """A crossing point with its current status and whole status history."""
    return await _get(session, slug)


@router.get(
    "/{slug}/status",
    response_model=StatusHistory,
    summary="Status history",
    responses={404: {"description": "No such crossing"}},
)
async def status_history(session: SessionDep, slug: Slug) -> StatusHistory:
    """Status events of a crossing, newest first; an open-ended status that a later one
    replaced shows the day it ended."""
    return StatusHistory(items=(await _get(session, slug)).status_history)


@router.get(
    "/{slug}/incidents",
    summary="Incidents near a crossing, nearest first",
    responses={
        200: {"model": CrossingIncidents, "description": "Incidents with their distance"},
        400: {"description": "A cursor that this API did not make"},
        404: {"description": "No such crossing"},
        422: {"description": "A bad filter, radius or limit"},
    },
)
async def incidents_near(
    request: Request, session: SessionDep, slug: Slug, query: Annotated[NearQuery, Query()]
) -> Response:
    """Live incidents within `radius_km` (default 25, max 300) of the crossing, each with its
    geodesic `distance_km` (WGS 84 spheroid), nearest first; the search uses the GiST index
    on the incidents' geography. Takes the list filters; keyset pages with `next_cursor`;
    `X-Data-Version` names the data the page reflects."""
    secret = cursor_key(request.app.state.settings)
    page = await service.incidents_near(session, slug, query, secret)
    body = (
        f'{{"crossing":{json.dumps(slug)},"radius_km":{json.dumps(query.radius_km)},'
        f'"items":[{",".join(page.items)}],"next_cursor":{json.dumps(page.next_cursor)}}}'
    )
    return Response(
        body, media_type="application/json", headers={"X-Data-Version": str(page.version)}
    )
