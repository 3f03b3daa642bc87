"""The filters of incident lists, exports and a crossing's incidents, declared once.

`IncidentFilters` is a FastAPI query-parameter model: its fields are the OpenAPI
parameters and their validation; `check()` adds the rules that need the reference tables;
`column_sql()` turns it into SQL over the columns of `incidents` (lists, current exports)
and `document_sql()` into SQL over an incident's jsonb document (exports at a version).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Invalid
from app.core.params import BIGINT_MAX, Codes, IsoDate, UtcTime, split_codes, unknown_codes
from app.reference.names import Names
from app.reference.service import NO_REFERENCES, References, load_references
from app.reference.vocab import AttackType, CasualtyCategory, Kind, TargetType, live_statuses

MAX_RADIUS_KM = 300.0
# 100 m: below it a radius is a typo or a probe (1e-320 km), not a place; every radius
# parameter (lists, a crossing's incidents, crossing statistics) shares the bounds.
MIN_RADIUS_KM = 0.1


def _numbers(count: int, what: str) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]  # FastAPI reads a tuple parameter as a list of its repeats
        if isinstance(value, list):
            raise ValueError(f"must be given once, as {what}")
        if not isinstance(value, str):
            return value
        try:
            numbers = tuple(float(v) for v in value.split(","))
        except ValueError:
            numbers = ()
        if len(numbers) != count or not all(abs(n) < 1e6 for n in numbers):
            raise ValueError(f"must be {what}")
        return numbers

    return BeforeValidator(parse)


def _bbox(value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if not (value[0] <= value[2] and value[1] <= value[3]):
        raise ValueError("must be minLon,minLat,maxLon,maxLat with min ≤ max")
    return value


def _lon_lat(value: tuple[float, float]) -> tuple[float, float]:
    if not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
        raise ValueError("must be lon,lat within -180..180, -90..90")
    return value


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Bbox = Annotated[
    tuple[float, float, float, float],
    _numbers(4, "minLon,minLat,maxLon,maxLat"),
    AfterValidator(_bbox),
]
LonLat = Annotated[tuple[float, float], _numbers(2, "lon,lat"), AfterValidator(_lon_lat)]
ListedStatuses = Annotated[list[str], BeforeValidator(split_codes), AfterValidator(live_statuses)]
Slug = Annotated[str, Field(max_length=80)]


Origin = tuple[Literal["crossing"], str] | tuple[Literal["near"], tuple[float, float]]


class CommonFilters(BaseModel):
    """Filters of SPEC "Endpoints" that every incident list takes: multi-valued ones take
    comma-separated values, and a repeated parameter adds up
    (`?province=PK-KP&province=PK-BA`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: IsoDate | None = Field(None, description="First day, inclusive (YYYY-MM-DD)")
    until: IsoDate | None = Field(None, description="Last day, inclusive (YYYY-MM-DD)")
    province: Codes = Field([], description="Province codes, e.g. `PK-KP,PK-BA`")
    district: Codes = Field([], description="District slugs, e.g. `north-waziristan`")
    perpetrator: Codes = Field([], description="Group slugs (see /v1/groups)")
    attack_type: Annotated[list[AttackType], BeforeValidator(split_codes)] = []
    target_type: Annotated[list[TargetType], BeforeValidator(split_codes)] = []
    kind: Annotated[list[Kind], BeforeValidator(split_codes)] = []
    status: ListedStatuses = Field([], description="reported, verified, disputed")
    category: Annotated[list[CasualtyCategory], BeforeValidator(split_codes)] = Field(
        [], description="Incidents with casualties of one of these categories"
    )
    min_killed: int | None = Field(None, ge=0, le=50_000, description="At least this many killed")
    bbox: Bbox | None = Field(None, description="minLon,minLat,maxLon,maxLat")
    radius_km: float = Field(
        25.0,
        ge=MIN_RADIUS_KM,
        le=MAX_RADIUS_KM,
        description=f"Radius around a point, km ({MIN_RADIUS_KM:g} to {MAX_RADIUS_KM:g})",
    )
    updated_since: UtcTime | None = Field(
        None, description="Changed at or after this time, with offset: 2024-01-01T00:00:00Z"
    )
    q: Annotated[str, AfterValidator(_text)] | None = Field(
        None, max_length=200, description="Text in place name or description"
    )

    def references_needed(self) -> bool:
        """Whether checking this needs the reference tables (most lists need none)."""
        return bool(self.province or self.district or self.perpetrator)

    def errors(self, refs: References) -> list[dict[str, str]]:
        """Rules that span fields or need the reference tables, each naming its field."""
        errors = unknown_codes("province", self.province, refs.provinces)
        errors += unknown_codes("district", self.district, refs.districts)
        errors += unknown_codes("perpetrator", self.perpetrator, refs.actors)
        if self.since and self.until and self.until < self.since:
            errors.append({"field": "until", "message": "must not be before since"})
        return errors

    def origin(self) -> Origin | None:
        """The point `radius_km` is measured from, if the filters name one."""
        return None

    def scope(self) -> str:
        """A short digest of the filters, so a cursor cannot be replayed on another list."""
        fields = self.model_dump(include=set(IncidentFilters.model_fields))
        return hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:16]


