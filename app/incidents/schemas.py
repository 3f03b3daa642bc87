"""Input and output models of incidents. Input models state the shape and per-field rules;
rules that need the database (province/district agreement, known actors) live in service.py."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from app.core.clock import today_karachi
from app.core.errors import Invalid, field_errors
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

EARLIEST = date(2001, 1, 1)
MAX_COUNT = 10_000
SLUG_RE = r"^[a-z0-9]+(-[a-z0-9]+)*$"
HTTP_URL_RE = re.compile(r"https?://[^\s/?#]+\S*", re.IGNORECASE)  # used with fullmatch
ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _iso_date(value: Any) -> Any:
    # JSON has no date type: accept only the ISO string, not numbers that lax parsing would take.
    if not isinstance(value, str) or not ISO_DATE_RE.fullmatch(value):
        raise ValueError("must be a date string YYYY-MM-DD")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]


def _in_window(value: date) -> date:
    if value < EARLIEST:
        raise ValueError(f"must be on or after {EARLIEST.isoformat()}")
    if value > today_karachi():
        raise ValueError("must not be in the future (Asia/Karachi date)")
    return value


class Strict(BaseModel):
    """Base of input models: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class PointIn(Strict):
    """A GeoJSON Point in the Pakistan/Afghanistan region (lon 60–78, lat 23–38)."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=2, examples=[[71.5249, 34.0151]])

    @field_validator("coordinates", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        if isinstance(v, list) and any(
            isinstance(x, bool) or not isinstance(x, int | float) for x in v
        ):
            raise ValueError("coordinates must be numbers [lon, lat]")
        return v

    @field_validator("coordinates")
    @classmethod
    def _region(cls, v: list[float]) -> list[float]:
        lon, lat = v
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise ValueError("coordinates must be finite numbers")
        if not (60 <= lon <= 78 and 23 <= lat <= 38):
            raise ValueError("must lie in the Pakistan/Afghanistan region: lon 60–78, lat 23–38")
        return v


class CasualtyIn(Strict):
    """Killed and injured of one category."""

    category: CasualtyCategory
    killed: Count = 0
    injured: Count = 0


class SourceIn(Strict):
    """A published source; the URL must be http(s)."""

    url: Annotated[Text, Field(max_length=2048, examples=["https://www.dawn.com/news/1734567"])]
    publisher: Annotated[Text, Field(max_length=200)] | None = None
    published_on: IsoDate | None = None
    title: Annotated[Text, Field(max_length=1000)] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not HTTP_URL_RE.fullmatch(v):
            raise ValueError("must be an http(s) URL")
        return v


class FatalityRange(Strict):
    """Low and high estimates of the death toll."""

    low: Annotated[StrictInt, Field(ge=0, le=5 * MAX_COUNT)]
    high: Annotated[StrictInt, Field(ge=0, le=5 * MAX_COUNT)]

    @model_validator(mode="after")
    def _ordered(self) -> FatalityRange:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


Tag = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class IncidentIn(Strict):
    """An incident as an analyst submits it (POST, batch rows, and a PATCH's result)."""

    occurred_on: Annotated[IsoDate, AfterValidator(_in_window)] = Field(
        examples=["2023-01-30"], description="Date in Asia/Karachi, 2001-01-01 to today"
    )
    date_precision: DatePrecision = "day"
    location: PointIn
    geo_precision: GeoPrecision = "exact"
    place_name: Annotated[Text, Field(max_length=500)] | None = None
    province: Annotated[str, Field(pattern=r"^(PK|AF)-[A-Z]{2,3}$", examples=["PK-KP"])]
    district: (
        Annotated[str, Field(pattern=SLUG_RE, max_length=80, examples=["peshawar"])] | None
    ) = None
    kind: Kind = "attack"
    attack_type: AttackType
    target_type: TargetType
    perpetrator: Annotated[str, Field(pattern=SLUG_RE, max_length=80)] = "unknown"
    attribution: Attribution = "unattributed"
    casualties: list[CasualtyIn] = Field(default_factory=list, max_length=5)
    fatality_range: FatalityRange | None = None
    sources: list[SourceIn] = Field(min_length=1, max_length=20)
    crossing: Annotated[str, Field(pattern=SLUG_RE, max_length=80)] | None = None
    description: Annotated[Text, Field(max_length=20_000)] | None = None
    status: Status = "reported"
    tags: list[Tag] = Field(default_factory=list, max_length=30)

    @property
    def killed_total(self) -> int:
        """Sum of killed over the casualty rows."""
        return sum(c.killed for c in self.casualties)

    @property
    def injured_total(self) -> int:
        """Sum of injured over the casualty rows."""
        return sum(c.injured for c in self.casualties)


class BatchIn(Strict):
    """Up to 5,000 incidents stored all together or not at all."""

    # Rows are validated one by one (app/incidents/rules.py), so that every bad row is listed.
    incidents: list[Any] = Field(min_length=1, max_length=5000)

    @classmethod
    def parse(cls, raw: Any) -> BatchIn:
        """The batch a JSON body holds, or Invalid naming what is wrong with its shape."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise Invalid(field_errors(exc.errors())) from None


class IncidentBatch(Strict):
    """Up to 5,000 incidents stored all together or not at all (the body of a batch)."""

    incidents: list[IncidentIn] = Field(min_length=1, max_length=5000)


# The body of a PATCH as documented: any writable member of an incident, `null` to remove.
PatchIn: type[BaseModel] = create_model(
    "PatchIn",
    __config__=ConfigDict(extra="forbid"),
    __doc__="JSON Merge Patch (RFC 7396) of an incident: members to set; null removes one.",
    **{name: (Any, None) for name in IncidentIn.model_fields},  # type: ignore[call-overload]
)


class PointOut(BaseModel):
    """A GeoJSON Point."""

    type: Literal["Point"] = "Point"
    coordinates: list[float]


class CasualtyOut(BaseModel):
    """Killed and injured of one category."""

    category: str
    killed: int
    injured: int


class SourceOut(BaseModel):
    """A published source."""

    url: str
    publisher: str | None
    published_on: date | None
    title: str | None


class FatalityRangeOut(BaseModel):
    """Low and high estimates of the death toll."""

    low: int
    high: int


class IncidentProperties(BaseModel):
    """An incident without its location: the `properties` of its GeoJSON Feature."""

    id: str = Field(description="Opaque, stable forever")
    occurred_on: date
    date_precision: str
    geo_precision: str
    place_name: str | None
    province: str
    district: str | None
    kind: str
    attack_type: str
    target_type: str
    perpetrator: str
    attribution: str
    casualties: list[CasualtyOut]
    killed_total: int
    injured_total: int
    fatality_range: FatalityRangeOut | None
    sources: list[SourceOut]
    crossing: str | None
    description: str | None
    status: str
    tags: list[str]
    is_synthetic: bool
    version: int
    created_by: int | None = Field(description="Id of the API key that created it")
    created_at: datetime
    updated_at: datetime


class IncidentOut(IncidentProperties):
    """An incident as the API returns it (built by PostgreSQL's incident_document())."""

    location: PointOut


class BatchOut(BaseModel):
    """The stored incidents, in the order sent."""

    items: list[IncidentOut]


class IncidentList(BaseModel):
    """A page of incidents, newest first; pass `next_cursor` as `cursor` for the next."""

    model_config = ConfigDict(extra="forbid")

    items: list[IncidentOut]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last")


class Link(BaseModel):
    """A web link (RFC 8288) as OGC API Features writes it."""

    model_config = ConfigDict(extra="forbid")

    rel: str = Field(examples=["next"])
    type: str = Field(examples=["application/geo+json"])
    href: str


class IncidentFeature(BaseModel):
    """An incident as a GeoJSON Feature: its location is the geometry."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Feature"]
    id: str
    geometry: PointOut
    properties: IncidentProperties


class IncidentFeatureCollection(BaseModel):
    """A page of incidents as a GeoJSON FeatureCollection (RFC 7946), with a `next` link
    and `next_cursor` while more pages follow."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["FeatureCollection"]
    features: list[IncidentFeature]
    numberReturned: int = Field(description="Features in this page (OGC API Features)")
    links: list[Link]
    next_cursor: str | None


class Actor(BaseModel):
    """Who made a revision."""

    key_id: int | None
    name: str | None


class RevisionOut(BaseModel):
    """One write to an incident."""

    version: int
    seq: int = Field(description="Change-feed sequence number")
    op: Literal["created", "updated", "deleted"]
    at: datetime
    actor: Actor
    changed_fields: list[str]
    before: dict[str, Any] | None = Field(description="Old values of the changed fields")
    after: dict[str, Any] | None = Field(description="New values (the whole incident on create)")


class HistoryOut(BaseModel):
    """Every revision of an incident, oldest first."""

    id: str
    items: list[RevisionOut]
