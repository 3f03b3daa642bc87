"""HTTP routes of the crossing points."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response

from app.auth.dependencies import Editor, ReadAccess
from app.core.config import cursor_key
from app.core.db import SessionDep
from app.core.errors import Invalid, NotFound
from app.core.openapi import documented_body
from app.core.params import BIGINT_MAX, etag, if_match_versions, json_body
from app.crossings import service, writes
from app.crossings.schemas import (
    CrossingDetail,
    CrossingIn,
    CrossingIncidents,
    CrossingList,
    CrossingPatch,
    StatusEventIn,
    StatusEventOut,
    StatusEventPatch,
    StatusHistory,
)
from app.crossings.service import NearQuery
from app.reference.names import names_of

router = APIRouter(prefix="/v1/crossings", tags=["crossings"], dependencies=[ReadAccess])

Slug = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length=80,
        examples=["torkham"],
        description="Crossing slug, its stable id",
    ),
]
EventId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Status event id")]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description='ETag of the version changed, e.g. "3"')
]
MERGE_PATCH = "application/merge-patch+json"

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON"},
    401: {"description": "No, unknown or revoked API key"},
    403: {"description": "Role below editor"},
    413: {"description": "Body over 1 MiB"},
    415: {"description": "The body is not sent as JSON"},
    422: {"description": "A field breaks a rule; `errors` names each"},
}
VERSIONED_ERRORS: dict[int | str, dict[str, Any]] = {
    **WRITE_ERRORS,
    400: {"description": "Malformed JSON or If-Match"},
    404: {"description": "No such crossing or status event"},
    412: {"description": "If-Match names an old version"},
    428: {"description": "If-Match missing"},
}
OVERLAP: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The period overlaps a status event of the crossing (a bounded one, or "
        "one starting the same day); `detail` names its id and period"
    }
}


def _patch_of(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid([{"field": "body", "message": "a merge patch is a JSON object"}])
    return body


def _versions(if_match: str | None) -> frozenset[int]:
    versions = if_match_versions(if_match)
    assert versions is not None  # required: 428 without it
    return versions


@router.get("", response_model=CrossingList, summary="Crossing points with current status")
async def list_crossings(session: SessionDep) -> CrossingList:
    """Every crossing point, with its status today derived from its history."""
    return CrossingList(items=await service.list_crossings(session))


async def _get(session: SessionDep, slug: str) -> CrossingDetail:
    crossing = await service.get_crossing(session, slug)
    if crossing is None:
        raise NotFound(f"No crossing point {slug!r}.")
    return crossing


@router.post(
    "",
    status_code=201,
    response_model=CrossingDetail,
    summary="Add a crossing point",
    responses={**WRITE_ERRORS, 409: {"description": "A crossing with this slug exists"}},
    openapi_extra=documented_body(CrossingIn),
)
async def create_crossing(
    request: Request, response: Response, session: SessionDep, caller: Editor
) -> CrossingDetail:
    """Store a new crossing point (editor+); 201 with `Location`, `ETag` and the crossing as
    GET shows it. The slug is its stable id; one already taken is a 409. `province` must be a
    Pakistani province and `district`, when given, one of its districts;
    `afghan_side.province` an Afghan one (`AF-…`). A 422 names every bad field at once."""
    slug = await writes.create_crossing(session, await json_body(request), caller)
    crossing = await _get(session, slug)
    await session.commit()
    names_of(request.app.state).forget()
    response.headers["Location"] = f"/v1/crossings/{slug}"
    response.headers["ETag"] = etag(crossing.version)
    return crossing


@router.get(
    "/{slug}",
    response_model=CrossingDetail,
    summary="One crossing point",
    responses={404: {"description": "No such crossing"}},
)
async def get_crossing(response: Response, session: SessionDep, slug: Slug) -> CrossingDetail:
    """A crossing point with its current status and whole status history, newest first;
    `ETag` names its version (for If-Match), which moves with every change to the crossing
    or to its status events."""
    crossing = await _get(session, slug)
    response.headers["ETag"] = etag(crossing.version)
    return crossing


@router.patch(
    "/{slug}",
    response_model=CrossingDetail,
    summary="Correct a crossing point",
    responses=VERSIONED_ERRORS,
    openapi_extra=documented_body(CrossingPatch, MERGE_PATCH),
)
async def patch_crossing(
    request: Request,
    response: Response,
    session: SessionDep,
    caller: Editor,
    slug: Slug,
    if_match: IfMatch = None,
) -> CrossingDetail:
    """JSON Merge Patch (RFC 7396, editor+) of the version If-Match names (428 without it, 412
    when it is stale); `null` removes an optional member. The slug cannot change (422): it is
    the crossing's stable id. A patch that changes nothing keeps the version."""
    versions = _versions(if_match)
    patch = _patch_of(await json_body(request))
    await writes.update_crossing(session, slug, versions, patch, caller)
    crossing = await _get(session, slug)
    await session.commit()
    names_of(request.app.state).forget()
    response.headers["ETag"] = etag(crossing.version)
    return crossing


