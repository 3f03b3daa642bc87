"""Loading administrative boundaries from a GeoJSON file into provinces.geom and districts.geom:
features matched to units by code or by normalised name, geometry made by PostGIS, all in the
caller's transaction."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import audit
from app.core.dataversion import move_epoch
from app.core.errors import pg_error

Level = Literal["province", "district"]
LEVELS: tuple[Level, ...] = ("province", "district")
POLYGONS = ("Polygon", "MultiPolygon")
# Words that name the kind of unit rather than the unit ("Khyber District", "Khyber Agency").
_SUFFIXES = {"province": ("province",), "district": ("district", "agency")}
# Coordinate reference systems a GeoJSON file may declare that mean WGS 84 lon/lat.
_WGS84 = ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326", "4326")


# The region the API holds locations to (IN_REGION of incidents and crossings: lon 60-78, lat
# 23-38); a boundary's bounding box must lie within it, give or take REGION_MARGIN degrees
# (about 50 km: a generous outline of a border district still loads).
REGION = (60.0, 23.0, 78.0, 38.0)
REGION_MARGIN = 0.5


# What PostGIS raises for a geometry it cannot read (lwerror is an internal error to
# PostgreSQL); any other database error fails the whole load.
GEOMETRY_ERRORS = (asyncpg.InternalServerError, asyncpg.DataError)


class Unreadable(Exception):
    """The file is not a GeoJSON FeatureCollection this loader can read."""


def normalise(name: str, level: Level = "district") -> str:
    """A name compared without case, accents, punctuation or spacing, and without a trailing
    'District' or 'Agency' (districts) or 'Province' (provinces): `Dera Ismaïl-Khan District`
    and `dera ismail khan` are one."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^0-9a-z]+", " ", plain).split()
    while len(words) > 1 and words[-1] in _SUFFIXES[level]:
        words.pop()
    return " ".join(words)


@dataclass(frozen=True)
class Unit:
    """An administrative unit a feature may be matched to."""

    key: str  # province code or district slug
    name: str
    province: str  # the unit's province (itself for a province)
    aliases: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What became of one feature."""

    index: int
    label: str  # the feature's code or name, as the file gives it
    unit: str | None = None  # the code or slug it was matched to
    reason: str | None = None  # why it was not loaded
    note: str | None = None  # e.g. that its geometry was repaired


@dataclass
class Report:
    """The result of a load: every feature's outcome and the units left without a boundary."""

    level: Level
    outcomes: list[Outcome] = field(default_factory=list)
    without_boundary: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> list[Outcome]:
        """Features stored as a unit's boundary."""
        return [o for o in self.outcomes if o.reason is None]

    @property
    def refused(self) -> list[Outcome]:
        """Features not stored, each with its reason."""
        return [o for o in self.outcomes if o.reason is not None]

    def lines(self) -> list[str]:
        """The report as printed by the CLI."""
        out = [f"{self.level} boundaries: {len(self.loaded)} of {len(self.outcomes)} features"]
        for o in self.outcomes:
            if o.reason is None:
                note = f" ({o.note})" if o.note else ""
                out.append(f"  matched   feature {o.index} {o.label!r} -> {o.unit}{note}")
            else:
                out.append(f"  unmatched feature {o.index} {o.label!r}: {o.reason}")
        left = ", ".join(self.without_boundary) or "none"
        out.append(f"{self.level}s without a boundary ({len(self.without_boundary)}): {left}")
        return out


