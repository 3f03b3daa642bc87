"""The query parameters of /ogc items: `bbox`, `datetime`, `limit`, the paging token, `f`,
and on incidents the list filters of app/incidents/filters.py under their own names."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from app.core.clock import KARACHI
from app.core.errors import Invalid
from app.core.params import ISO_DATE_RE, ISO_TIME_RE
from app.incidents.filters import IncidentFilters

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _bbox_numbers(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # FastAPI reads a tuple parameter as a list of its repeats
    if isinstance(value, list):
        raise ValueError("must be given once, as minLon,minLat,maxLon,maxLat")
    if not isinstance(value, str):
        return value
    try:
        numbers = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise ValueError("must be four numbers: minLon,minLat,maxLon,maxLat") from None
    if len(numbers) == 6:
        raise ValueError(
            "a bbox with heights (6 numbers) is not supported: give minLon,minLat,maxLon,maxLat"
        )
    if len(numbers) != 4:
        raise ValueError("must be four numbers: minLon,minLat,maxLon,maxLat")
    return numbers


def _bbox_range(value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = value
    if not all(-180 <= x <= 180 for x in (x0, x1)) or not all(-90 <= y <= 90 for y in (y0, y1)):
        raise ValueError("must lie within -180..180 (lon) and -90..90 (lat), in CRS84")
    if y0 > y1:
        raise ValueError("minLat must not be above maxLat")
    if x0 > x1:
        raise ValueError("a bbox across the antimeridian (minLon > maxLon) is not supported")
    return value


# OGC API bbox: CRS84 longitude/latitude, four numbers; 6 (with heights) refused by name.
OgcBbox = Annotated[
    tuple[float, float, float, float], BeforeValidator(_bbox_numbers), AfterValidator(_bbox_range)
]
Format = Literal["json", "geojson"]
BBOX_DOC = (
    "minLon,minLat,maxLon,maxLat in CRS84 (WGS 84 longitude, latitude): features whose "
    "geometry intersects the box. Heights (6 numbers) are not supported."
)
DATETIME_DOC = (
    "A day or time, or an interval `start/end` with `..` (or nothing) for an open end, in "
    "RFC 3339: `2024-05-01`, `2024-05-01T10:00:00Z`, `2024-01-01/2024-03-31`, "
    "`2024-01-01/..`, `../2023-12-31`. Incidents have a day (`occurred_on`, a calendar day "
    "in Pakistan): a time selects the day it falls on in Asia/Karachi, and an interval the "
    "days from its start's day to its end's day, both included."
)
LIMIT_DOC = f"Features per page, 1–{MAX_LIMIT:,} (default {DEFAULT_LIMIT})"
CURSOR_DOC = "Where the page starts: taken from the `next` link of the page before"
F_DOC = "Output format: `json` or `geojson` (both give GeoJSON); other formats are not served"


class ItemsQuery(BaseModel):
    """The query of a collection's items (OGC API – Features Part 1 Core)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bbox: OgcBbox | None = Field(None, description=BBOX_DOC)
    datetime_: str | None = Field(None, alias="datetime", max_length=100, description=DATETIME_DOC)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DOC)
    cursor: str | None = Field(None, max_length=500, description=CURSOR_DOC)
    f: Format | None = Field(None, description=F_DOC)


class IncidentItemsQuery(IncidentFilters):
    """The query of incident items: the OGC parameters and the list filters by their names
    (`since`/`until` and `datetime` together select the days both allow)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bbox: OgcBbox | None = Field(None, description=BBOX_DOC)
    datetime_: str | None = Field(None, alias="datetime", max_length=100, description=DATETIME_DOC)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DOC)
    cursor: str | None = Field(None, max_length=500, description=CURSOR_DOC)
    f: Format | None = Field(None, description=F_DOC)

    def filters(self) -> IncidentFilters:
        """The list filters this query means, `datetime` folded into `since` and `until`."""
        values = self.model_dump(include=set(IncidentFilters.model_fields))
        first, last = days(self.datetime_)
        if first is not None:
            values["since"] = max(first, self.since) if self.since else first
        if last is not None:
            values["until"] = min(last, self.until) if self.until else last
        return IncidentFilters.model_validate(values)


def _day(part: str) -> date:
    """The day an RFC 3339 date or date-time falls on in Pakistan."""
    if ISO_DATE_RE.fullmatch(part):
        return date.fromisoformat(part)
    if ISO_TIME_RE.fullmatch(part):
        return _moment(part).astimezone(KARACHI).date()
    raise ValueError(
        f"{part!r} is not an RFC 3339 date or date-time with offset "
        "(2024-05-01, 2024-05-01T10:00:00Z)"
    )


def _moment(part: str) -> datetime:
    return datetime.fromisoformat(f"{part[:10]}T{part[11:].upper()}")


def days(value: str | None) -> tuple[date | None, date | None]:
    """The first and last day (None: open) a `datetime` parameter selects; Invalid when it is
    none of the forms OGC API – Features names."""
    if value is None:
        return None, None
    parts = value.split("/")
    try:
        if len(parts) == 1:
            if value in ("", ".."):
                raise ValueError("an instant cannot be open; use an interval such as 2024-01-01/..")
            day = _day(value)
            return day, day
        if len(parts) != 2:
            raise ValueError("must be an instant or one interval start/end")
        first, last = (None if p in ("", "..") else _day(p) for p in parts)
        if first and last and last < first:
            raise ValueError("the interval ends before it starts")
        if all(ISO_TIME_RE.fullmatch(p) for p in parts) and _moment(parts[1]) < _moment(parts[0]):
            raise ValueError("the interval ends before it starts")  # on one day, by the hour
        return first, last
    except (ValueError, OverflowError) as exc:
        raise Invalid([{"field": "datetime", "message": str(exc)}]) from None
