"""The revisions of an incident: who changed what, when, from which value to which."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound

_HISTORY = text("""
    SELECT r.version, r.seq, r.op, r.at, r.actor_key_id, k.name AS actor_name,
           r.changed_fields, r.before, r.after
      FROM incident_revisions r LEFT JOIN api_keys k ON k.id = r.actor_key_id
     WHERE r.incident_id = :id
     ORDER BY r.version
""")


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The members of two documents that differ, bookkeeping aside."""
    ignored = {"version", "updated_at"}
    return sorted(
        k
        for k in before.keys() | after.keys()
        if k not in ignored and before.get(k) != after.get(k)
    )


async def history(session: AsyncSession, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every revision, oldest first: actor, time, changed fields, their values before/after."""
    rows = (await session.execute(_HISTORY.bindparams(bindparam("id", incident_id)))).all()
    if not rows:
        raise NotFound(f"No incident {incident_id}.")
    out = []
    for r in rows:
        before, after = r.before, r.after
        if r.op == "updated":
            before = {k: before.get(k) for k in r.changed_fields}
            after = {k: after.get(k) for k in r.changed_fields}
        out.append(
            {
                "version": r.version,
                "seq": r.seq,
                "op": r.op,
                "at": r.at,
                "actor": {"key_id": r.actor_key_id, "name": r.actor_name},
                "changed_fields": list(r.changed_fields),
                "before": before,
                "after": after,
            }
        )
    return out
