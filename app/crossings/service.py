"""Crossing points and the status derived from their event history; knows nothing of HTTP."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import TextClause, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi
from app.core.errors import Malformed, NotFound
from app.crossings.models import CrossingPoint, CrossingStatusEvent
from app.crossings.schemas import (
    AfghanSide,
    CrossingDetail,
    CrossingOut,
    CurrentStatus,
    PointGeometry,
    StatusEventOut,
)
from app.incidents.filters import CommonFilters, check, column_sql
from app.incidents.listing import consistent, decode_cursor, encode_cursor, trim_page


def current_status(events: list[StatusEventOut], today: date) -> CurrentStatus:
    """The event in force today, or `open` when none is (a day no event covers is open).

    Stored events never share a day (the service places each, and the database's EXCLUDE
    backs it), so at most one is in force.
    """
    active = [e for e in events if e.from_ <= today and (e.to is None or e.to >= today)]
    if active:
        latest = max(active, key=lambda e: (e.from_, e.id))
        return CurrentStatus(status=latest.status, since=latest.from_, reason=latest.reason)
    ended = [e.to for e in events if e.to is not None and e.to < today]
    return CurrentStatus(
        status="open", since=max(ended) + timedelta(days=1) if ended else None, reason=None
    )


def event_out(e: CrossingStatusEvent) -> StatusEventOut:
    """A stored status event as the API shows it."""
    return StatusEventOut(
        id=e.id,
        status=e.status,
        from_=e.valid_from,
        to=e.valid_to,
        reason=e.reason,
        source_url=e.source_url,
        version=e.version,
    )


async def _events(
    session: AsyncSession, slugs: list[str] | None = None
) -> dict[str, list[StatusEventOut]]:
    """Status events by crossing, newest first, as stored (their ends are the truth)."""
    query = select(CrossingStatusEvent).order_by(
        CrossingStatusEvent.crossing_slug,
        CrossingStatusEvent.valid_from.desc(),
        CrossingStatusEvent.id.desc(),
    )
    if slugs is not None:
        query = query.where(CrossingStatusEvent.crossing_slug.in_(slugs))
    out: dict[str, list[StatusEventOut]] = {}
    for e in await session.scalars(query):
        out.setdefault(e.crossing_slug, []).append(event_out(e))
    return out


async def get_event(session: AsyncSession, slug: str, event_id: int) -> StatusEventOut:
    """One status event of a crossing; NotFound when the crossing has no such event."""
    found = await session.scalar(
        select(CrossingStatusEvent).where(
            CrossingStatusEvent.id == event_id, CrossingStatusEvent.crossing_slug == slug
        )
    )
    if found is None:
        raise NotFound(f"No status event {event_id} of crossing point {slug!r}.")
    return event_out(found)


async def _crossings(session: AsyncSession, slug: str | None = None) -> list[CrossingDetail]:
    query = select(
        CrossingPoint.slug,
        CrossingPoint.name,
        func.ST_X(CrossingPoint.geom).label("lon"),
        func.ST_Y(CrossingPoint.geom).label("lat"),
        CrossingPoint.province_code,
        CrossingPoint.district_slug,
        CrossingPoint.afghan_name,
        CrossingPoint.afghan_province_code,
        CrossingPoint.notified_for_trade,
        CrossingPoint.pedestrians,
        CrossingPoint.notes,
        CrossingPoint.version,
    ).order_by(CrossingPoint.slug)
    if slug is not None:
        query = query.where(CrossingPoint.slug == slug)
    rows = (await session.execute(query)).all()
    events = await _events(session, [r.slug for r in rows] if slug is not None else None)
    today = today_karachi()
    return [
        CrossingDetail(
            slug=r.slug,
            name=r.name,
            location=PointGeometry(coordinates=(r.lon, r.lat)),
            province=r.province_code,
            district=r.district_slug,
            afghan_side=AfghanSide(name=r.afghan_name, province=r.afghan_province_code),
            notified_for_trade=r.notified_for_trade,
            pedestrians=r.pedestrians,
            notes=r.notes,
            version=r.version,
            current_status=current_status(events.get(r.slug, []), today),
            status_history=events.get(r.slug, []),
        )
        for r in rows
    ]


async def list_crossings(session: AsyncSession) -> list[CrossingOut]:
    """Every crossing point by slug, each with its current status."""
    return [
        CrossingOut(**{name: getattr(c, name) for name in CrossingOut.model_fields})
        for c in await _crossings(session)
    ]


async def get_crossing(session: AsyncSession, slug: str) -> CrossingDetail | None:
    """One crossing with its status history, or None."""
    found = await _crossings(session, slug)
    return found[0] if found else None


class NearQuery(CommonFilters):
    """The query of `GET /v1/crossings/{slug}/incidents`: the list filters but the point to
    measure from (the path names the crossing), a radius, pages."""

    limit: int = Field(100, ge=1, le=500, description="Page size (1–500)")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the last page")


@dataclass(frozen=True)
class NearPage:
    """Incidents near a crossing, nearest first: JSON text of each with its distance."""

    items: list[str]
    next_cursor: str | None
    version: int


def _near_position(secret: bytes, cursor: str, scope: str) -> tuple[float, uuid.UUID]:
    """The (distance_km, id) a cursor names: a finite distance of at least 0 and an id, as
    this API makes them; Malformed for anything else it may carry."""
    position = decode_cursor(secret, cursor, scope)
    bad = Malformed("The cursor does not name a position in this list.")
    if len(position) != 2:
        raise bad
    distance, incident_id = position
    # bool is an int; an int too large for a float, NaN and the infinities name no place.
    if isinstance(distance, bool) or not isinstance(distance, float | int):
        raise bad
    try:
        km = float(distance)
        position_id = uuid.UUID(incident_id) if isinstance(incident_id, str) else None
    except (OverflowError, ValueError):
        raise bad from None
    if position_id is None or not math.isfinite(km) or km < 0:
        raise bad
    return km, position_id


def _near_sql(
    q: NearQuery, params: dict[str, Any], after: tuple[float, uuid.UUID] | None
) -> TextClause:
    condition = column_sql(q, params)
    if after is not None:
        params["c_dist"], params["c_id"] = after
        condition += " AND (d.distance_km, i.id) > (:c_dist, :c_id)"
    return text(f"""
        SELECT i.id, d.distance_km, i.document AS doc
          FROM crossing_points c
          JOIN incidents i ON ST_DWithin(i.geom::geography, c.geom::geography, :radius_m)
         CROSS JOIN LATERAL (
               SELECT ST_Distance(i.geom::geography, c.geom::geography) / 1000 AS distance_km
         ) AS d
         WHERE c.slug = :slug AND {condition}
         ORDER BY d.distance_km, i.id
         LIMIT :limit
    """)


async def incidents_near(session: AsyncSession, slug: str, q: NearQuery, secret: bytes) -> NearPage:
    """Live incidents within `radius_km` of the crossing that pass the filters, each with
    its geodesic `distance_km`, nearest first, a page at a time."""
    exists = select(CrossingPoint.slug).where(CrossingPoint.slug == slug)
    if await session.scalar(exists) is None:  # the slug alone, not the status history
        raise NotFound(f"No crossing point {slug!r}.")
    await check(session, q)
    scope = f"{slug}:{q.scope()}"
    params: dict[str, Any] = {"slug": slug, "radius_m": q.radius_km * 1000, "limit": q.limit + 1}
    after = _near_position(secret, q.cursor, scope) if q.cursor is not None else None
    sql = _near_sql(q, params, after)

    async def read() -> list[Any]:
        return list(await session.execute(sql, params))

    rows, version = await consistent(session, read)
    rows, next_cursor = trim_page(
        rows, q.limit, lambda r: encode_cursor(secret, [r.distance_km, str(r.id)], scope)
    )
    # Each document is a JSON object built by PostgreSQL: add distance_km before its "}".
    items = [r.doc[:-1] + f', "distance_km" : {r.distance_km:.3f}}}' for r in rows]
    return NearPage(items, next_cursor, version)
