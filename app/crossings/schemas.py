"""Response models of the crossing endpoints."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from app.incidents.schemas import IncidentOut


class PointGeometry(BaseModel):
    """A GeoJSON Point (RFC 7946), longitude first."""

    type: str = Field(default="Point", examples=["Point"])
    coordinates: tuple[float, float] = Field(examples=[[71.09, 34.107]])


class AfghanSide(BaseModel):
    """The crossing as named on the Afghan side."""

    name: str | None = Field(examples=["Spin Boldak"])
    province: str | None = Field(examples=["AF-KAN"])


class StatusEventOut(BaseModel):
    """One period of a crossing's status."""

    id: int
    status: str = Field(examples=["closed"])
    from_: date = Field(alias="from", serialization_alias="from")
    to: date | None
    reason: str | None
    source_url: str | None

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
