"""HTTP routes of the reference data: vocabularies, provinces, districts, groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.auth.dependencies import ReadAccess
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.params import require_known, split_codes
from app.reference import service
from app.reference.schemas import (
    DistrictDetail,
    DistrictList,
    GroupList,
    ProvinceDetail,
    ProvinceList,
    Vocabularies,
)
from app.reference.vocab import VOCABULARIES

router = APIRouter(prefix="/v1", tags=["reference"], dependencies=[ReadAccess])


@router.get("/vocabularies", response_model=Vocabularies, summary="Every controlled vocabulary")
async def vocabularies(session: SessionDep) -> Vocabularies:
    """Stable lowercase codes of every vocabulary, with province codes and actor slugs."""
    provinces = sorted(await service.province_codes(session))
    return Vocabularies(
        **{k: list(v) for k, v in VOCABULARIES.items()},
        province=provinces,
        perpetrator=await service.actor_slugs(session),
    )


@router.get("/provinces", response_model=ProvinceList, summary="Provinces (ISO 3166-2)")
async def provinces(session: SessionDep) -> ProvinceList:
    """Pakistan's provinces and the Afghan border provinces."""
    return ProvinceList(items=await service.list_provinces(session))


@router.get("/districts", response_model=DistrictList, summary="Districts")
async def districts(
    session: SessionDep,
    province: Annotated[
        str | None,
        Query(
            description="Comma-separated province codes, e.g. `PK-KP,PK-BA`",
            examples=["PK-KP"],
            max_length=500,
        ),
    ] = None,
) -> DistrictList:
    """Districts with their province and merged-district flag, filtered by province."""
    codes: list[str] = split_codes(province)
    if codes:
        require_known("province", codes, await service.province_codes(session))
    return DistrictList(items=await service.list_districts(session, codes or None))


WithGeometry = Annotated[
    bool,
    Query(description="Include the boundary as a GeoJSON geometry (`null` when none is loaded)"),
]
Tolerance = Annotated[
    float,
    Query(
        ge=0,
        le=0.5,
        allow_inf_nan=False,
        description="Simplification tolerance of the boundary, in degrees of WGS 84 "
        "(0.001 is about 100 m; 0 keeps every vertex): ST_SimplifyPreserveTopology, for "
        "display. Only with `geometry=true`.",
    ),
]
DEFAULT_TOLERANCE = 0.001
UNIT_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such unit"},
    422: {"description": "A bad parameter (e.g. a tolerance out of range)"},
}


def _unit(found: str | None, what: str) -> Response:
    if found is None:
        raise NotFound(f"No {what}.")
    return Response(found, media_type="application/json")


@router.get(
    "/provinces/{code}",
    response_model=ProvinceDetail,
    summary="One province, with its boundary on request",
    responses=UNIT_ERRORS,
)
async def province(
    session: SessionDep,
    code: Annotated[str, Path(description="ISO 3166-2 code, e.g. `PK-KP`", max_length=10)],
    geometry: WithGeometry = False,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> Response:
    """A province; with `geometry=true` its loaded boundary as GeoJSON, simplified for display
    (boundaries are loaded with `borderwatch boundaries load`)."""
    found = await service.unit_json(session, "province", code, geometry, tolerance)
    return _unit(found, f"province {code}")


@router.get(
    "/districts/{slug}",
    response_model=DistrictDetail,
    summary="One district, with its boundary on request",
    responses=UNIT_ERRORS,
)
async def district(
    session: SessionDep,
    slug: Annotated[str, Path(description="District slug, e.g. `peshawar`", max_length=80)],
    geometry: WithGeometry = False,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> Response:
    """A district; with `geometry=true` its loaded boundary as GeoJSON, simplified for display
    (boundaries are loaded with `borderwatch boundaries load`)."""
    found = await service.unit_json(session, "district", slug, geometry, tolerance)
    return _unit(found, f"district {slug}")


@router.get("/groups", response_model=GroupList, summary="Actors (perpetrators)")
async def groups(session: SessionDep) -> GroupList:
    """Armed groups and state forces that incidents name as perpetrator."""
    return GroupList(items=await service.list_groups(session))
