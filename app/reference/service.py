"""Queries over the reference tables; knows nothing of HTTP."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.reference.models import Actor, District, Province
from app.reference.schemas import DistrictOut, GroupOut, ProvinceOut


async def list_provinces(session: AsyncSession) -> list[ProvinceOut]:
    """Every province, Pakistan's first, by code."""
    rows = await session.execute(
        select(
            Province.code,
            Province.name,
            Province.country,
            Province.geom.is_not(None).label("has_geometry"),
        ).order_by(Province.country.desc(), Province.code)
    )
    return [ProvinceOut.model_validate(r._mapping) for r in rows]


async def province_codes(session: AsyncSession) -> set[str]:
    """The set of known province codes."""
    return set((await session.scalars(select(Province.code))).all())


async def list_districts(
    session: AsyncSession, provinces: Sequence[str] | None = None
) -> list[DistrictOut]:
    """Districts by province then slug, limited to the given provinces when any."""
    query = select(
        District.slug,
        District.name,
        District.province_code,
        District.is_merged,
        District.aliases,
        District.geom.is_not(None).label("has_geometry"),
    )
    if provinces:
        query = query.where(District.province_code.in_(provinces))
    rows = await session.execute(query.order_by(District.province_code, District.slug))
    return [
        DistrictOut(
            slug=r.slug,
            name=r.name,
            province=r.province_code,
            is_merged=r.is_merged,
            aliases=r.aliases,
            has_geometry=r.has_geometry,
        )
        for r in rows
    ]


async def list_groups(session: AsyncSession) -> list[GroupOut]:
    """Every actor by slug."""
    rows = await session.scalars(select(Actor).order_by(Actor.slug))
    return [
        GroupOut(
            slug=a.slug,
            name=a.name,
            aliases=a.aliases,
            is_state_force=a.is_state_force,
            description=a.description,
        )
        for a in rows
    ]


async def actor_slugs(session: AsyncSession) -> list[str]:
    """Every actor slug, sorted."""
    return list((await session.scalars(select(Actor.slug).order_by(Actor.slug))).all())


@dataclass(frozen=True)
class References:
    """The reference codes an incident or a filter may name, loaded once per request."""

    provinces: frozenset[str]
    districts: dict[str, str]  # slug → province
    actors: frozenset[str]
    crossings: frozenset[str]


NO_REFERENCES = References(frozenset(), {}, frozenset(), frozenset())


# Every code and name in one round trip: (kind, code, name, province of a district). Read per
# write by load_references(), and per process by the copy of app/reference/names.py.
REFERENCE_KINDS = ("province", "district", "perpetrator", "crossing")
REFERENCE_ROWS = """
    SELECT 'province', code, name, NULL FROM provinces
    UNION ALL SELECT 'district', slug, name, province_code FROM districts
    UNION ALL SELECT 'perpetrator', slug, name, NULL FROM actors
    UNION ALL SELECT 'crossing', slug, name, NULL FROM crossing_points"""


def read_references(rows: Iterable[Any]) -> tuple[dict[str, dict[str, str]], References]:
    """The rows of REFERENCE_ROWS as name by code per kind, and as References."""
    by_kind: dict[str, dict[str, str]] = {kind: {} for kind in REFERENCE_KINDS}
    district_province: dict[str, str] = {}
    for kind, code, name, province in rows:
        by_kind[kind][code] = name
        if province is not None:
            district_province[code] = province
    return by_kind, References(
        provinces=frozenset(by_kind["province"]),
        districts=district_province,
        actors=frozenset(by_kind["perpetrator"]),
        crossings=frozenset(by_kind["crossing"]),
    )


async def load_references(session: AsyncSession) -> References:
    """Every province, district, actor and crossing code (a few hundred short rows, read in
    one statement)."""
    return read_references(await session.execute(text(REFERENCE_ROWS)))[1]