class IncidentFilters(CommonFilters):
    """The filters of lists and exports: the common ones, and a point to measure from."""

    near: LonLat | None = Field(None, description="lon,lat; with radius_km")
    crossing: Slug | None = Field(None, description="Near a crossing point; with radius_km")

    def references_needed(self) -> bool:
        """Whether checking this needs the reference tables (most lists need none)."""
        return super().references_needed() or self.crossing is not None

    def errors(self, refs: References) -> list[dict[str, str]]:
        """Rules that span fields or need the reference tables, each naming its field."""
        errors = super().errors(refs)
        if self.crossing is not None and self.crossing not in refs.crossings:
            errors.append({"field": "crossing", "message": f"unknown crossing {self.crossing!r}"})
        if self.near is not None and self.crossing is not None:
            errors.append({"field": "near", "message": "use near or crossing, not both"})
        return errors

    def origin(self) -> Origin | None:
        """The crossing or the point `radius_km` is measured from."""
        if self.crossing is not None:
            return ("crossing", self.crossing)
        if self.near is not None:
            return ("near", self.near)
        return None


async def check(session: AsyncSession, filters: CommonFilters) -> None:
    """Invalid naming every filter that breaks a rule."""
    refs = await load_references(session) if filters.references_needed() else NO_REFERENCES
    errors = filters.errors(refs)
    if errors:
        raise Invalid(errors)


def named_codes(filters: CommonFilters) -> dict[str, set[str]]:
    """The reference codes the filters name, by kind (as app/reference/names.py keeps them)."""
    wanted = {k: set(getattr(filters, k)) for k in ("province", "district", "perpetrator")}
    if isinstance(filters, IncidentFilters) and filters.crossing is not None:
        wanted["crossing"] = {filters.crossing}
    return wanted


async def check_known(conn: Any, names: Names, filters: CommonFilters) -> None:
    """check() against the process's copy of the reference codes (an asyncpg connection
    reads it again when a filter names a code it does not hold): no query per request."""
    refs = NO_REFERENCES
    if filters.references_needed():
        await names.current(conn, named_codes(filters))
        refs = names.references
    errors = filters.errors(refs)
    if errors:
        raise Invalid(errors)


class ListQuery(IncidentFilters):
    """The query of `GET /v1/incidents`."""

    limit: int = Field(50, ge=1, le=500, description="Page size (1–500)")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the last page")
    format: Literal["json", "geojson"] = "json"


class ExportQuery(IncidentFilters):
    """The query of `GET /v1/exports/incidents`."""

    format: Literal["ndjson", "json", "geojson", "csv"] = "ndjson"
    version: int | None = Field(
        None, ge=0, le=BIGINT_MAX, description="Reproduce the data as of this X-Data-Version"
    )


# ---- SQL ----------------------------------------------------------------------------------

# Each code-list filter: its column on `incidents`, and its member in an incident document.
CODE_FILTERS = {
    "province": ("province_code", "province"),
    "district": ("district_slug", "district"),
    "perpetrator": ("perpetrator_slug", "perpetrator"),
    "attack_type": ("attack_type", "attack_type"),
    "target_type": ("target_type", "target_type"),
    "kind": ("kind", "kind"),
    "status": ("status", "status"),
}


