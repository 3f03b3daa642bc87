"""Writing incidents with their casualties, sources, tags and first revision; no HTTP here."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.models import Casualty, Incident, IncidentRevision, IncidentSource, IncidentTag


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): new rows land at the right of the index."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64
    value |= 0b10 << 62 | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


@dataclass
class Source:
    """A published source of an incident."""

    url: str
    publisher: str | None = None
    published_on: date | None = None
    title: str | None = None


@dataclass
class NewIncident:
    """A validated incident ready to store; totals are derived from `casualties`."""

    occurred_on: date
    lon: float
    lat: float
    province: str
    attack_type: str
    target_type: str
    sources: list[Source]
    casualties: dict[str, tuple[int, int]] = field(default_factory=dict)  # category → (k, i)
    id: uuid.UUID = field(default_factory=uuid7)
    date_precision: str = "day"
    geo_precision: str = "exact"
    place_name: str | None = None
    district: str | None = None
    kind: str = "attack"
    perpetrator: str = "unknown"
    attribution: str = "unattributed"
    fatality_range: tuple[int, int] | None = None
    crossing: str | None = None
    description: str | None = None
    status: str = "reported"
    tags: list[str] = field(default_factory=list)
    is_synthetic: bool = False

    @property
    def killed_total(self) -> int:
        """Sum of killed over the casualty rows."""
        return sum(k for k, _ in self.casualties.values())

    @property
    def injured_total(self) -> int:
        """Sum of injured over the casualty rows."""
        return sum(i for _, i in self.casualties.values())

    def as_json(self) -> dict[str, Any]:
        """The incident as the API shows it (before server timestamps), for its revision."""
        return {
            "id": str(self.id),
            "occurred_on": self.occurred_on.isoformat(),
            "date_precision": self.date_precision,
            "location": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "geo_precision": self.geo_precision,
            "place_name": self.place_name,
            "province": self.province,
            "district": self.district,
            "kind": self.kind,
            "attack_type": self.attack_type,
            "target_type": self.target_type,
            "perpetrator": self.perpetrator,
            "attribution": self.attribution,
            "casualties": [
                {"category": c, "killed": k, "injured": i} for c, (k, i) in self.casualties.items()
            ],
            "killed_total": self.killed_total,
            "injured_total": self.injured_total,
            "fatality_range": (
                {"low": self.fatality_range[0], "high": self.fatality_range[1]}
                if self.fatality_range
                else None
            ),
            "sources": [
                {
                    "url": s.url,
                    "publisher": s.publisher,
                    "published_on": s.published_on.isoformat() if s.published_on else None,
                    "title": s.title,
                }
                for s in self.sources
            ],
            "crossing": self.crossing,
            "description": self.description,
            "status": self.status,
            "tags": sorted(self.tags),
            "version": 1,
        }


async def existing_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these incident ids are already stored."""
    if not ids:
        return set()
    return set((await session.scalars(select(Incident.id).where(Incident.id.in_(ids)))).all())


async def insert_incidents(
    session: AsyncSession, items: Sequence[NewIncident], actor_key_id: int | None = None
) -> None:
    """Insert incidents, their rows and a `created` revision each, in the caller's transaction."""
    if not items:
        return
    await session.execute(
        insert(Incident),
        [
            {
                "id": n.id,
                "occurred_on": n.occurred_on,
                "date_precision": n.date_precision,
                "geom": f"SRID=4326;POINT({n.lon!r} {n.lat!r})",
                "geo_precision": n.geo_precision,
                "place_name": n.place_name,
                "province_code": n.province,
                "district_slug": n.district,
                "kind": n.kind,
                "attack_type": n.attack_type,
                "target_type": n.target_type,
                "perpetrator_slug": n.perpetrator,
                "attribution": n.attribution,
                "killed_total": n.killed_total,
                "injured_total": n.injured_total,
                "fatality_low": n.fatality_range[0] if n.fatality_range else None,
                "fatality_high": n.fatality_range[1] if n.fatality_range else None,
                "crossing_slug": n.crossing,
                "description": n.description,
                "status": n.status,
                "is_synthetic": n.is_synthetic,
                "created_by": actor_key_id,
            }
            for n in items
        ],
    )
    casualties = [
        {"incident_id": n.id, "category": c, "killed": k, "injured": i}
        for n in items
        for c, (k, i) in n.casualties.items()
    ]
    if casualties:
        await session.execute(insert(Casualty), casualties)
    sources = [
        {
            "incident_id": n.id,
            "position": p,
            "url": s.url,
            "publisher": s.publisher,
            "published_on": s.published_on,
            "title": s.title,
        }
        for n in items
        for p, s in enumerate(n.sources)
    ]
    if sources:
        await session.execute(insert(IncidentSource), sources)
    tags = [{"incident_id": n.id, "tag": t} for n in items for t in sorted(set(n.tags))]
    if tags:
        await session.execute(pg_insert(IncidentTag).on_conflict_do_nothing(), tags)
    await session.execute(
        insert(IncidentRevision),
        [
            {
                "incident_id": n.id,
                "version": 1,
                "op": "created",
                "actor_key_id": actor_key_id,
                "changed_fields": [],
                "before": None,
                "after": n.as_json(),
            }
            for n in items
        ],
    )
