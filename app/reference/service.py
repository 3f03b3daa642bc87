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


# The rows (from 0) whose location lies more than 10 km outside their province's loaded
# boundary, with the message saying by how much (bw_province_misfit, migration
# 0010_boundaries, which the incidents' trigger also runs). Rows of provinces without a
# boundary are not looked at, so with none loaded this reads the provinces and nothing else.
_MISFITS = text("""
    WITH bounded AS MATERIALIZED (
        SELECT u.n - 1 AS row, u.province, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326) AS point
          FROM unnest(CAST(:province AS text[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]))
               WITH ORDINALITY AS u(province, lon, lat, n)
         WHERE u.province IN (SELECT code FROM provinces WHERE geom IS NOT NULL)
    )
    SELECT row, problem
      FROM (SELECT row, bw_province_misfit(province, point) AS problem FROM bounded) AS checked
     WHERE problem IS NOT NULL ORDER BY row""")  # MATERIALIZED: rows filtered before checked


async def province_misfits(
    session: AsyncSession, provinces: Sequence[str], lons: Sequence[float], lats: Sequence[float]
) -> dict[int, str]:
    """Why each location (by position) lies too far outside its province's boundary; the
    ones that do not, or whose province has no boundary, are left out."""
    params = {"province": list(provinces), "lon": list(lons), "lat": list(lats)}
    return {int(r.row): str(r.problem) for r in await session.execute(_MISFITS, params)}


# The single-unit answers, as PostgreSQL writes them: the unit's members and, when asked for,
# its boundary as a GeoJSON geometry simplified for display (null when none is loaded).
_GEOMETRY = (
    ", 'geometry', ST_AsGeoJSON(ST_Multi(ST_SimplifyPreserveTopology(geom, :tolerance)), 6)::json"
)
_UNIT = {
    "province": """SELECT json_build_object('code', code, 'name', name, 'country', country,
                                            'has_geometry', geom IS NOT NULL{geometry})::text
                     FROM provinces WHERE code = :key""",
    "district": """SELECT json_build_object('slug', slug, 'name', name, 'province', province_code,
                                            'is_merged', is_merged, 'aliases', aliases,
                                            'has_geometry', geom IS NOT NULL{geometry})::text
                     FROM districts WHERE slug = :key""",
}
_UNIT_QUERIES = {
    (level, geometry): text(query.format(geometry=_GEOMETRY if geometry else ""))
    for level, query in _UNIT.items()
    for geometry in (False, True)
}


async def unit_json(
    session: AsyncSession, level: str, key: str, geometry: bool, tolerance: float
) -> str | None:
    """One province (by code) or district (by slug) as JSON text, with its boundary as a
    GeoJSON geometry when `geometry` (simplified with `tolerance`, in degrees; null when none
    is loaded); None when there is no such unit."""
    params: dict[str, Any] = {"key": key}
    if geometry:
        params["tolerance"] = tolerance
    found: str | None = await session.scalar(_UNIT_QUERIES[level, geometry], params)
    return found


async def load_references(session: AsyncSession) -> References:
    """Every province, district, actor and crossing code (a few hundred short rows, read in
    one statement)."""
    return read_references(await session.execute(text(REFERENCE_ROWS)))[1]