def read_features(path: Path) -> list[dict[str, Any]]:
    """The features of a GeoJSON FeatureCollection file; Unreadable when it is not one."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Unreadable(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise Unreadable(f"{path} is not a GeoJSON FeatureCollection")
    crs = _foreign_crs(data)
    if crs is not None:
        raise Unreadable(f"{path} declares the CRS {crs!r}; only WGS 84 lon/lat is read")
    features = data.get("features")
    if not isinstance(features, list):
        raise Unreadable(f"{path} has no list of features")
    return [f if isinstance(f, dict) else {} for f in features]


def _foreign_crs(member: Mapping[str, Any]) -> str | None:
    """The name of a `crs` member (GeoJSON 2008, on the collection or a geometry) that is not
    WGS 84 lon/lat; None when there is none or it names WGS 84."""
    crs = member.get("crs")
    if crs is None:
        return None
    props = crs.get("properties") if isinstance(crs, dict) else None
    name = str(props.get("name", "")) if isinstance(props, dict) else ""
    if name.upper().endswith(tuple(c.upper() for c in _WGS84)):
        return None
    return name


def _number(value: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (bool, text, null, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _rings(polygon: Any) -> list[list[list[float]]] | None:
    """A Polygon's coordinates with 2D positions (altitude and more dropped, as RFC 7946
    allows them); None when they are not a list of rings of positions of 2 to 4 numbers."""
    if not isinstance(polygon, list):
        return None
    rings = []
    for ring in polygon:
        if not isinstance(ring, list):
            return None
        flat = []
        for position in ring:
            if not isinstance(position, list) or not 2 <= len(position) <= 4:
                return None
            numbers = [_number(v) for v in position]
            lon, lat = numbers[0], numbers[1]
            if lon is None or lat is None or None in numbers:
                return None
            flat.append([lon, lat])
        rings.append(flat)
    return rings


def checked_geometry(geometry: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """A (Multi)Polygon geometry as PostGIS is to read it, in 2D, or None and why not: every
    coordinate a finite JSON number (PostGIS reads text, null or true as 0), not empty, no
    other CRS, and lon/lat within the region."""
    crs = _foreign_crs(geometry)
    if crs is not None:
        return None, f"invalid geometry: declares the CRS {crs!r}; only WGS 84 lon/lat is read"
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        rings = _rings(coordinates)
        polygons = None if rings is None else [rings]
    else:
        parts = [_rings(p) for p in coordinates] if isinstance(coordinates, list) else None
        polygons = None if parts is None or None in parts else [p for p in parts if p is not None]
    if polygons is None:
        what = "rings" if kind == "Polygon" else "polygons of rings"
        return None, (
            f"invalid geometry: the coordinates of a {kind} must be a list of {what}, each "
            "a list of positions of 2 to 4 finite numbers"
        )
    positions = [p for rings in polygons for ring in rings for p in ring]
    if not positions:
        return None, "invalid geometry: empty geometry (no coordinates)"
    lons, lats = [p[0] for p in positions], [p[1] for p in positions]
    west, south, east, north = min(lons), min(lats), max(lons), max(lats)
    if west < -180 or east > 180 or south < -90 or north > 90:
        return None, "invalid geometry: coordinates are not WGS 84 longitude/latitude"
    r_west, r_south, r_east, r_north = REGION
    m = REGION_MARGIN
    if west < r_west - m or east > r_east + m or south < r_south - m or north > r_north + m:
        return None, (
            f"outside the region (lon {r_west:g} to {r_east:g}, lat {r_south:g} to "
            f"{r_north:g}): the feature spans lon {west:g} to {east:g}, lat {south:g} to "
            f"{north:g} (lat/lon swapped?)"
        )
    flat = polygons[0] if kind == "Polygon" else polygons
    return {"type": kind, "coordinates": flat}, ""


async def units(session: AsyncSession, level: Level) -> list[Unit]:
    """The provinces or districts features can be matched to."""
    if level == "province":
        rows = await session.execute(text("SELECT code, name, code FROM provinces"))
        return [Unit(r[0], r[1], r[2]) for r in rows]
    rows = await session.execute(text("SELECT slug, name, province_code, aliases FROM districts"))
    return [Unit(r[0], r[1], r[2], tuple(r[3] or ())) for r in rows]


@dataclass(frozen=True)
class Fields:
    """The feature properties that name a unit (at least one of code and name)."""

    code: str | None = None
    name: str | None = None
    province: str | None = None  # districts: the province a same-named district is in


class Matcher:
    """Finds the unit a feature's properties name."""

    def __init__(self, level: Level, all_units: Sequence[Unit], provinces: Sequence[Unit]):
        self.level = level
        self.by_key = {u.key.casefold(): u for u in all_units}
        self.by_name: dict[str, list[Unit]] = defaultdict(list)
        for u in all_units:
            names = {normalise(n, level) for n in (u.name, u.key.replace("-", " "), *u.aliases)}
            for n in names:
                self.by_name[n].append(u)
        self.province_names = {normalise(p.name, "province"): p.key for p in provinces}
        self.province_codes = {p.key.casefold(): p.key for p in provinces}

    def province_of(self, value: str) -> str | None:
        """The province code a --province-field value names (code or name)."""
        return self.province_codes.get(value.strip().casefold()) or self.province_names.get(
            normalise(value, "province")
        )

    def match(self, props: Mapping[str, Any], fields: Fields) -> tuple[Unit | None, str]:
        """The unit, or None and why not."""
        if fields.code is not None:
            code = props.get(fields.code)
            if isinstance(code, str | int) and str(code).strip().casefold() in self.by_key:
                return self.by_key[str(code).strip().casefold()], ""
            if fields.name is None:
                return None, f"no {self.level} with code {code!r}"
        name = props.get(fields.name or "")
        if name is None:
            return None, f"no {fields.name!r} property"
        if not isinstance(name, str):
            return None, f"the {fields.name!r} property is not text ({type(name).__name__})"
        if not name.strip():
            return None, f"the {fields.name!r} property is empty"
        if any(unicodedata.category(c) == "Cc" for c in name):
            return None, f"the {fields.name!r} property holds control characters"
        candidates = self.by_name.get(normalise(name, self.level), [])
        if len(candidates) > 1 and fields.province is not None:
            stated = props.get(fields.province)
            province = self.province_of(stated) if isinstance(stated, str) else None
            candidates = [u for u in candidates if u.province == province]
        if not candidates:
            return None, f"no such {self.level}"
        if len(candidates) > 1:
            named = ", ".join(f"{u.key} ({u.province})" for u in candidates)
            hint = "" if fields.province else "; give --province-field"
            return None, f"ambiguous: {named}{hint}"
        return candidates[0], ""


