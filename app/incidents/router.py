"""HTTP routes of incidents: create (single, batch), read, merge-patch, delete, history."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response

from app.auth.dependencies import Analyst, Editor, ReadAccess
from app.auth.service import Caller
from app.core import dataversion
from app.core.config import cursor_key
from app.core.db import SessionDep
from app.core.errors import Problem, unavailable, validation_problem
from app.core.idempotency import HEADER, REPLAYED, Stored, claim, remember
from app.core.openapi import ref
from app.incidents import listing, service
from app.incidents.schemas import (
    BatchIn,
    BatchOut,
    HistoryOut,
    IncidentFeatureCollection,
    IncidentIn,
    IncidentList,
    IncidentOut,
)
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
ENTITY_TAG_RE = re.compile(r'(?:W/)?"[\x21\x23-\x7e]*"')
JSON = "application/json"
GEOJSON = "application/geo+json"


def _id(value: str) -> uuid.UUID:
    parsed = service.parse_id(value)
    if parsed is None:
        raise Problem(404, f"No incident {value}.", type_="not-found")
    return parsed


def _if_match(value: str | None, *, required: bool) -> frozenset[str] | None:
    """The strong entity tags an If-Match lists (RFC 9110); 428 when required and absent,
    400 when malformed or `*` (an edit must name the version it was made on)."""
    if value is None:
        if required:
            raise Problem(
                428,
                'Send If-Match with the ETag of the version you edit, e.g. If-Match: "3".',
                type_="precondition-required",
            )
        return None
    tags = [part.strip() for part in value.split(",")]
    if not all(ENTITY_TAG_RE.fullmatch(t) for t in tags):
        raise Problem(
            400,
            'If-Match must list entity tags such as "3" (the ETag of a GET).',
            type_="bad-request",
        )
    # Weak tags never match under the strong comparison that If-Match uses.
    return frozenset(t for t in tags if not t.startswith("W/"))


def _document_response(doc: str, status: int, incident_id: uuid.UUID, version: int) -> Response:
    headers = {"ETag": f'"{version}"'}
    if status == 201:
        headers["Location"] = f"/v1/incidents/{incident_id}"
    return Response(doc, status_code=status, media_type=JSON, headers=headers)


def _replay(stored: Stored) -> Response:
    return Response(
        stored.body,
        status_code=stored.status,
        media_type=JSON,
        headers={**stored.headers, REPLAYED: "true"},
    )


async def _idempotent_write(
    request: Request,
    session: SessionDep,
    caller: Caller,
    key: str | None,
    write: Callable[[], Awaitable[Response]],
) -> Response:
    """Run a write under an Idempotency-Key, all in one transaction: claim the key (409 if
    a concurrent request holds it), replay the stored response if it was used for this same
    request, else write, remember the response beside the write, and commit both."""
    body = await request.body()
    if key is not None:
        stored = await claim(session, caller.key_id, key, request.method, request.url.path, body)
        if stored is not None:
            return _replay(stored)
    response = await write()
    if key is not None:
        headers = {k: v for k, v in response.headers.items() if k in ("location", "etag")}
        await remember(
            session,
            caller.key_id,
            key,
            request.method,
            request.url.path,
            body,
            Stored(response.status_code, headers, bytes(response.body)),
        )
    await session.commit()
    return response


WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No, unknown or revoked API key"},
    403: {"description": "Role too low"},
    409: {"description": "A concurrent request holds the same Idempotency-Key"},
    413: {"description": "Body over 1 MiB (batch: 20 MiB)"},
    422: {"description": "A field breaks a rule; `errors` names each"},
}


@router.post(
    "/incidents",
    status_code=201,
    response_model=IncidentOut,
    summary="Create an incident",
    responses=WRITE_ERRORS,
)
async def create_incident(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    incident: IncidentIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store one incident (analyst+). Retries with the same `Idempotency-Key` and body get
    the first response again, with `Idempotent-Replayed: true`, and store nothing more."""

    async def write() -> Response:
        errors = service.rule_errors(incident, await load_references(session))
        if errors:
            raise validation_problem(errors)
        (doc,) = await service.create(session, [incident], caller)
        return _document_response(doc, 201, _id(json.loads(doc)["id"]), 1)

    return await _idempotent_write(request, session, caller, idempotency_key, write)


