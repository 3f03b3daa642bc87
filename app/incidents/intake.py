"""The quick way in for new incidents: a body that is valid as it stands is checked and
turned into the insert's column arrays straight from its bytes, with no Python validator,
model instance or intermediate row on the way.

`IncidentIn` (with app/incidents/rules.py) stays the one definition of what is valid and
of every 422's wording. The shapes here are a strict subset of it, checked by
pydantic-core alone: anything they do not take, or that a rule after them refuses, goes
the way of `IncidentIn`, which then accepts it or names every bad field exactly as it
always did. So this path may only ever refuse too much, never accept too much, and it
stores the same values `IncidentIn` would (tests/incidents/test_intake.py holds both to
that over the validation cases and generated bodies).
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from operator import itemgetter
from typing import Annotated, Any, Literal, NamedTuple, NotRequired, cast

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from app.auth.service import Caller
from app.core.clock import today_karachi
from app.core.ids import uuid7s
from app.incidents.rules import check_status
from app.incidents.schemas import EARLIEST, MAX_COUNT, SLUG_RE
from app.reference.service import References
from app.reference.vocab import (
    AttackType,
    Attribution,
    CasualtyCategory,
    DatePrecision,
    GeoPrecision,
    Kind,
    Status,
    TargetType,
)

# Printable ASCII only: a subset of what IncidentIn's `https?://[^\s/?#]+\S*` (Python's
# Unicode \s) and the database's CHECK take; other URLs go IncidentIn's way.
_URL = r"^(?i:https?)://[\x21\x22\x24-\x2e\x30-\x3e\x40-\x7e][\x21-\x7e]*$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # made a date (and checked) by date.fromisoformat

_STRICT = ConfigDict(extra="forbid", strict=True)
_Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
_Slug = Annotated[str, Field(pattern=SLUG_RE, max_length=80)]
_Date = Annotated[str, Field(pattern=_DATE)]
_Text200 = Annotated[str, Field(max_length=200)]
_Text500 = Annotated[str, Field(max_length=500)]
_Text1000 = Annotated[str, Field(max_length=1000)]
_Text20000 = Annotated[str, Field(max_length=20_000)]
_Tag = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]

# Members left out get IncidentIn's defaults here, so every member is there to read.


@with_config(_STRICT)
class _Point(TypedDict):
    type: Literal["Point"]
    coordinates: tuple[
        Annotated[float, Field(ge=60, le=78, allow_inf_nan=False)],
        Annotated[float, Field(ge=23, le=38, allow_inf_nan=False)],
    ]


@with_config(_STRICT)
class _Casualty(TypedDict):
    category: CasualtyCategory
    killed: NotRequired[Annotated[_Count, Field(default=0)]]
    injured: NotRequired[Annotated[_Count, Field(default=0)]]


@with_config(_STRICT)
class _Range(TypedDict):
    low: Annotated[int, Field(ge=0, le=5 * MAX_COUNT)]
    high: Annotated[int, Field(ge=0, le=5 * MAX_COUNT)]


@with_config(_STRICT)
class _Source(TypedDict):
    url: Annotated[str, Field(max_length=2048, pattern=_URL)]
    publisher: NotRequired[Annotated[_Text200 | None, Field(default=None)]]
    published_on: NotRequired[Annotated[_Date | None, Field(default=None)]]
    title: NotRequired[Annotated[_Text1000 | None, Field(default=None)]]


@with_config(_STRICT)
class _Incident(TypedDict):
    occurred_on: _Date
    date_precision: NotRequired[Annotated[DatePrecision, Field(default="day")]]
    location: _Point
    geo_precision: NotRequired[Annotated[GeoPrecision, Field(default="exact")]]
    place_name: NotRequired[Annotated[_Text500 | None, Field(default=None)]]
    province: Annotated[str, Field(pattern=r"^(PK|AF)-[A-Z]{2,3}$")]
    district: NotRequired[Annotated[_Slug | None, Field(default=None)]]
    kind: NotRequired[Annotated[Kind, Field(default="attack")]]
    attack_type: AttackType
    target_type: TargetType
    perpetrator: NotRequired[Annotated[_Slug, Field(default="unknown")]]
    attribution: NotRequired[Annotated[Attribution, Field(default="unattributed")]]
    casualties: NotRequired[Annotated[list[_Casualty], Field(max_length=5, default_factory=list)]]
    fatality_range: NotRequired[Annotated[_Range | None, Field(default=None)]]
    sources: Annotated[list[_Source], Field(min_length=1, max_length=20)]
    crossing: NotRequired[Annotated[_Slug | None, Field(default=None)]]
    description: NotRequired[Annotated[_Text20000 | None, Field(default=None)]]
    status: NotRequired[Annotated[Status, Field(default="reported")]]
    tags: NotRequired[Annotated[list[_Tag], Field(max_length=30, default_factory=list)]]


@with_config(_STRICT)
class _Batch(TypedDict):
    incidents: Annotated[list[_Incident], Field(min_length=1, max_length=5000)]


_ONE = TypeAdapter(_Incident)
_MANY = TypeAdapter(_Batch)

# Only an escape can put NUL in a JSON string (IncidentIn refuses it in every text field);
# a body that spells one anywhere goes IncidentIn's way.
_NUL = b"\\u0000"


def incidents_of(body: bytes, batch: bool) -> list[dict[str, Any]] | None:
    """The incidents of a body when its shape is one this path takes (every member there,
    defaults filled in), else None."""
    if _NUL in body:
        return None
    try:
        with _no_gc():
            if batch:
                return cast(list[dict[str, Any]], _MANY.validate_json(body)["incidents"])
            return [cast(dict[str, Any], _ONE.validate_json(body))]
    except ValidationError:
        return None


@contextmanager
def _no_gc() -> Iterator[None]:
    """No collection while a body's many new containers are made (none of them can be
    garbage yet): the collector would walk them again and again as they pile up."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Unknown(Exception):
    """An incident names a code the reference copy does not hold (it may be new)."""


