"""HTTP routes of the reference data: vocabularies, provinces, districts, groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import ReadAccess
from app.core.db import SessionDep
from app.core.params import require_known, split_codes
from app.reference import service
from app.reference.schemas import DistrictList, GroupList, ProvinceList, Vocabularies
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


@router.get("/groups", response_model=GroupList, summary="Actors (perpetrators)")
async def groups(session: SessionDep) -> GroupList:
    """Armed groups and state forces that incidents name as perpetrator."""
    return GroupList(items=await service.list_groups(session))
