"""Response models of the reference endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProvinceOut(BaseModel):
    """A province by ISO 3166-2 code."""

    model_config = ConfigDict(from_attributes=True)

    code: str = Field(examples=["PK-KP"])
    name: str = Field(examples=["Khyber Pakhtunkhwa"])
    country: str = Field(examples=["PK"], description="ISO 3166-1 alpha-2 of the country")
    has_geometry: bool = Field(description="Whether a boundary is loaded")


class DistrictOut(BaseModel):
    """A district by slug."""

    slug: str = Field(examples=["north-waziristan"])
    name: str = Field(examples=["North Waziristan"])
    province: str = Field(examples=["PK-KP"])
    is_merged: bool = Field(description="A former FATA tribal district merged into KP in 2018")
    aliases: list[str]
    has_geometry: bool


GEOMETRY_DESCRIPTION = (
    "With `geometry=true` only: the boundary as a GeoJSON MultiPolygon (WGS 84), simplified "
    "with `tolerance`; null when no boundary is loaded"
)


class ProvinceDetail(ProvinceOut):
    """A province, with its boundary on request."""

    geometry: dict[str, Any] | None = Field(None, description=GEOMETRY_DESCRIPTION)


class DistrictDetail(DistrictOut):
    """A district, with its boundary on request."""

    geometry: dict[str, Any] | None = Field(None, description=GEOMETRY_DESCRIPTION)


class GroupOut(BaseModel):
    """An actor: armed group or state force."""

    slug: str = Field(examples=["ttp"])
    name: str = Field(examples=["Tehreek-e-Taliban Pakistan"])
    aliases: list[str]
    is_state_force: bool
    description: str | None


class ProvinceList(BaseModel):
    """All provinces."""

    items: list[ProvinceOut]


class DistrictList(BaseModel):
    """Districts, optionally of some provinces."""

    items: list[DistrictOut]


class GroupList(BaseModel):
    """All actors."""

    items: list[GroupOut]


class Vocabularies(BaseModel):
    """Every controlled vocabulary, by name, as lists of stable codes."""

    attack_type: list[str]
    target_type: list[str]
    casualty_category: list[str]
    date_precision: list[str]
    geo_precision: list[str]
    attribution: list[str]
    status: list[str]
    kind: list[str]
    role: list[str]
    crossing_status: list[str]
    province: list[str] = Field(description="Province codes (see /v1/provinces)")
    perpetrator: list[str] = Field(description="Actor slugs (see /v1/groups)")
