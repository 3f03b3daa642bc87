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

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal, NamedTuple, NotRequired, cast

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from app.auth.service import Caller
from app.core.clock import today_karachi
from app.core.ids import uuid7
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
    killed: NotRequired[_Count]
    injured: NotRequired[_Count]


@with_config(_STRICT)
class _Range(TypedDict):
    low: Annotated[int, Field(ge=0, le=5 * MAX_COUNT)]
    high: Annotated[int, Field(ge=0, le=5 * MAX_COUNT)]


@with_config(_STRICT)
class _Source(TypedDict):
    url: Annotated[str, Field(max_length=2048, pattern=_URL)]
    publisher: NotRequired[_Text200 | None]
    published_on: NotRequired[_Date | None]
    title: NotRequired[_Text1000 | None]


@with_config(_STRICT)
class _Incident(TypedDict):
    occurred_on: _Date
    date_precision: NotRequired[DatePrecision]
    location: _Point
    geo_precision: NotRequired[GeoPrecision]
    place_name: NotRequired[_Text500 | None]
    province: Annotated[str, Field(pattern=r"^(PK|AF)-[A-Z]{2,3}$")]
    district: NotRequired[_Slug | None]
    kind: NotRequired[Kind]
    attack_type: AttackType
    target_type: TargetType
    perpetrator: NotRequired[_Slug]
    attribution: NotRequired[Attribution]
    casualties: NotRequired[Annotated[list[_Casualty], Field(max_length=5)]]
    fatality_range: NotRequired[_Range | None]
    sources: Annotated[list[_Source], Field(min_length=1, max_length=20)]
    crossing: NotRequired[_Slug | None]
    description: NotRequired[_Text20000 | None]
    status: NotRequired[Status]
    tags: NotRequired[
        Annotated[
            list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]],
            Field(max_length=30),
        ]
    ]


@with_config(_STRICT)
class _Batch(TypedDict):
    incidents: Annotated[list[_Incident], Field(min_length=1, max_length=5000)]


_ONE = TypeAdapter(_Incident)
_MANY = TypeAdapter(_Batch)

# Only an escape can put NUL in a JSON string (IncidentIn refuses it in every text field);
# a body that spells one anywhere goes IncidentIn's way.
_NUL = b"\\u0000"


def incidents_of(body: bytes, batch: bool) -> list[dict[str, Any]] | None:
    """The incidents of a body when its shape is one this path takes, else None."""
    if _NUL in body:
        return None
    try:
        if batch:
            return cast(list[dict[str, Any]], _MANY.validate_json(body)["incidents"])
        return [cast(dict[str, Any], _ONE.validate_json(body))]
    except ValidationError:
        return None


class Unknown(Exception):
    """An incident names a code the reference copy does not hold (it may be new)."""


class Refused(Exception):
    """A rule that only IncidentIn's way words (the 422 is made there)."""


def codes(rows: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """The reference codes the incidents name, by kind (as app/reference/names.py keys them)."""
    wanted: dict[str, set[str]] = {"province": set(), "district": set(), "perpetrator": set()}
    crossings = {r["crossing"] for r in rows if r.get("crossing") is not None}
    wanted["province"] = {r["province"] for r in rows}
    wanted["district"] = {r["district"] for r in rows if r.get("district") is not None}
    wanted["perpetrator"] = {r.get("perpetrator", "unknown") for r in rows}
    if crossings:
        wanted["crossing"] = crossings
    return wanted


def check_references(rows: Sequence[dict[str, Any]], refs: References) -> None:
    """Unknown unless every code the incidents name exists and each district lies in the
    incident's province."""
    for r in rows:
        district, crossing = r.get("district"), r.get("crossing")
        if (
            r["province"] not in refs.provinces
            or (district is not None and refs.districts.get(district) != r["province"])
            or r.get("perpetrator", "unknown") not in refs.actors
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


# The columns of an incidents row as _incident() gives them (writes.py names its arrays so).
INCIDENT_COLUMNS = (
    "id",
    "occurred_on",
    "date_precision",
    "lon",
    "lat",
    "geo_precision",
    "place_name",
    "province_code",
    "district_slug",
    "kind",
    "attack_type",
    "target_type",
    "perpetrator_slug",
    "attribution",
    "killed_total",
    "injured_total",
    "fatality_low",
    "fatality_high",
    "crossing_slug",
    "description",
    "status",
    "is_synthetic",
)
# The owned rows' columns by table (casualties, sources, tags), as columns() gives them.
OWNED_COLUMNS = {
    "c": ("incident_id", "category", "killed", "injured"),
    "s": ("incident_id", "position", "url", "publisher", "published_on", "title"),
    "t": ("incident_id", "tag"),
}


def _incident(r: dict[str, Any], id_: Any, latest: date) -> tuple[Any, ...]:
    """The incidents row of an incident, in the order of INCIDENT_COLUMNS."""
    casualties = r.get("casualties", ())
    killed = sum(c.get("killed", 0) for c in casualties)
    fr = r.get("fatality_range")
    if fr is not None and not fr["low"] <= killed <= fr["high"]:
        raise Refused  # also a range upside down
    if len({c["category"] for c in casualties}) < len(casualties):
        raise Refused  # one row per category
    lon, lat = r["location"]["coordinates"]
    return (
        id_,
        _day(r["occurred_on"], latest),
        r.get("date_precision", "day"),
        lon,
        lat,
        r.get("geo_precision", "exact"),
        r.get("place_name"),
        r["province"],
        r.get("district"),
        r.get("kind", "attack"),
        r["attack_type"],
        r["target_type"],
        r.get("perpetrator", "unknown"),
        r.get("attribution", "unattributed"),
        killed,
        sum(c.get("injured", 0) for c in casualties),
        None if fr is None else fr["low"],
        None if fr is None else fr["high"],
        r.get("crossing"),
        r.get("description"),
        r.get("status", "reported"),
        False,
    )


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


def columns(items: Sequence[dict[str, Any]], caller: Caller) -> Rows:
    """The rows of new incidents; Refused when a rule fails, Forbidden when the caller may
    not set a status."""
    latest = today_karachi()
    ids = [uuid7() for _ in items]
    incidents: list[tuple[Any, ...]] = []
    casualties: list[tuple[Any, ...]] = []
    sources: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    for id_, r in zip(ids, items, strict=True):
        incidents.append(_incident(r, id_, latest))
        for c in r.get("casualties", ()):
            casualties.append((id_, c["category"], c.get("killed", 0), c.get("injured", 0)))
        for n, s in enumerate(r["sources"]):
            published = _published(s.get("published_on"))
            sources.append((id_, n, s["url"], s.get("publisher"), published, s.get("title")))
        tags.extend((id_, t) for t in sorted(set(r.get("tags", ()))))
    # After every row's rules, as IncidentIn's way checks statuses after the 422s.
    for r in items:
        check_status(r.get("status", "reported"), caller)
    owned: dict[str, list[Any]] = {}
    for table, rows in (("c", casualties), ("s", sources), ("t", tags)):
        names = OWNED_COLUMNS[table]
        owned.update(_columns(rows, [f"{table}_{name}" for name in names]))
    return Rows(ids, _columns(incidents, INCIDENT_COLUMNS), owned)
