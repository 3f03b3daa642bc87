"""HTTP routes of incidents: create (single, batch), list, read, merge-patch, delete, history."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response

from app.auth.dependencies import Analyst, Editor, ReadAccess
from app.core.config import cursor_key
from app.core.db import SessionDep, read_connection
from app.core.errors import Invalid, NotFound
from app.core.idempotency import HEADER, idempotent
from app.core.ids import parse_uuid
from app.core.openapi import documented_body, ref
from app.core.params import (
    etag,
    if_match_versions,
    json_body,
    json_bytes,
    none_match,
    parse_json,
    public_here,
)
from app.incidents import history, intake, listing, reads, rules, writes
from app.incidents.filters import ListQuery
from app.incidents.schemas import (
    BatchIn,
    BatchOut,
    HistoryOut,
    IncidentBatch,
    IncidentFeatureCollection,
    IncidentIn,
    IncidentList,
    IncidentOut,
    PatchIn,
)
from app.reference.names import names_of
from app.reference.service import load_references

router = APIRouter(prefix="/v1", tags=["incidents"])

IncidentId = Annotated[str, Path(description="Incident id")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Retry-safe key: the same key and body replay the first response",
        max_length=255,
    ),
]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description='ETag of the version changed, e.g. "3"')
]
JSON = "application/json"
GEOJSON = "application/geo+json"

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON"},
    401: {"description": "No, unknown or revoked API key"},
    403: {"description": "Role too low"},
    409: {"description": "A concurrent request holds the same Idempotency-Key"},
    413: {"description": "Body over 1 MiB (batch: 20 MiB)"},
    415: {"description": "The body is not sent as JSON"},
    422: {"description": "A field breaks a rule; `errors` names each"},
}
VERSIONED_ERRORS: dict[int | str, dict[str, Any]] = {
    **WRITE_ERRORS,
    400: {"description": "Malformed JSON or If-Match"},
    404: {"description": "No such incident"},
    412: {"description": "If-Match names an old version"},
    428: {"description": "If-Match missing"},
}


def _id(value: str) -> uuid.UUID:
    parsed = parse_uuid(value)
    if parsed is None:
        raise NotFound(f"No incident {value}.")
    return parsed


def _document(doc: str, status: int, incident_id: uuid.UUID, version: int) -> Response:
    headers = {"ETag": etag(version)}
    if status == 201:
        headers["Location"] = f"/v1/incidents/{incident_id}"
    return Response(doc, status_code=status, media_type=JSON, headers=headers)


@router.post(
    "/incidents",
    status_code=201,
    response_model=IncidentOut,
    summary="Create an incident",
    responses=WRITE_ERRORS,
    openapi_extra=documented_body(IncidentIn),
)
async def create_incident(
    request: Request, session: SessionDep, caller: Analyst, idempotency_key: IdempotencyKey = None
) -> Response:
    """Store one incident (analyst+). Retries with the same `Idempotency-Key` and body get
    the first response again, with `Idempotent-Replayed: true`, and store nothing more. A
    422 names every bad field at once, shape and reference rules together."""
    body = await json_bytes(request)
    quick = intake.incidents_of(body, batch=False)
    raw = parse_json(body) if quick is None else None  # 400 before the key is claimed

    async def write() -> Response:
        if quick is not None:
            stored = await writes.create_quick(session, names_of(request.app.state), quick, caller)
            if stored is not None:
                (iid,), (doc,) = stored
                return _document(doc, 201, iid, 1)
        item = rules.parse_one(
            parse_json(body) if raw is None else raw, await load_references(session)
        )
        (doc,) = await writes.create(session, [item], caller)
        return _document(doc, 201, _id(json.loads(doc)["id"]), 1)

    return await idempotent(request, session, caller.key_id, idempotency_key, write)


@router.post(
    "/incidents:batch",
    status_code=201,
    response_model=BatchOut,
    summary="Create up to 5,000 incidents, all or none",
    responses=WRITE_ERRORS,
    openapi_extra=documented_body(IncidentBatch),
)
async def create_batch(
    request: Request, session: SessionDep, caller: Analyst, idempotency_key: IdempotencyKey = None
) -> Response:
    """Store every incident or none: any bad row makes a 422 listing every bad row by index
    and field (`incidents.7.occurred_on`)."""
    body = await json_bytes(request)
    quick = intake.incidents_of(body, batch=True)
    # The shape's 400 or 422 before the key is claimed, as a body the quick way refuses.
    batch = BatchIn.parse(parse_json(body)) if quick is None else None

    async def write() -> Response:
        stored = None
        if quick is not None:
            names = names_of(request.app.state)
            stored = await writes.create_quick(session, names, quick, caller, batch=True)
        if stored is not None:
            docs = stored[1]
        else:
            rows = (batch or BatchIn.parse(parse_json(body))).incidents
            items = await writes.parse_batch(session, rows, await load_references(session))
            docs = await writes.create(session, items, caller)
        return Response('{"items":[' + ",".join(docs) + "]}", status_code=201, media_type=JSON)

    return await idempotent(request, session, caller.key_id, idempotency_key, write)


def _feature_collection(request: Request, page: listing.Page) -> dict[str, Any]:
    features = []
    for text in page.documents:
        doc = json.loads(text)
        geometry = doc.pop("location")
        features.append(
            {"type": "Feature", "id": doc["id"], "geometry": geometry, "properties": doc}
        )
    links = []
    if page.next_cursor is not None:
        href = public_here(request, cursor=page.next_cursor)
        links.append({"rel": "next", "type": GEOJSON, "href": href})
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "links": links,
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/incidents",
    summary="List incidents",
    dependencies=[ReadAccess],
    responses={
        200: {
            "model": IncidentList,
            "description": "A page of incidents: JSON, or GeoJSON with `format=geojson`",
            "content": {GEOJSON: {"schema": ref(IncidentFeatureCollection)}},
        },
        400: {"description": "A cursor that this API did not make"},
        422: {"description": "A bad filter or limit"},
    },
)
async def list_incidents(
    request: Request, session: SessionDep, query: Annotated[ListQuery, Query()]
) -> Response:
    """Incidents newest first (occurred_on descending, then id), filtered as SPEC says;
    multi-valued filters take comma-separated values. Keyset pages: pass `next_cursor` as
    `cursor`. `format=geojson` gives a FeatureCollection with a `next` link. Retracted and
    deleted incidents are never listed. `X-Data-Version` names the data the page reflects."""
    async with read_connection(request, session) as conn:
        return await list_page(request, conn, query)


async def list_page(
    request: Request, conn: Any, query: ListQuery, scope: str | None = None
) -> Response:
    """The answer of `GET /v1/incidents` read on an asyncpg connection: the route's, and
    the fast lane's (app/incidents/lane.py), so the two cannot differ. `scope` is
    query.scope() when the caller has it already."""
    secret = cursor_key(request.app.state.settings)
    names = names_of(request.app.state)
    page = await listing.page(conn, names, query, query.limit, query.cursor, secret, scope)
    headers = {"X-Data-Version": str(page.version)}
    if query.format == "geojson":
        body = json.dumps(
            _feature_collection(request, page), ensure_ascii=False, separators=(",", ":")
        )
        return Response(body, media_type=GEOJSON, headers=headers)
    items = ",".join(page.documents)
    body = f'{{"items":[{items}],"next_cursor":{json.dumps(page.next_cursor)}}}'
    return Response(body, media_type=JSON, headers=headers)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentOut,
    dependencies=[ReadAccess],
    summary="One incident",
    responses={304: {"description": "Not modified since the ETag"}, 404: {"description": "None"}},
)
async def get_incident(
    session: SessionDep,
    incident_id: IncidentId,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """The incident, with `ETag: "<version>"` for a later If-Match; `If-None-Match` with
    that ETag gets 304 while the incident is unchanged."""
    iid = _id(incident_id)
    state = await reads.current(session, iid)  # one statement: version and body agree
    if none_match(if_none_match, etag(state.version)):
        return Response(status_code=304, headers={"ETag": etag(state.version)})
    return _document(state.text, 200, iid, state.version)


@router.patch(
    "/incidents/{incident_id}",
    response_model=IncidentOut,
    summary="Correct an incident",
    responses=VERSIONED_ERRORS,
    openapi_extra=documented_body(PatchIn, "application/merge-patch+json"),
)
async def patch_incident(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    incident_id: IncidentId,
    if_match: IfMatch = None,
) -> Response:
    """JSON Merge Patch (RFC 7396) of the version named by If-Match (428 without it, 412 when
    it is stale); `null` removes a member. Analysts change only their own incidents; only
    editors change `status`."""
    versions = if_match_versions(if_match)
    assert versions is not None
    iid = _id(incident_id)
    patch = await json_body(request)
    if not isinstance(patch, dict):
        raise Invalid([{"field": "body", "message": "a merge patch is a JSON object"}])
    doc, version = await writes.update_incident(session, iid, versions, patch, caller)
    await session.commit()
    return _document(doc, 200, iid, version)


@router.delete(
    "/incidents/{incident_id}",
    status_code=204,
    summary="Delete an incident",
    responses=VERSIONED_ERRORS,
)
async def delete_incident(
    session: SessionDep, caller: Editor, incident_id: IncidentId, if_match: IfMatch = None
) -> Response:
    """Soft delete (editor+) of the version If-Match names (428 without it, 412 when it is
    stale): gone from lists, exports and statistics; the history and the change feed keep
    it."""
    versions = if_match_versions(if_match)
    assert versions is not None
    await writes.delete_incident(session, _id(incident_id), versions, caller)
    await session.commit()
    return Response(status_code=204)


@router.get(
    "/incidents/{incident_id}/history",
    response_model=HistoryOut,
    dependencies=[ReadAccess],
    summary="Every revision of an incident",
    responses={404: {"description": "No such incident"}},
)
async def incident_history(session: SessionDep, incident_id: IncidentId) -> HistoryOut:
    """Who changed what and when: each revision with its actor, time, changed fields and
    their values before and after (the whole incident for its creation)."""
    iid = _id(incident_id)
    return HistoryOut(id=str(iid), items=await history.history(session, iid))
