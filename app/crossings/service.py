"""Crossing points and the status derived from their event history; knows nothing of HTTP."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi
from app.crossings.models import CrossingPoint, CrossingStatusEvent
from app.crossings.schemas import (
    AfghanSide,
    CrossingDetail,
    CrossingOut,
    CurrentStatus,
    PointGeometry,
    StatusEventOut,
)


def current_status(events: list[StatusEventOut], today: date) -> CurrentStatus:
    """The event in force today with the latest start wins; with none in force, `open`.

    Events may overlap (a restriction in force since 2024, then a closure in 2025): the
    later-starting one describes the crossing now.
    """
    active = [e for e in events if e.from_ <= today and (e.to is None or e.to >= today)]
    if active:
        latest = max(active, key=lambda e: (e.from_, e.id))
        return CurrentStatus(status=latest.status, since=latest.from_, reason=latest.reason)
    ended = [e.to for e in events if e.to is not None and e.to < today]
    return CurrentStatus(
        status="open", since=max(ended) + timedelta(days=1) if ended else None, reason=None
    )


async def _events(
    session: AsyncSession, slugs: list[str] | None = None
) -> dict[str, list[StatusEventOut]]:
    query = select(CrossingStatusEvent).order_by(
        CrossingStatusEvent.crossing_slug,
        CrossingStatusEvent.valid_from.desc(),
        CrossingStatusEvent.id.desc(),
    )
    if slugs is not None:
        query = query.where(CrossingStatusEvent.crossing_slug.in_(slugs))
    out: dict[str, list[StatusEventOut]] = {}
    for e in await session.scalars(query):
        out.setdefault(e.crossing_slug, []).append(
            StatusEventOut(
                id=e.id,
                status=e.status,
                from_=e.valid_from,
                to=e.valid_to,
                reason=e.reason,
                source_url=e.source_url,
            )
        )
    return out


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