@router.post(
    "/incidents:batch",
    status_code=201,
    response_model=BatchOut,
    summary="Create up to 5,000 incidents, all or none",
    responses=WRITE_ERRORS,
)
async def create_batch(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    batch: BatchIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store every incident or none: any bad row makes a 422 listing every bad row by index
    and field (`incidents.7.occurred_on`)."""

    async def write() -> Response:
        items = service.parse_batch(batch.incidents, await load_references(session))
        docs = await service.create(session, items, caller)
        return Response('{"items":[' + ",".join(docs) + "]}", status_code=201, media_type=JSON)

    return await _idempotent_write(request, session, caller, idempotency_key, write)


async def _consistent(request: Request, session: SessionDep, read: Any) -> tuple[Any, int]:
    """Run read() between two reads of the same data version: its X-Data-Version then names
    exactly the data it saw (every write bumps the version in its own transaction)."""
    version = await dataversion.current(session)
    for _ in range(5):
        result = await read()
        after = await dataversion.current(session)
        if after == version:
            return result, version
        version = after
    raise unavailable(
        "The data kept changing while it was read; retry.",
        request.app.state.settings.retry_after_s,
    )


@router.get(
    "/incidents",
    summary="List incidents",
    dependencies=[ReadAccess, Depends(listing.documented_filters)],
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
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
    format: Literal["json", "geojson"] = "json",
) -> Response:
    """Incidents newest first (occurred_on descending, then id), filtered as SPEC says;
    multi-valued filters take comma-separated values. Keyset pages: pass `next_cursor` as
    `cursor`. `format=geojson` gives a FeatureCollection with a `next` link. Retracted and
    deleted incidents are never listed. `X-Data-Version` names the data the page reflects."""
    raw = listing.raw_filters(request.query_params)
    filters = listing.parse_filters(raw, await listing.references_for(raw, session))
    scope = listing.scope_of(filters)
    secret = cursor_key(request.app.state.settings)
    params: dict[str, Any] = {"limit": limit + 1}
    after = listing.decode_cursor(secret, cursor, scope) if cursor is not None else None
    sql = listing.page_query(filters, params, after)

    async def read() -> list[Any]:
        return list(await session.execute(sql, params))

    rows, version = await _consistent(request, session, read)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = listing.encode_cursor(secret, rows[-1].occurred_on, rows[-1].id, scope)
    headers = {"X-Data-Version": str(version)}
    if format == "geojson":
        features = []
        for row in rows:
            doc = json.loads(row.doc)
            features.append(
                {
                    "type": "Feature",
                    "id": doc["id"],
                    "geometry": doc.pop("location"),
                    "properties": doc,
                }
            )
        links = []
        if next_cursor is not None:
            links.append(
                {
                    "rel": "next",
                    "type": GEOJSON,
                    "href": str(request.url.include_query_params(cursor=next_cursor)),
                }
            )
        body = {
            "type": "FeatureCollection",
            "features": features,
            "numberReturned": len(features),
            "links": links,
            "next_cursor": next_cursor,
        }
        return Response(
            json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            media_type=GEOJSON,
            headers=headers,
        )
    return Response(
        '{"items":['
        + ",".join(r.doc for r in rows)
        + '],"next_cursor":'
        + json.dumps(next_cursor)
        + "}",
        media_type=JSON,
        headers=headers,
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentOut,
    dependencies=[ReadAccess],
    summary="One incident",
    responses={404: {"description": "No such incident"}},
)
async def get_incident(session: SessionDep, incident_id: IncidentId) -> Response:
    """The incident, with `ETag: "<version>"` for a later If-Match."""
    iid = _id(incident_id)
    state = await service.current(session, iid)  # one statement: version and body agree
    return _document_response(state.text, 200, iid, state.version)


@router.patch(
    "/incidents/{incident_id}",
    response_model=IncidentOut,
    summary="Correct an incident",
    responses={
        **WRITE_ERRORS,
        400: {"description": "Malformed JSON or If-Match"},
        404: {"description": "No such incident"},
        412: {"description": "If-Match names an old version"},
        428: {"description": "If-Match missing"},
    },
)
async def patch_incident(
    session: SessionDep,
    caller: Analyst,
    incident_id: IncidentId,
    patch: Annotated[
        dict[str, Any],
        Body(
            media_type="application/merge-patch+json",
            description="JSON Merge Patch (RFC 7396): members to set; null removes one",
            examples=[{"casualties": [{"category": "police", "killed": 84, "injured": 200}]}],
        ),
    ],
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    """Merge-patch the version named by If-Match (428 without it, 412 when it is stale).
    Analysts change only their own incidents; only editors change `status`."""
    etags = _if_match(if_match, required=True)
    assert etags is not None
    iid = _id(incident_id)
    doc, version = await service.update_incident(session, iid, etags, patch, caller)
    await session.commit()
    return _document_response(doc, 200, iid, version)


@router.delete(
    "/incidents/{incident_id}",
    status_code=204,
    summary="Delete an incident",
    responses={
        **WRITE_ERRORS,
        404: {"description": "No such incident"},
        412: {"description": "If-Match names an old version"},
    },
)
async def delete_incident(
    session: SessionDep,
    caller: Editor,
    incident_id: IncidentId,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    """Soft delete (editor+): gone from lists, exports and statistics; the history and the
    change feed keep it. If-Match is optional here."""
    await service.delete_incident(
        session, _id(incident_id), caller, _if_match(if_match, required=False)
    )
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
    return HistoryOut(id=str(iid), items=await service.history(session, iid))