def _label(props: Mapping[str, Any], fields: Fields) -> str:
    for name in (fields.name, fields.code):
        if name is not None and props.get(name) is not None:
            return str(props[name])
    return "?"


# The unit's boundary from a feature's geometry (checked and made 2D by checked_geometry),
# made by PostGIS: read as GeoJSON in WGS 84, flattened to 2D, repaired with ST_MakeValid
# only when invalid, kept to its polygons and stored as a MultiPolygon; not stored when no
# polygon is left or its coordinates cannot be lon/lat.
_STORE = {
    level: text(f"""
    WITH raw AS (
        SELECT ST_SetSRID(ST_Force2D(ST_GeomFromGeoJSON(:geometry)), 4326) AS g
    ), made AS (
        SELECT ST_IsValid(g) AS valid, ST_IsValidReason(g) AS reason,
               ST_XMin(g) >= -180 AND ST_XMax(g) <= 180 AND ST_YMin(g) >= -90
                   AND ST_YMax(g) <= 90 AS lonlat,
               ST_Multi(ST_CollectionExtract(
                   CASE WHEN ST_IsValid(g) THEN g ELSE ST_MakeValid(g) END, 3)) AS g
          FROM raw
    ), stored AS (
        UPDATE {table} u SET geom = made.g FROM made
         WHERE u.{key} = :key AND made.lonlat AND NOT ST_IsEmpty(made.g)
        RETURNING 1
    )
    SELECT valid, reason, lonlat, NOT ST_IsEmpty(g) AS polygonal,
           EXISTS (SELECT 1 FROM stored) AS stored
      FROM made
    """)  # noqa: S608 - table and key are the constants above; values are bound
    for level, table, key in (("province", "provinces", "code"), ("district", "districts", "slug"))
}
_WITHOUT = {
    "province": text("SELECT code FROM provinces WHERE geom IS NULL ORDER BY code"),
    "district": text("SELECT slug FROM districts WHERE geom IS NULL ORDER BY slug"),
}


