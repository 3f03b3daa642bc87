"""Crossing writes: create and merge-patch a crossing point, add, merge-patch and delete its
status events. Each runs in the caller's transaction with its audit entry and a new data
epoch, under a lock on the crossing row, so that the periods it decides on cannot move
meanwhile; knows nothing of HTTP."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Caller
from app.core import audit
from app.core.clock import today_karachi
from app.core.dataversion import move_epoch
from app.core.errors import Conflict, Invalid, NotFound, StaleVersion, field_errors
from app.crossings.models import CrossingPoint, CrossingStatusEvent
from app.crossings.schemas import CrossingIn, StatusEventIn
from app.incidents.writes import merge_patch
from app.reference.service import References, load_references

# ---- crossings ------------------------------------------------------------------------------


def _reference_errors(raw: dict[str, Any], refs: References) -> list[dict[str, str]]:
    """Codes that name no province or district, or a district of another province; read from
    the raw input so that they are reported beside shape errors."""
    errors = []
    province, district = raw.get("province"), raw.get("district")
    side = raw.get("afghan_side")
    afghan = side.get("province") if isinstance(side, dict) else None
    if isinstance(province, str) and province not in refs.provinces:
        errors.append({"field": "province", "message": f"unknown province {province!r}"})
    if isinstance(afghan, str) and afghan not in refs.provinces:
        errors.append({"field": "afghan_side.province", "message": f"unknown province {afghan!r}"})
    if isinstance(district, str):
        home = refs.districts.get(district)
        if home is None:
            errors.append({"field": "district", "message": f"unknown district {district!r}"})
        elif isinstance(province, str) and home != province:
            errors.append(
                {"field": "district", "message": f"{district} is in {home}, not {province}"}
            )
    return errors


def parse_crossing(raw: Any, refs: References) -> CrossingIn:
    """A valid new crossing, or Invalid naming every bad field: shape and references."""
    if not isinstance(raw, dict):
        raise Invalid([{"field": "body", "message": "must be a crossing object"}])
    errors: list[dict[str, str]] = []
    item: CrossingIn | None = None
    try:
        item = CrossingIn.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
    named = {e["field"] for e in errors}
    errors += [e for e in _reference_errors(raw, refs) if e["field"] not in named]
    if errors or item is None:
        raise Invalid(errors)
    return item


def _columns(item: CrossingIn) -> dict[str, Any]:
    lon, lat = item.location.coordinates
    return {
        "name": item.name,
        "geom": func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326),
        "province_code": item.province,
        "district_slug": item.district,
        "afghan_name": item.afghan_side.name,
        "afghan_province_code": item.afghan_side.province,
        "notified_for_trade": item.notified_for_trade,
        "pedestrians": item.pedestrians,
        "notes": item.notes,
    }


def _as_json(item: CrossingIn) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=True)


async def create_crossing(session: AsyncSession, raw: Any, caller: Caller) -> str:
    """Store a new crossing point; its slug. Conflict when the slug is taken (a concurrent
    create of the same slug included: the insert skips a conflicting row, never fails)."""
    item = parse_crossing(raw, await load_references(session))
    stored = await session.scalar(
        text(
            "INSERT INTO crossing_points (slug, name, geom, province_code, district_slug,"
            " afghan_name, afghan_province_code, notified_for_trade, pedestrians, notes)"
            " VALUES (:slug, :name, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :province,"
            " :district, :afghan_name, :afghan_province, :trade, :pedestrians, :notes)"
            " ON CONFLICT (slug) DO NOTHING RETURNING slug"
        ),
        {
            "slug": item.slug,
            "name": item.name,
            "lon": item.location.coordinates[0],
            "lat": item.location.coordinates[1],
            "province": item.province,
            "district": item.district,
            "afghan_name": item.afghan_side.name,
            "afghan_province": item.afghan_side.province,
            "trade": item.notified_for_trade,
            "pedestrians": item.pedestrians,
            "notes": item.notes,
        },
    )
    if stored is None:
        raise Conflict(
            f"A crossing point {item.slug!r} exists already: change it with PATCH "
            f"/v1/crossings/{item.slug}."
        )
    await audit.record(
        session, caller.key_id, "crossing.created", "crossing", item.slug, after=_as_json(item)
    )
    await move_epoch(session)
    return item.slug


def _stale(what: str, actual: int) -> StaleVersion:
    return StaleVersion(
        f"{what} is at version {actual}, which If-Match does not name: fetch it again and "
        "reapply your change.",
        actual,
    )


async def _locked_crossing(session: AsyncSession, slug: str) -> Row[Any]:
    """The crossing row, locked until the transaction ends (FOR NO KEY UPDATE: incidents may
    still name it meanwhile), with its fields in input shape; NotFound when absent."""
    row = (
        await session.execute(
            text(
                "SELECT slug, name, ST_X(geom) AS lon, ST_Y(geom) AS lat, province_code,"
                " district_slug, afghan_name, afghan_province_code, notified_for_trade,"
                " pedestrians, notes, version"
                " FROM crossing_points WHERE slug = :slug FOR NO KEY UPDATE"
            ),
            {"slug": slug},
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"No crossing point {slug!r}.")
    return row


def _current_input(row: Row[Any]) -> dict[str, Any]:
    """A stored crossing in input shape, nulls left out (as a merge patch applies to it)."""
    side = {"name": row.afghan_name, "province": row.afghan_province_code}
    fields = {
        "slug": row.slug,
        "name": row.name,
        "location": {"type": "Point", "coordinates": [row.lon, row.lat]},
        "province": row.province_code,
        "district": row.district_slug,
        "afghan_side": {k: v for k, v in side.items() if v is not None},
        "notified_for_trade": row.notified_for_trade,
        "pedestrians": row.pedestrians,
        "notes": row.notes,
    }
    return {k: v for k, v in fields.items() if v is not None}


async def _bump(session: AsyncSession, slug: str, **values: Any) -> int:
    """The crossing's next version (its row is locked by this transaction)."""
    version = await session.scalar(
        update(CrossingPoint)
        .where(CrossingPoint.slug == slug)
        .values(**values, version=CrossingPoint.version + 1, updated_at=text("now()"))
        .returning(CrossingPoint.version)
    )
    assert version is not None  # locked above, so still there
    return int(version)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return {
        "changed_fields": changed,
        "before": {k: before.get(k) for k in changed},
        "after": {k: after.get(k) for k in changed},
    }