def _like(q: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", q) + "%"


_PLAIN_CODE = re.compile(r"[A-Za-z0-9_-]{1,80}")


def _codes(
    column: str, name: str, values: Sequence[str], params: dict[str, Any], inline: bool
) -> str:
    """A code filter on `column`: its values bound as `:name`, or written out when `inline`
    and every code is a plain slug (nothing to quote or escape). One code written out is an
    equality: a B-tree index led by the column then gives that code's rows in the order of
    its next columns (`= ANY(ARRAY[…])` does not, in PostgreSQL 15), so a list filtered on a
    rare district reads its page from the (district_slug, occurred_on) index, each day's rows
    sorted by id, instead of thousands of rows of the list order (4,000 pages read for 51
    rows at 1M incidents)."""
    if inline and all(_PLAIN_CODE.fullmatch(v) for v in values):
        if len(values) == 1:
            return f"{column} = '{values[0]}'"
        return f"{column} = ANY(ARRAY[" + ",".join(f"'{v}'" for v in values) + "]::text[])"
    params[name] = list(values)
    return f"{column} = ANY(:{name})"


def column_sql(f: CommonFilters, params: dict[str, Any], inline_codes: bool = False) -> str:
    """The condition on `incidents i` for the filters (live incidents only), binding values
    into params. With `inline_codes`, the code filters' values (already checked: known codes
    and vocabularies) are written into the text instead, so that PostgreSQL can keep one
    plan per text that is right for those very codes (app/incidents/listing.py)."""
    clauses = ["i.deleted_at IS NULL", "i.status <> 'retracted'"]
    if f.since:
        params["since"] = f.since
        clauses.append("i.occurred_on >= :since")
    if f.until:
        params["until"] = f.until
        clauses.append("i.occurred_on <= :until")
    for name, (column, _) in CODE_FILTERS.items():
        if values := getattr(f, name):
            clauses.append(_codes(f"i.{column}", name, values, params, inline_codes))
    if f.category:
        category = _codes("c.category", "category", f.category, params, inline_codes)
        clauses.append(
            f"EXISTS (SELECT 1 FROM casualties c WHERE c.incident_id = i.id AND {category})"
        )
    clauses += _column_extras(f, params)
    return " AND ".join(clauses)


def _column_extras(f: CommonFilters, params: dict[str, Any]) -> list[str]:
    clauses = []
    if f.min_killed is not None:
        params["min_killed"] = f.min_killed
        clauses.append("i.killed_total >= :min_killed")
    if f.bbox:
        params.update(zip(("bx0", "by0", "bx1", "by1"), f.bbox, strict=True))
        clauses.append("i.geom && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)")
    match f.origin():
        case ("crossing", str(slug)):
            params["crossing"] = slug
            origin = "(SELECT geom::geography FROM crossing_points WHERE slug = :crossing)"
        case ("near", (float(lon), float(lat))):
            params["near_lon"], params["near_lat"] = lon, lat
            origin = "ST_SetSRID(ST_MakePoint(:near_lon, :near_lat), 4326)::geography"
        case _:
            origin = ""
    if origin:
        params["radius_m"] = f.radius_km * 1000
        clauses.append(f"ST_DWithin(i.geom::geography, {origin}, :radius_m)")
    if f.updated_since:
        params["updated_since"] = f.updated_since
        clauses.append("i.updated_at >= :updated_since")
    if f.q:
        params["q"] = _like(f.q)
        clauses.append("(i.place_name ILIKE :q OR i.description ILIKE :q)")
    return clauses


_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_POSITIONAL: dict[str, tuple[str, tuple[str, ...]]] = {}


def positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """column_sql()'s `:name` placeholders as asyncpg's `$n`, and the values in that order.
    The text depends only on the filters' shape, so each shape is converted once."""
    converted = _POSITIONAL.get(sql)
    if converted is None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        converted = (_NAMED.sub(number, sql), tuple(names))
        if len(_POSITIONAL) < 4096:  # shapes are few; never grow without bound
            _POSITIONAL[sql] = converted
    text, order = converted
    return text, [params[name] for name in order]


class Args:
    """Positional parameters for asyncpg ($1, $2 …) in the order they are added."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def add(self, value: Any, cast: str) -> str:
        """Bind a value; its placeholder with an explicit type."""
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


def _point(doc: str) -> str:
    return (
        f"ST_SetSRID(ST_MakePoint(({doc}->'location'->'coordinates'->>0)::float8, "
        f"({doc}->'location'->'coordinates'->>1)::float8), 4326)"
    )


def document_sql(f: CommonFilters, args: Args, d: str = "d") -> str:
    """The filters as conditions on an incident document `d` (jsonb), for exports at an
    earlier version, whose incidents exist only as revision documents."""
    out = ["true"]
    if f.since:
        out.append(f"({d}->>'occurred_on')::date >= {args.add(f.since, 'date')}")
    if f.until:
        out.append(f"({d}->>'occurred_on')::date <= {args.add(f.until, 'date')}")
    for name, (_, member) in CODE_FILTERS.items():
        if values := getattr(f, name):
            out.append(f"{d}->>'{member}' = ANY({args.add(list(values), 'text[]')})")
    if f.category:
        out.append(
            f"EXISTS (SELECT 1 FROM jsonb_array_elements({d}->'casualties') c "
            f"WHERE c->>'category' = ANY({args.add(list(f.category), 'text[]')}))"
        )
    out += _document_extras(f, args, d)
    return " AND ".join(out)


def _document_extras(f: CommonFilters, args: Args, d: str) -> list[str]:
    out = []
    if f.min_killed is not None:
        out.append(f"({d}->>'killed_total')::int >= {args.add(f.min_killed, 'int')}")
    if f.bbox:
        x0, y0, x1, y1 = (args.add(v, "float8") for v in f.bbox)
        out.append(f"{_point(d)} && ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326)")
    match f.origin():
        case ("crossing", str(slug)):
            origin = (
                "(SELECT geom::geography FROM crossing_points WHERE slug = "
                f"{args.add(slug, 'text')})"
            )
        case ("near", (float(lon), float(lat))):
            x, y = args.add(lon, "float8"), args.add(lat, "float8")
            origin = f"ST_SetSRID(ST_MakePoint({x}, {y}), 4326)::geography"
        case _:
            origin = ""
    if origin:
        radius = args.add(f.radius_km * 1000, "float8")
        out.append(f"ST_DWithin({_point(d)}::geography, {origin}, {radius})")
    if f.updated_since:
        out.append(
            f"({d}->>'updated_at')::timestamptz >= {args.add(f.updated_since, 'timestamptz')}"
        )
    if f.q:
        pattern = args.add(_like(f.q), "text")
        out.append(f"({d}->>'place_name' ILIKE {pattern} OR {d}->>'description' ILIKE {pattern})")
    return out