async def load(
    session: AsyncSession,
    features: Sequence[Mapping[str, Any]],
    level: Level,
    fields: Fields,
    *,
    source: str = "",
    actor_key_id: int | None = None,
) -> Report:
    """Store the boundaries of the features that match a unit, in the caller's transaction
    (audited, and the data version's epoch moved when any is stored); refused features are
    reported with their reason and skipped. The caller commits, or rolls back to store
    nothing."""
    if fields.code is None and fields.name is None:
        raise ValueError("give a code field or a name field")
    provinces = await units(session, "province")
    candidates = provinces if level == "province" else await units(session, level)
    matcher = Matcher(level, candidates, provinces)
    report = Report(level)
    chosen: dict[str, list[Outcome]] = defaultdict(list)
    geometries: dict[int, Any] = {}
    for index, feature in enumerate(features):
        props = feature.get("properties") or {}
        props = props if isinstance(props, dict) else {}
        outcome = Outcome(index, _label(props, fields))
        report.outcomes.append(outcome)
        geometry = feature.get("geometry")
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in POLYGONS or not isinstance(geometry, dict):
            outcome.reason = f"not a polygon ({kind or 'no geometry'})"
            continue
        unit, why = matcher.match(props, fields)
        if unit is None:
            outcome.reason = why
            continue
        outcome.unit = unit.key
        flat, why = checked_geometry(geometry)
        if flat is None:
            outcome.reason = why
            continue
        chosen[unit.key].append(outcome)
        geometries[index] = flat
    for key, outcomes in chosen.items():
        if len(outcomes) > 1:
            others = ", ".join(str(o.index) for o in outcomes)
            for o in outcomes:
                o.reason = f"two features for one {level} ({key}: features {others})"
    for outcomes in chosen.values():
        o = outcomes[0]
        if o.reason is None:
            await _store(session, level, o, geometries[o.index])
    if report.loaded:
        loaded = {o.unit: o.index for o in report.loaded}
        await audit.record(
            session,
            actor_key_id,
            "boundaries.load",
            level,
            source[:200] or "-",
            loaded=loaded,
            refused=len(report.refused),
        )
        await move_epoch(session)
    report.without_boundary = list((await session.scalars(_WITHOUT[level])).all())
    return report


async def _store(session: AsyncSession, level: Level, outcome: Outcome, geometry: Any) -> None:
    """One feature's geometry as its unit's boundary; a geometry PostGIS cannot read (or that
    holds no polygon once repaired) is reported on the outcome and leaves nothing behind."""
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    _STORE[level], {"geometry": json.dumps(geometry), "key": outcome.unit}
                )
            ).one()
    except DBAPIError as exc:
        cause = pg_error(exc)
        if not isinstance(cause, GEOMETRY_ERRORS):
            raise  # not the geometry's fault: the caller's transaction fails as a whole
        message = str(cause).strip().splitlines()[0]
        outcome.reason = f"invalid geometry: {message}"
        return
    if not row.lonlat:
        outcome.reason = "invalid geometry: coordinates are not WGS 84 longitude/latitude"
    elif not row.polygonal:
        outcome.reason = "invalid geometry: no polygon left once repaired"
    elif not row.stored:  # cannot happen: the unit was read in this transaction
        outcome.reason = f"no such {level}"
    elif not row.valid:
        outcome.note = f"geometry repaired: {row.reason}"