async def update_crossing(
    session: AsyncSession,
    slug: str,
    versions: frozenset[int],
    patch: dict[str, Any],
    caller: Caller,
) -> None:
    """Apply a merge patch to the version If-Match names. The slug is the crossing's stable
    id (events, incidents and links name it): a patch that changes it is refused. A patch
    that changes nothing writes nothing and keeps the version."""
    row = await _locked_crossing(session, slug)
    if row.version not in versions:
        raise _stale(f"Crossing point {slug!r}", row.version)
    if "slug" in patch and patch["slug"] != slug:
        raise Invalid(
            [{"field": "slug", "message": "is the crossing's stable id and cannot be changed"}]
        )
    before = _current_input(row)
    item = parse_crossing(merge_patch(before, patch), await load_references(session))
    after = _as_json(item)
    if after == before:  # both in input shape, nulls left out
        return
    await _bump(session, slug, **_columns(item))
    await audit.record(
        session, caller.key_id, "crossing.updated", "crossing", slug, **_changes(before, after)
    )
    await move_epoch(session)


# ---- status events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A status event's days: `to` is the last one (inclusive), None while in force."""

    id: int | None
    status: str
    from_: date
    to: date | None

    def overlaps(self, other: Period) -> bool:
        """Whether the two periods share a day."""
        return (self.to is None or other.from_ <= self.to) and (
            other.to is None or self.from_ <= other.to
        )

    def label(self) -> str:
        """`2025-10-12 – 2025-10-19`, or `2025-10-12 – (in force)`."""
        end = self.to.isoformat() if self.to is not None else "(in force)"
        return f"{self.from_.isoformat()} – {end}"


