"""Response models of the change feed and the exports (documents built by PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from app.incidents.schemas import IncidentFeature, IncidentOut


class Change(BaseModel):
    """One write to an incident, with the incident as it left it."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(description="Change-feed sequence number, gapless in commit order")
    op: Literal["created", "updated", "deleted"]
    id: str = Field(description="Incident id")
    at: datetime
    incident: IncidentOut | None = Field(description="The incident after the write; null on delete")


class ChangeFeed(BaseModel):
    """A page of the change feed, oldest first."""

    model_config = ConfigDict(extra="forbid")

    items: list[Change]
    next_after: int | None = Field(description="`after` of the next page; null once caught up")


class IncidentArray(RootModel[list[IncidentOut]]):
    """Every matching incident, as one JSON array."""


class ExportFeatureCollection(BaseModel):
    """Every matching incident as one GeoJSON FeatureCollection (RFC 7946)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["FeatureCollection"]
    features: list[IncidentFeature]


NDJSON_EXPORT = "One incident (schema IncidentOut) per line, ordered by id."
CSV_EXPORT = (
    "One row per incident with a header row; casualties flattened into "
    "`killed_<category>` and `injured_<category>` columns, plus `killed_total`, "
    "`injured_total`, `lon` and `lat`."
)
