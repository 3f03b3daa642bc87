"""Filtered, keyset-paginated reads of incidents (lists; the same filters serve exports).

Order: occurred_on descending, then id ascending. A cursor names the last row of a page and
is signed (HMAC-SHA256), so a forged or altered one is refused instead of trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import TextClause, text

from app.core.errors import Problem, validation_problem
from app.reference.service import NO_REFERENCES, References, load_references
from app.reference.vocab import VOCABULARIES

MAX_RADIUS_KM = 300.0
FILTER_NAMES = (
    "since",
    "until",
    "province",
    "district",
    "perpetrator",
    "attack_type",
    "target_type",
    "kind",
    "status",
    "category",
    "min_killed",
    "bbox",
    "near",
    "crossing",
    "radius_km",
    "updated_since",
    "q",
)
LISTED_STATUSES = ("reported", "verified", "disputed")  # retracted never listed


@dataclass(frozen=True)
class Filters:
    """Validated list/export filters of SPEC "Endpoints"."""

    since: date | None = None
    until: date | None = None
    province: tuple[str, ...] = ()
    district: tuple[str, ...] = ()
    perpetrator: tuple[str, ...] = ()
    attack_type: tuple[str, ...] = ()
    target_type: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    min_killed: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    near: tuple[float, float] | None = None
    crossing: str | None = None
    radius_km: float = 25.0
    updated_since: datetime | None = None
    q: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list, compare=False)


def _floats(name: str, value: str, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != count or not all(abs(n) < 1e6 for n in numbers):
        return None
    return numbers


async def references_for(raw: dict[str, str | None], session: Any) -> References:
    """The reference codes to check the filters against, loaded only when a filter names
    a province, district, group or crossing (most list requests need none)."""
    if any(raw.get(name) for name in ("province", "district", "perpetrator", "crossing")):
        return await load_references(session)
    return NO_REFERENCES


Filter = Annotated[str | None, Query(max_length=2000)]


def documented_filters(
    since: Filter = None,
    until: Filter = None,
    province: Filter = None,
    district: Filter = None,
    perpetrator: Filter = None,
    attack_type: Filter = None,
    target_type: Filter = None,
    kind: Filter = None,
    status: Filter = None,
    category: Filter = None,
    min_killed: Filter = None,
    bbox: Filter = None,
    near: Filter = None,
    crossing: Filter = None,
    radius_km: Filter = None,
    updated_since: Filter = None,
    q: Filter = None,
) -> None:
    """The filters of lists and exports, declared once for OpenAPI (and their length
    bound); their values are read with raw_filters, where repeated parameters add up."""


def raw_filters(query: Any) -> dict[str, str | None]:
    """The filter parameters of a request's query; a repeated one adds up, as commas do
    (`?province=PK-KP&province=PK-BA`), and a repeated single-valued one fails its check."""
    return {name: ",".join(query.getlist(name)) or None for name in FILTER_NAMES}


def parse_filters(raw: dict[str, str | None], refs: References) -> Filters:
    """Check every filter; one 422 naming each bad one."""
    errors: list[dict[str, str]] = []

    def multi(name: str, allowed: Collection[str]) -> tuple[str, ...]:
        value = raw.get(name)
        if not value:
            return ()
        values = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
        errors.extend(
            {"field": name, "message": f"unknown value {v!r}"} for v in values if v not in allowed
        )
        return values

    def day(name: str) -> date | None:
        value = raw.get(name)
        if not value:
            return None
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            errors.append({"field": name, "message": "must be a date YYYY-MM-DD"})
            return None

    bbox = near = None
    if raw.get("bbox"):
        found = _floats("bbox", raw["bbox"] or "", 4)
        if found is None or not (found[0] <= found[2] and found[1] <= found[3]):
            errors.append({"field": "bbox", "message": "must be minLon,minLat,maxLon,maxLat"})
        else:
            bbox = (found[0], found[1], found[2], found[3])
    if raw.get("near"):
        found = _floats("near", raw["near"] or "", 2)
        if found is None or not (-180 <= found[0] <= 180 and -90 <= found[1] <= 90):
            errors.append({"field": "near", "message": "must be lon,lat"})
        else:
            near = (found[0], found[1])
    radius = 25.0
    if raw.get("radius_km"):
        try:
            radius = float(raw["radius_km"] or "")
            if not 0 < radius <= MAX_RADIUS_KM:
                raise ValueError
        except ValueError:
            errors.append(
                {
                    "field": "radius_km",
                    "message": f"must be a number above 0 and at most {MAX_RADIUS_KM:g}",
                }
            )
    crossing = raw.get("crossing") or None
    if crossing is not None and crossing not in refs.crossings:
        errors.append({"field": "crossing", "message": f"unknown crossing {crossing!r}"})
    if near is not None and crossing is not None:
        errors.append({"field": "near", "message": "use near or crossing, not both"})
    min_killed = None
    if raw.get("min_killed"):
        value = raw["min_killed"] or ""
        if value.isdigit() and int(value) <= 50_000:
            min_killed = int(value)
        else:
            errors.append({"field": "min_killed", "message": "must be an integer 0–50000"})
    updated_since = None
    if raw.get("updated_since"):
        try:
            updated_since = datetime.fromisoformat(raw["updated_since"] or "")
            if updated_since.tzinfo is None:
                raise ValueError
        except ValueError:
            errors.append(
                {
                    "field": "updated_since",
                    "message": "must be an ISO 8601 time with offset, e.g. 2024-01-01T00:00:00Z",
                }
            )
    q = raw.get("q") or None
    if q is not None and ("\x00" in q or len(q) > 200):
        errors.append({"field": "q", "message": "must be at most 200 characters, no NUL"})
    filters = Filters(
        since=day("since"),
        until=day("until"),
        province=multi("province", refs.provinces),
        district=multi("district", refs.districts),
        perpetrator=multi("perpetrator", refs.actors),
        attack_type=multi("attack_type", VOCABULARIES["attack_type"]),
        target_type=multi("target_type", VOCABULARIES["target_type"]),
        kind=multi("kind", VOCABULARIES["kind"]),
        status=multi("status", LISTED_STATUSES),
        category=multi("category", VOCABULARIES["casualty_category"]),
        min_killed=min_killed,
        bbox=bbox,
        near=near,
        crossing=crossing,
        radius_km=radius,
        updated_since=updated_since,
        q=q,
    )
    if filters.since and filters.until and filters.until < filters.since:
        errors.append({"field": "until", "message": "must not be before since"})
    if errors:
        raise validation_problem(errors)
    return filters


def where(f: Filters, params: dict[str, Any]) -> str:
    """The SQL condition on `incidents i` for the filters, binding values into params."""
    clauses = ["i.deleted_at IS NULL", "i.status <> 'retracted'"]

    def any_of(column: str, name: str, values: tuple[str, ...]) -> None:
        if values:
            params[name] = list(values)
            clauses.append(f"{column} = ANY(:{name})")

    if f.since:
        params["since"] = f.since
        clauses.append("i.occurred_on >= :since")
    if f.until:
        params["until"] = f.until
        clauses.append("i.occurred_on <= :until")
    any_of("i.province_code", "province", f.province)
    any_of("i.district_slug", "district", f.district)
    any_of("i.perpetrator_slug", "perpetrator", f.perpetrator)
    any_of("i.attack_type", "attack_type", f.attack_type)
    any_of("i.target_type", "target_type", f.target_type)
    any_of("i.kind", "kind", f.kind)
    any_of("i.status", "status", f.status)
    if f.category:
        params["category"] = list(f.category)
        clauses.append(
            "EXISTS (SELECT 1 FROM casualties c WHERE c.incident_id = i.id"
            " AND c.category = ANY(:category))"
        )
    if f.min_killed is not None:
        params["min_killed"] = f.min_killed
        clauses.append("i.killed_total >= :min_killed")
    if f.bbox:
        params.update(zip(("bx0", "by0", "bx1", "by1"), f.bbox, strict=True))
        clauses.append("i.geom && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)")
    if f.near or f.crossing:
        params["radius_m"] = f.radius_km * 1000
        clauses.append(f"ST_DWithin(i.geom::geography, {origin(f, params)}, :radius_m)")
    if f.updated_since:
        params["updated_since"] = f.updated_since
        clauses.append("i.updated_at >= :updated_since")
    if f.q:
        params["q"] = "%" + re.sub(r"([\\%_])", r"\\\1", f.q) + "%"
        clauses.append("(i.place_name ILIKE :q OR i.description ILIKE :q)")
    return " AND ".join(clauses)


def origin(f: Filters, params: dict[str, Any]) -> str:
    """The geography point that near/crossing measure from."""
    if f.crossing:
        params["crossing"] = f.crossing
        return "(SELECT geom::geography FROM crossing_points WHERE slug = :crossing)"
    assert f.near is not None
    params["near_lon"], params["near_lat"] = f.near
    return "ST_SetSRID(ST_MakePoint(:near_lon, :near_lat), 4326)::geography"


def _key(secret: bytes) -> bytes:
    return hashlib.sha256(b"borderwatch-cursor\x00" + secret).digest()


def encode_cursor(secret: bytes, occurred_on: date, incident_id: uuid.UUID, scope: str) -> str:
    """An opaque cursor after (occurred_on, id), bound to the filters it was made for."""
    payload = json.dumps(
        [occurred_on.isoformat(), str(incident_id), scope], separators=(",", ":")
    ).encode()
    mac = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


def decode_cursor(secret: bytes, cursor: str, scope: str) -> tuple[date, uuid.UUID]:
    """The position a cursor names; 400 for one that was forged, altered or made for
    other filters."""
    bad = Problem(
        400,
        "The cursor is not one this API made for these filters; start again without it.",
        type_="bad-request",
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload, mac = raw[:-16], raw[-16:]
        expected = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:16]
        if len(raw) <= 16 or not hmac.compare_digest(mac, expected):
            raise bad
        day, incident_id, made_for = json.loads(payload)
        if made_for != scope:
            raise bad
        return date.fromisoformat(day), uuid.UUID(incident_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise bad from None


def scope_of(f: Filters) -> str:
    """A short digest of the filters, so a cursor cannot be replayed on another list."""
    return hashlib.sha256(repr(f).encode()).hexdigest()[:16]


def page_query(
    f: Filters, params: dict[str, Any], after: tuple[date, uuid.UUID] | None
) -> TextClause:
    """One page in list order, after a cursor's position when given (binds into params;
    `limit` is the caller's)."""
    condition = where(f, params)
    if after is not None:
        params["c_day"], params["c_id"] = after
        # The first conjunct is an index range: the scan starts at the cursor, however deep.
        condition += " AND i.occurred_on <= :c_day AND (i.occurred_on < :c_day OR i.id > :c_id)"
    return text(
        f"SELECT i.occurred_on, i.id, incident_document(i)::text AS doc "
        f"FROM incidents i WHERE {condition} "
        f"ORDER BY i.occurred_on DESC, i.id LIMIT :limit"
    )
