"""Queries over the reference tables; knows nothing of HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


# Every code in one round trip: (kind, code, province of a district).
_REFERENCES = text("""
    SELECT 'p', code, NULL FROM provinces
    UNION ALL SELECT 'd', slug, province_code FROM districts
    UNION ALL SELECT 'a', slug, NULL FROM actors
    UNION ALL SELECT 'c', slug, NULL FROM crossing_points
""")


async def load_references(session: AsyncSession) -> References:
    """Every province, district, actor and crossing code (a few hundred short rows, read in
    one statement)."""
    codes: dict[str, set[str]] = {"p": set(), "a": set(), "c": set()}
    districts: dict[str, str] = {}
    for kind, code, province in await session.execute(_REFERENCES):
        if kind == "d":
            districts[code] = province
        else:
            codes[kind].add(code)
    return References(
        provinces=frozenset(codes["p"]),
        districts=districts,
        actors=frozenset(codes["a"]),
        crossings=frozenset(codes["c"]),
    )
