"""HTTP routes of the crossing points."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.auth import ReadAccess
from app.crossings import service
from app.crossings.schemas import CrossingDetail, CrossingList, StatusHistory
from app.db import SessionDep
from app.errors import Problem

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