@dataclass(frozen=True)
class Placement:
    """Where a new or changed event goes among a crossing's others: its own end (a new
    open-ended event placed before a later one ends the day before that one starts) and the
    open-ended event it ends, with that event's new end."""

    to: date | None
    ends: tuple[Period, date] | None


def place(slug: str, new: Period, others: Iterable[Period], *, created: bool = True) -> Placement:
    """The rules of SPEC "Crossing point" for one event among the crossing's others, which
    obey them already (no two share a day, so at most the latest is open-ended):

    - an event starting inside an open-ended period ends that period the day before;
    - a new (`created`) open-ended event starting before a later event ends the day before
      the next one; a patched one keeps the end its patch gives it (a patch that does not
      name `to` never moves it);
    - any other shared day is a Conflict naming the event overlapped (a bounded period, or
      an open-ended one starting the same day), nothing changed.
    """
    ordered = sorted(others, key=lambda p: p.from_)
    later = [p.from_ for p in ordered if p.from_ > new.from_]
    to = new.to
    if to is None and later and created:
        to = min(later) - timedelta(days=1)
    placed = Period(new.id, new.status, new.from_, to)
    ends = None
    for other in ordered:
        if other.to is None and other.from_ < new.from_:
            ends = (other, new.from_ - timedelta(days=1))
            other = Period(other.id, other.status, other.from_, ends[1])
        if placed.overlaps(other):
            raise Conflict(
                f"The period {placed.label()} overlaps status event {other.id} of {slug!r} "
                f"({other.status}, {other.label()}). Change or delete that event first "
                "(PATCH or DELETE its URL); only an open-ended period is ended by a later one."
            )
    return Placement(to, ends)