class Refused(Exception):
    """A rule that only IncidentIn's way words (the 422 is made there)."""


def check_references(rows: Sequence[dict[str, Any]], refs: References) -> None:
    """Unknown unless every code the incidents name exists and each district lies in the
    incident's province."""
    for r in rows:
        district, crossing = r["district"], r["crossing"]
        if (
            r["province"] not in refs.provinces
            or (district is not None and refs.districts.get(district) != r["province"])
            or r["perpetrator"] not in refs.actors
            or (crossing is not None and crossing not in refs.crossings)
        ):
            raise Unknown


def _day(text: str, latest: date) -> date:
    """The date of an ISO date string inside the window IncidentIn allows, else Refused."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refused from None
    if not EARLIEST <= day <= latest:
        raise Refused
    return day


def _published(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused from None


# Columns of `incidents` taken as they are from an input member.
_AS_SENT = {
    "date_precision": "date_precision",
    "geo_precision": "geo_precision",
    "place_name": "place_name",
    "province_code": "province",
    "district_slug": "district",
    "kind": "kind",
    "attack_type": "attack_type",
    "target_type": "target_type",
    "perpetrator_slug": "perpetrator",
    "attribution": "attribution",
    "crossing_slug": "crossing",
    "description": "description",
    "status": "status",
}
# Columns computed per incident, in the order _computed() gives them.
_COMPUTED = (
    "occurred_on",
    "lon",
    "lat",
    "killed_total",
    "injured_total",
    "fatality_low",
    "fatality_high",
)
INCIDENT_COLUMNS = ("id", *_COMPUTED, *_AS_SENT, "is_synthetic")
# The owned rows' columns by table (casualties, sources, tags), as columns() gives them.
OWNED_COLUMNS = {
    "c": ("incident_id", "category", "killed", "injured"),
    "s": ("incident_id", "position", "url", "publisher", "published_on", "title"),
    "t": ("incident_id", "tag"),
}


def _computed(r: dict[str, Any], latest: date) -> tuple[Any, ...]:
    """The computed columns of an incident (_COMPUTED); Refused when a rule fails."""
    casualties = r["casualties"]
    killed = injured = 0
    for c in casualties:
        killed += c["killed"]
        injured += c["injured"]
    if len({c["category"] for c in casualties}) < len(casualties):
        raise Refused  # one row per category
    fr = r["fatality_range"]
    low = high = None
    if fr is not None:
        low, high = fr["low"], fr["high"]
        if not low <= killed <= high:
            raise Refused  # also a range upside down
    lon, lat = r["location"]["coordinates"]
    return _day(r["occurred_on"], latest), lon, lat, killed, injured, low, high


def _columns(rows: list[tuple[Any, ...]], names: Sequence[str]) -> dict[str, list[Any]]:
    """Rows as one list per named column."""
    if not rows:
        return {name: [] for name in names}
    return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))


class Rows(NamedTuple):
    """New incidents as the arrays of the unnest inserts of app/incidents/writes.py."""

    ids: list[uuid.UUID]
    incidents: dict[str, list[Any]]  # by INCIDENT_COLUMNS
    owned: dict[str, list[Any]]  # `c_incident_id`, … by OWNED_COLUMNS


def _owned(items: Sequence[dict[str, Any]], ids: list[uuid.UUID]) -> dict[str, list[Any]]:
    """The casualties, sources and tags rows of new incidents, as columns."""
    casualties: list[tuple[Any, ...]] = []
    sources: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    for id_, r in zip(ids, items, strict=True):
        for c in r["casualties"]:
            casualties.append((id_, c["category"], c["killed"], c["injured"]))
        for n, s in enumerate(r["sources"]):
            published = _published(s["published_on"])
            sources.append((id_, n, s["url"], s["publisher"], published, s["title"]))
        tags.extend((id_, t) for t in sorted(set(r["tags"])))
    owned: dict[str, list[Any]] = {}
    for table, rows in (("c", casualties), ("s", sources), ("t", tags)):
        owned.update(_columns(rows, [f"{table}_{name}" for name in OWNED_COLUMNS[table]]))
    return owned


def columns(items: Sequence[dict[str, Any]], caller: Caller) -> Rows:
    """The rows of new incidents; Refused when a rule fails, Forbidden when the caller may
    not set a status."""
    latest = today_karachi()
    with _no_gc():
        ids = uuid7s(len(items))
        computed = _columns([_computed(r, latest) for r in items], _COMPUTED)
        owned = _owned(items, ids)
        incidents = {
            "id": ids,
            **computed,
            **{col: list(map(itemgetter(m), items)) for col, m in _AS_SENT.items()},
            "is_synthetic": [False] * len(items),
        }
    # After every row's rules, as IncidentIn's way checks statuses after the 422s.
    for status in set(incidents["status"]):
        check_status(status, caller)
    return Rows(ids, incidents, owned)
