"""GET /v1/changes: every incident write in commit order, to keep a copy in sync."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import text

from app import dataversion
from app.auth import ReadAccess
from app.db import SessionDep

router = APIRouter(prefix="/v1", tags=["changes"], dependencies=[ReadAccess])

_CHANGES = text("""
    SELECT r.seq, r.op, r.incident_id, r.at, r.after::text AS incident
      FROM incident_revisions r
     WHERE r.seq > :after AND r.seq <= :upto
     ORDER BY r.seq
     LIMIT :limit
""")


@router.get(
    "/changes", summary="Change feed", responses={422: {"description": "A bad `after` or `limit`"}}
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