def latest_event_day(today: date) -> date:
    """The last day a status event may name: one year after today (28 February for 29)."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


def parse_event(raw: Any) -> StatusEventIn:
    """A valid status event, or Invalid naming every bad field: a date more than a year
    ahead (a closure announced for next month is a fact, one for 9999 a typo that would
    block every later correction), an inverted period on `to`."""
    if not isinstance(raw, dict):
        raise Invalid([{"field": "body", "message": "must be a status event object"}])
    try:
        event = StatusEventIn.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(field_errors(exc.errors())) from None
    latest = latest_event_day(today_karachi())
    errors = [
        {
            "field": name,
            "message": f"must not be later than {latest.isoformat()} (one year after today, "
            "Asia/Karachi)",
        }
        for name, day in (("from", event.from_), ("to", event.to))
        if day is not None and day > latest
    ]
    if event.to is not None and event.to < event.from_:
        errors.append(
            {
                "field": "to",
                "message": f"must not be before from ({event.from_.isoformat()}): it is "
                "the last day in that status",
            }
        )
    if errors:
        raise Invalid(errors)
    return event


async def _periods(session: AsyncSession, slug: str) -> list[CrossingStatusEvent]:
    return list(
        await session.scalars(
            select(CrossingStatusEvent)
            .where(CrossingStatusEvent.crossing_slug == slug)
            .order_by(CrossingStatusEvent.valid_from)
        )
    )


def _period(e: CrossingStatusEvent) -> Period:
    return Period(e.id, e.status, e.valid_from, e.valid_to)


def event_json(e: CrossingStatusEvent | StatusEventIn, to: date | None = None) -> dict[str, Any]:
    """An event as audited and compared: its fields in input shape (JSON values)."""
    status: str
    if isinstance(e, StatusEventIn):
        status, start, reason, url = e.status, e.from_, e.reason, e.source_url
    else:
        status, start, to, reason, url = e.status, e.valid_from, e.valid_to, e.reason, e.source_url
    return {
        "status": status,
        "from": start.isoformat(),
        "to": to.isoformat() if to is not None else None,
        "reason": reason,
        "source_url": url,
    }


async def _end(session: AsyncSession, ends: tuple[Period, date] | None) -> list[dict[str, Any]]:
    """Store the end that a later event gave an open-ended one (a new version of it)."""
    if ends is None:
        return []
    ended, to = ends
    await session.execute(
        update(CrossingStatusEvent)
        .where(CrossingStatusEvent.id == ended.id)
        .values(valid_to=to, version=CrossingStatusEvent.version + 1)
    )
    return [{"id": ended.id, "to": to.isoformat()}]


async def _changed(
    session: AsyncSession, caller: Caller, action: str, event_id: int, slug: str, **detail: Any
) -> None:
    await _bump(session, slug)
    await audit.record(
        session,
        caller.key_id,
        action,
        "crossing_status_event",
        str(event_id),
        crossing=slug,
        **detail,
    )
    await move_epoch(session)


async def add_event(session: AsyncSession, slug: str, raw: Any, caller: Caller) -> int:
    """Store a status event of the crossing; its id. An open-ended event it starts inside of
    ends the day before; an overlap with any other is a Conflict naming that event."""
    event = parse_event(raw)
    await _locked_crossing(session, slug)
    others = [_period(e) for e in await _periods(session, slug)]
    placement = place(slug, Period(None, event.status, event.from_, event.to), others)
    ended = await _end(session, placement.ends)
    event_id = await session.scalar(
        insert(CrossingStatusEvent)
        .values(
            crossing_slug=slug,
            status=event.status,
            valid_from=event.from_,
            valid_to=placement.to,
            reason=event.reason,
            source_url=event.source_url,
            created_by=caller.key_id,
        )
        .returning(CrossingStatusEvent.id)
    )
    assert event_id is not None
    await _changed(
        session,
        caller,
        "crossing_status.created",
        event_id,
        slug,
        after=event_json(event, placement.to),
        ended=ended,
    )
    return int(event_id)


async def _editable_event(
    session: AsyncSession, slug: str, event_id: int, versions: frozenset[int]
) -> tuple[CrossingStatusEvent, list[CrossingStatusEvent]]:
    """The event If-Match names (current version) and the crossing's others, the crossing
    locked; NotFound when either is absent."""
    await _locked_crossing(session, slug)
    events = await _periods(session, slug)
    found = next((e for e in events if e.id == event_id), None)
    if found is None:
        raise NotFound(f"No status event {event_id} of crossing point {slug!r}.")
    if found.version not in versions:
        raise _stale(f"Status event {event_id}", found.version)
    return found, [e for e in events if e.id != event_id]


def _event_input(e: CrossingStatusEvent) -> dict[str, Any]:
    return {k: v for k, v in event_json(e).items() if v is not None}


async def update_event(
    session: AsyncSession,
    slug: str,
    event_id: int,
    versions: frozenset[int],
    patch: dict[str, Any],
    caller: Caller,
) -> None:
    """Apply a merge patch to the version If-Match names; the event is placed among the
    others by the rules of a new one, except that its own `to` is the one stored or patched:
    an open-ended event moved before a later one is a Conflict naming that one, not ended
    silently. A patch that changes nothing keeps the version."""
    stored, others = await _editable_event(session, slug, event_id, versions)
    before = event_json(stored)
    event = parse_event(merge_patch(_event_input(stored), patch))
    placement = place(
        slug,
        Period(event_id, event.status, event.from_, event.to),
        map(_period, others),
        created=False,
    )
    if event_json(event, placement.to) == before:
        return
    ended = await _end(session, placement.ends)
    await session.execute(
        update(CrossingStatusEvent)
        .where(CrossingStatusEvent.id == event_id)
        .values(
            status=event.status,
            valid_from=event.from_,
            valid_to=placement.to,
            reason=event.reason,
            source_url=event.source_url,
            version=CrossingStatusEvent.version + 1,
        )
    )
    after = event_json(event, placement.to)
    await _changed(
        session,
        caller,
        "crossing_status.updated",
        event_id,
        slug,
        **_changes(before, after),
        ended=ended,
    )


async def delete_event(
    session: AsyncSession, slug: str, event_id: int, versions: frozenset[int], caller: Caller
) -> None:
    """Delete the event If-Match names. The event before it keeps its stored end: days no
    event covers are open (PATCH that event to extend it)."""
    stored, _ = await _editable_event(session, slug, event_id, versions)
    await session.execute(delete(CrossingStatusEvent).where(CrossingStatusEvent.id == event_id))
    await _changed(
        session, caller, "crossing_status.deleted", event_id, slug, before=event_json(stored)
    )
