"""HTTP routes of the crossing points."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import text

from app.auth.dependencies import ReadAccess
from app.core.db import SessionDep
from app.core.errors import Problem
from app.crossings import service
from app.crossings.schemas import CrossingDetail, CrossingIncidents, CrossingList, StatusHistory

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
        raise Problem(404, f"No crossing point {slug!r}.", type_="not-found")
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
    """Status events of a crossing, newest first."""
    return StatusHistory(items=(await _get(session, slug)).status_history)


_NEAR = text("""
    SELECT incident_document(i)::text AS doc,
           ST_Distance(i.geom::geography, c.geom::geography) / 1000 AS distance_km
      FROM crossing_points c
      JOIN incidents i ON ST_DWithin(i.geom::geography, c.geom::geography, :radius_m)
     WHERE c.slug = :slug AND i.deleted_at IS NULL AND i.status <> 'retracted'
     ORDER BY distance_km, i.id
     LIMIT :limit
""")


@router.get(
    "/{slug}/incidents",
    summary="Incidents near a crossing, nearest first",
    responses={
        200: {"model": CrossingIncidents, "description": "Incidents with their distance"},
        404: {"description": "No such crossing"},
    },
)
async def incidents_near(
    session: SessionDep,
    slug: Slug,
    radius_km: Annotated[float, Query(gt=0, le=300, description="Search radius")] = 25,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Live incidents within `radius_km` of the crossing, each with its geodesic
    `distance_km` (on the WGS 84 spheroid), nearest first; the search uses the GiST index
    on the incidents' geography."""
    await _get(session, slug)
    rows = await session.execute(
        _NEAR, {"slug": slug, "radius_m": radius_km * 1000, "limit": limit}
    )
    # Each document is a JSON object built by PostgreSQL: add distance_km before its "}".
    items = [r.doc[:-1] + f', "distance_km" : {r.distance_km:.3f}}}' for r in rows]
    return Response(
        '{"crossing":'
        + json.dumps(slug)
        + ',"radius_km":'
        + json.dumps(radius_km)
        + ',"items":['
        + ",".join(items)
        + "]}",
        media_type="application/json",
    )
