"""The shapes of /ogc answers, for the OpenAPI description (the answers themselves are
built as text: features by PostgreSQL, the rest by the router)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Link(BaseModel):
    """A link of OGC API – Common."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    """What the service offers and where."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes implemented."""

    model_config = ConfigDict(populate_by_name=True)

    conforms_to: list[str] = Field(alias="conformsTo")


class SpatialExtent(BaseModel):
    """The box around every feature: minLon, minLat, maxLon, maxLat."""

    bbox: list[list[float]]
    crs: str


class TemporalExtent(BaseModel):
    """The first and last instant of the features' days (RFC 3339, UTC)."""

    interval: list[list[str | None]]
    trs: str


class Extent(BaseModel):
    """A collection's extents (spatial when it has features; temporal for incidents)."""

    spatial: SpatialExtent | None = None
    temporal: TemporalExtent | None = None


class Collection(BaseModel):
    """One collection."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    title: str
    description: str
    extent: Extent | None = None
    item_type: Literal["feature"] = Field(alias="itemType")
    crs: list[str]
    links: list[Link]


class Collections(BaseModel):
    """Every collection served."""

    links: list[Link]
    collections: list[Collection]


class Feature(BaseModel):
    """A GeoJSON Feature (incidents: properties are the incident less its location)."""

    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]
    links: list[Link] | None = None


class FeatureCollection(BaseModel):
    """A page of features."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["FeatureCollection"]
    number_matched: int | None = Field(None, alias="numberMatched")  # first pages only
    number_returned: int = Field(alias="numberReturned")
    time_stamp: str = Field(alias="timeStamp")
    links: list[Link]
    features: list[Feature]
