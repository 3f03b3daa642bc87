"""The change feed: every create, update and delete in commit order, from the revisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import dataversion

_CHANGES = text("""
    SELECT r.seq, r.op, r.incident_id, r.at, r.after::text AS incident
      FROM incident_revisions r
     WHERE r.seq > :after AND r.seq <= :upto
     ORDER BY r.seq
     LIMIT :limit
""")


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def page(session: AsyncSession, after: int, limit: int) -> tuple[str, int]:
    """A page of the feed as JSON text, and the newest sequence number when it was read."""
    upto = await dataversion.current(session)
    rows = list(await session.execute(_CHANGES, {"after": after, "upto": upto, "limit": limit}))
    items = [
        f'{{"seq":{r.seq},"op":{json.dumps(r.op)},"id":"{r.incident_id}",'
        f'"at":{json.dumps(_rfc3339(r.at))},"incident":{r.incident or "null"}}}'
        for r in rows
    ]
    more = bool(rows) and rows[-1].seq < upto
    next_after = str(rows[-1].seq) if more else "null"
    return f'{{"items":[{",".join(items)}],"next_after":{next_after}}}', upto