@router.get(
    "/{slug}/status",
    response_model=StatusHistory,
    summary="Status history",
    responses={404: {"description": "No such crossing"}},
)
async def status_history(session: SessionDep, slug: Slug) -> StatusHistory:
    """Status events of a crossing, newest first, as stored: `to` is the last day in that
    status (inclusive), null while in force; no two share a day, and a day no event covers
    is `open`."""
    return StatusHistory(items=(await _get(session, slug)).status_history)


def _event(response: Response, event: StatusEventOut) -> StatusEventOut:
    response.headers["ETag"] = etag(event.version)
    return event


@router.post(
    "/{slug}/status",
    status_code=201,
    response_model=StatusEventOut,
    summary="Add a status event",
    responses={**WRITE_ERRORS, 404: {"description": "No such crossing"}, **OVERLAP},
    openapi_extra=documented_body(StatusEventIn),
)
async def add_status_event(
    request: Request, response: Response, session: SessionDep, caller: Editor, slug: Slug
) -> StatusEventOut:
    """Record a period of the crossing's status (editor+): `from` its first day, `to` its
    last (inclusive; null: still in force). `to` before `from` is a 422. An event starting
    inside an open-ended period ends that period the day before ("closed from 12 October"
    ends a restriction in force since 2023 on 11 October); an open-ended event starting
    before a later one ends the day before that one starts. Any other overlap is a 409 naming
    the event overlapped. 201 with `Location`, `ETag` and the event as stored."""
    body = await json_body(request)
    event_id = await writes.add_event(session, slug, body, caller)
    event = await service.get_event(session, slug, event_id)
    await session.commit()
    response.headers["Location"] = f"/v1/crossings/{slug}/status/{event_id}"
    return _event(response, event)


@router.get(
    "/{slug}/status/{event_id}",
    response_model=StatusEventOut,
    summary="One status event",
    responses={404: {"description": "No such crossing or status event"}},
)
async def get_status_event(
    response: Response, session: SessionDep, slug: Slug, event_id: EventId
) -> StatusEventOut:
    """A status event as stored, with `ETag` naming its version (for If-Match)."""
    return _event(response, await service.get_event(session, slug, event_id))


@router.patch(
    "/{slug}/status/{event_id}",
    response_model=StatusEventOut,
    summary="Correct a status event",
    responses={**VERSIONED_ERRORS, **OVERLAP},
    openapi_extra=documented_body(StatusEventPatch, MERGE_PATCH),
)
async def patch_status_event(
    request: Request,
    response: Response,
    session: SessionDep,
    caller: Editor,
    slug: Slug,
    event_id: EventId,
    if_match: IfMatch = None,
) -> StatusEventOut:
    """JSON Merge Patch (RFC 7396, editor+) of the version If-Match names (428 without it,
    412 when it is stale). The changed event is placed among the others by the rules of a new
    one (an open-ended period it starts inside ends the day before; any other overlap is a
    409)."""
    versions = _versions(if_match)
    patch = _patch_of(await json_body(request))
    await writes.update_event(session, slug, event_id, versions, patch, caller)
    event = await service.get_event(session, slug, event_id)
    await session.commit()
    return _event(response, event)


@router.delete(
    "/{slug}/status/{event_id}",
    status_code=204,
    summary="Delete a status event",
    responses=VERSIONED_ERRORS,
)
async def delete_status_event(
    session: SessionDep, caller: Editor, slug: Slug, event_id: EventId, if_match: IfMatch = None
) -> Response:
    """Delete the version If-Match names (editor+; 428 without it, 412 when it is stale).
    The event before it keeps its stored end: the days it covered are open unless another
    event is patched to cover them."""
    versions = _versions(if_match)
    await writes.delete_event(session, slug, event_id, versions, caller)
    await session.commit()
    return Response(status_code=204)


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
    """Live incidents within `radius_km` (default 25, 0.1 to 300) of the crossing, each with its
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
