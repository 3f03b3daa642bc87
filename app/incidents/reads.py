"""Reading incidents as stored: one live incident with its version, and which ids exist."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.incidents.models import Incident


@dataclass(frozen=True)
class Current:
    """An incident as stored now."""

    text: str  # the JSON document as PostgreSQL built it
    document: dict[str, Any]
    version: int
    created_by: int | None


async def current(session: AsyncSession, incident_id: uuid.UUID, *, lock: bool = False) -> Current:
    """The live incident (document and version read in one statement), or NotFound. With
    `lock`, the row stays locked until the transaction ends: the read of a write that
    replaces the rows the incident owns, so that two writes never interleave there."""
    query = select(Incident.document, Incident.version, Incident.created_by).where(
        Incident.id == incident_id, Incident.deleted_at.is_(None)
    )
    row = (await session.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise NotFound(f"No incident {incident_id}.")
    return Current(row[0], json.loads(row[0]), row.version, row.created_by)


async def existing_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these incident ids are already stored."""
    if not ids:
        return set()
    return set((await session.scalars(select(Incident.id).where(Incident.id.in_(ids)))).all())
