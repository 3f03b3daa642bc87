"""Input and response models of the crossing endpoints."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator

from app.incidents.schemas import (
    HTTP_URL_RE,
    SLUG_RE,
    IncidentOut,
    IsoDate,
    PointIn,
    Strict,
    Text,
)
from app.reference.vocab import CrossingStatus

# Pakistan's independence: no crossing status of interest is older.
EARLIEST_STATUS = date(1947, 8, 14)
Slug = Annotated[str, Field(pattern=SLUG_RE, max_length=80)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Name = Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]


class AfghanSideIn(Strict):
    """The crossing as named on the Afghan side."""

    name: Name | None = Field(None, examples=["Spin Boldak"])
    province: Annotated[str, Field(pattern=r"^AF-[A-Z]{2,3}$", examples=["AF-KAN"])] | None = None


class CrossingIn(Strict):
    """A new crossing point. `province` is a Pakistani province; `district`, when given,
    must lie in it; `afghan_side.province` is an Afghan one (see /v1/provinces)."""

    slug: Slug = Field(
        examples=["shaheedano-dand"], description="Stable id: lowercase words joined by `-`"
    )
    name: Name = Field(examples=["Shaheedano Dand"])
    location: PointIn
    province: Annotated[str, Field(pattern=r"^PK-[A-Z]{2,3}$", examples=["PK-KP"])]
    district: Slug | None = Field(None, examples=["kurram"])
    afghan_side: AfghanSideIn = Field(default_factory=AfghanSideIn)
    notified_for_trade: StrictBool = False
    pedestrians: StrictBool = False
    notes: Annotated[Text, Field(max_length=2000)] | None = None


class CrossingPatch(Strict):
    """A JSON merge patch (RFC 7396) of a crossing: any field of CrossingIn but `slug`, the
    crossing's stable id (sending a different one is a 422); `null` removes an optional
    member."""

    name: Name | None = None
    location: PointIn | None = None
    province: str | None = None
    district: Slug | None = None
    afghan_side: AfghanSideIn | None = None
    notified_for_trade: StrictBool | None = None
    pedestrians: StrictBool | None = None
    notes: Annotated[Text, Field(max_length=2000)] | None = None


class StatusEventIn(Strict):
    """A period of a crossing's status. `to` is the last day in that status (inclusive);
    `null` means still in force, until a later event starts (the day before it, then).
    Neither `from` nor `to` may be more than one year after today (Asia/Karachi)."""

    status: CrossingStatus = Field(examples=["closed"])
    from_: IsoDate = Field(alias="from", examples=["2025-10-12"])
    to: IsoDate | None = Field(None, examples=["2025-10-19"])
    reason: Annotated[Text, Field(max_length=2000)] | None = Field(
        None, examples=["border clashes"]
    )
    source_url: Annotated[Text, Field(max_length=2048)] | None = Field(
        None, examples=["https://www.dawn.com/news/1949384"]
    )

    @field_validator("from_", "to")
    @classmethod
    def _not_ancient(cls, v: date | None) -> date | None:
        if v is not None and v < EARLIEST_STATUS:
            raise ValueError(f"must be on or after {EARLIEST_STATUS.isoformat()}")
        return v

    @field_validator("source_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not HTTP_URL_RE.fullmatch(v):
            raise ValueError("must be an http(s) URL")
        return v


class StatusEventPatch(Strict):
    """A JSON merge patch (RFC 7396) of a status event: any field of StatusEventIn; `"to":
    null` makes it open-ended again."""

    status: CrossingStatus | None = None
    from_: IsoDate | None = Field(None, alias="from")
    to: IsoDate | None = None
    reason: str | None = None
    source_url: str | None = None


class PointGeometry(BaseModel):
    """A GeoJSON Point (RFC 7946), longitude first."""

    type: str = Field(default="Point", examples=["Point"])
    coordinates: tuple[float, float] = Field(examples=[[71.09, 34.107]])


class AfghanSide(BaseModel):
    """The crossing as named on the Afghan side."""

    name: str | None = Field(examples=["Spin Boldak"])
    province: str | None = Field(examples=["AF-KAN"])


class StatusEventOut(BaseModel):
    """One period of a crossing's status, as stored: `to` is its last day (inclusive), null
    while still in force."""

    id: int
    status: str = Field(examples=["closed"])
    from_: date = Field(alias="from", serialization_alias="from")
    to: date | None
    reason: str | None
    source_url: str | None
    version: int = Field(description="The event's version: its ETag, for If-Match")

    model_config = {"populate_by_name": True}


class CurrentStatus(BaseModel):
    """The status in force today (Asia/Karachi), derived from the status history."""

    status: str = Field(examples=["open", "closed", "restricted"])
    since: date | None = Field(description="First day of the status now in force, when known")
    reason: str | None


class CrossingOut(BaseModel):
    """A crossing point with its current status."""

    slug: str = Field(examples=["torkham"])
    name: str = Field(examples=["Torkham"])
    location: PointGeometry
    province: str
    district: str | None
    afghan_side: AfghanSide
    notified_for_trade: bool
    pedestrians: bool
    notes: str | None
    version: int = Field(
        description="Moves with every change to the crossing or its status events: the ETag, "
        "for If-Match"
    )
    current_status: CurrentStatus


class CrossingDetail(CrossingOut):
    """A crossing point with its whole status history, newest first."""

    status_history: list[StatusEventOut]


class CrossingList(BaseModel):
    """All crossing points."""

    items: list[CrossingOut]


class StatusHistory(BaseModel):
    """A crossing's status events, newest first."""

    items: list[StatusEventOut]


class IncidentNear(IncidentOut):
    """An incident with its geodesic distance from the crossing."""

    distance_km: float = Field(description="Geodesic distance on the WGS 84 spheroid, km")


class CrossingIncidents(BaseModel):
    """Live incidents within `radius_km` of a crossing, nearest first."""

    model_config = ConfigDict(extra="forbid")

    crossing: str = Field(examples=["torkham"])
    radius_km: float
    items: list[IncidentNear]
    next_cursor: str | None = Field(
        default=None, description="Cursor of the next page; null on the last"
    )
