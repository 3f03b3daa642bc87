"""The collections of /ogc and their features, read on an asyncpg connection; PostgreSQL
builds every Feature's JSON text (incidents: the stored `feature` column), Python joins them.
Knows nothing of HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.core.errors import Invalid, Malformed, NotFound
from app.core.ids import parse_uuid
from app.geo.ogc.query import ItemsQuery, days
from app.incidents.filters import IncidentFilters, check_known, column_sql, positional
from app.incidents.listing import decode_cursor, encode_cursor, trim_page
from app.reference.names import Names

INCIDENTS = "incidents"


@dataclass(frozen=True)
class Layer:
    """A collection other than incidents: a small table, its features in `key` order."""

    id: str
    title: str
    description: str
    table: str
    key: str  # the feature id, and the order of pages
    properties: str  # json_build_object(...) over the row `t`
    where: str = "true"  # which rows are features
    shown_when: str | None = None  # SQL: listed only when this holds (boundaries loaded)
    # Read the extent at the head of the GiST index on geom rather than from every row. Not
    # for the boundaries: a few dozen rows, replaced whole by a load, where the index head
    # keeps the boxes of replaced polygons until a vacuum (a stale, wider extent).
    indexed: bool = False


LAYERS = {
    layer.id: layer
    for layer in (
        Layer(
            "crossings",
            "Border crossing points",
            "Pakistan–Afghanistan crossing points with their status today (a day without a "
            "status event is `open`). Feature id: the crossing's slug.",
            "crossing_points",
            "slug",
            "json_build_object('slug', t.slug, 'name', t.name, 'province', t.province_code, "
            "'district', t.district_slug, 'afghan_name', t.afghan_name, "
            "'afghan_province', t.afghan_province_code, "
            "'notified_for_trade', t.notified_for_trade, 'pedestrians', t.pedestrians, "
            "'status', coalesce((SELECT e.status FROM crossing_status_events e "
            "WHERE e.crossing_slug = t.slug AND e.valid_from <= {today} "
            "AND (e.valid_to IS NULL OR e.valid_to >= {today}) "
            "ORDER BY e.valid_from DESC, e.id DESC LIMIT 1), 'open'), 'notes', t.notes)",
        ),
        Layer(
            "provinces",
            "Provinces",
            "Provinces whose boundary is loaded. Feature id: the ISO 3166-2 code.",
            "provinces",
            "code",
            "json_build_object('code', t.code, 'name', t.name, 'country', t.country)",
            "t.geom IS NOT NULL",
            "EXISTS (SELECT 1 FROM provinces WHERE geom IS NOT NULL)",
        ),
        Layer(
            "districts",
            "Districts",
            "Districts whose boundary is loaded. Feature id: the district's slug.",
            "districts",
            "slug",
            "json_build_object('slug', t.slug, 'name', t.name, 'province', t.province_code, "
            "'is_merged', t.is_merged)",
            "t.geom IS NOT NULL",
            "EXISTS (SELECT 1 FROM districts WHERE geom IS NOT NULL)",
        ),
    )
}
TITLES = {INCIDENTS: "Incidents", **{k: v.title for k, v in LAYERS.items()}}
INCIDENTS_DESCRIPTION = (
    "Militant attacks and other incidents in Pakistan's border regions since 15 August 2021 "
    "(retracted and deleted ones left out). Feature id: the incident id; properties: the "
    "incident as GET /v1/incidents/{id} gives it, less its location."
)


@dataclass(frozen=True)
class Collection:
    """A collection's description: its extents (None when it has no features or no time)."""

    id: str
    title: str
    description: str
    bbox: tuple[float, float, float, float] | None
    interval: tuple[date, date] | None


# ---- collections ---------------------------------------------------------------------------

# The incidents' extents without reading them: the bounding box held at the head of their
# spatial index (a box around every row the index holds, so around every live one: deleted
# rows may keep it wider until a vacuum), and the first and last day the rollups count.
_INCIDENT_EXTENT = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e),
       (SELECT min(day) FROM fatality_daily WHERE category = '' AND incidents > 0),
       (SELECT max(day) FROM fatality_daily WHERE category = '' AND incidents > 0)
  FROM (SELECT ST_EstimatedExtent('incidents', 'geom') AS e) x
"""


def _layer_extent(layer: Layer) -> str:
    extent = (
        f"SELECT ST_EstimatedExtent('{layer.table}', 'geom')"
        if layer.indexed
        else f"SELECT ST_Extent(t.geom) FROM {layer.table} t WHERE {layer.where}"
    )
    shown = layer.shown_when or "true"
    return f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), {shown} FROM ({extent}) x(e)"


def _box(row: Any) -> tuple[float, float, float, float] | None:
    if row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


async def collections(conn: Any, only: str | None = None) -> list[Collection]:
    """Every collection served now (provinces and districts once a boundary is loaded), or
    the one named; no table is scanned for the incidents' extents."""
    out = []
    if only in (None, INCIDENTS):
        row = await conn.fetchrow(_INCIDENT_EXTENT)
        interval = (row[4], row[5]) if row[4] is not None else None
        out.append(
            Collection(INCIDENTS, TITLES[INCIDENTS], INCIDENTS_DESCRIPTION, _box(row), interval)
        )
    for layer in LAYERS.values():
        if only not in (None, layer.id):
            continue
        row = await conn.fetchrow(_layer_extent(layer))
        if row[4]:
            out.append(Collection(layer.id, layer.title, layer.description, _box(row), None))
    if only is not None and not out:
        raise NotFound(f"No collection {only!r}; see /ogc/collections.")
    return out


# ---- items ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Items:
    """One page of features: their JSON texts, how many match in all (first pages only), the
    next page's cursor."""

    features: list[str]
    matched: int | None
    next_cursor: str | None


# The count and the page in one statement, so from one snapshot; the count's row first.
_INCIDENT_ITEMS = (
    "SELECT {matched}::bigint, NULL::date, NULL::uuid, NULL::text UNION ALL ("
    "SELECT NULL::bigint, i.occurred_on, i.id, i.feature FROM incidents i WHERE {condition} "
    "ORDER BY i.occurred_on DESC, i.id LIMIT {limit})"
)


def _month_after(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


# No incident is this late (occurred_on is never after today): bounds beyond it change no
# count, and the month after one in December 9999 is not a date.
_LATEST = date(9999, 11, 30)


def _rollup_count(since: date | None, until: date | None, params: dict[str, Any]) -> str:
    """The live incidents of [since, until] as the rollups count them (whole months from
    the monthly rollup, the days at either end from the daily one): a few thousand rows at
    most, where a count(*) reads every incident."""
    if until is not None and until > _LATEST:
        until = None
    if since is not None and since > _LATEST:
        since = _LATEST
    first = since if since is None or since.day == 1 else _month_after(since)
    end = None
    if until is not None:
        end = _month_after(until) if (until + timedelta(days=1)).day == 1 else until.replace(day=1)
    parts = []
    monthly = "SELECT sum(incidents) FROM fatality_monthly WHERE category = ''"
    daily = "SELECT sum(incidents) FROM fatality_daily WHERE category = ''"
    if first is None or end is None or first < end:
        conditions = []
        if first is not None:
            params["r_first"] = first
            conditions.append("month >= :r_first")
        if end is not None:
            params["r_end"] = end
            conditions.append("month < :r_end")
        parts.append(" AND ".join([monthly, *conditions]))
        if since is not None and first is not None and since < first:
            params["r_since"] = since
            parts.append(f"{daily} AND day >= :r_since AND day < :r_first")
        if until is not None and end is not None and until >= end:
            params["r_until"] = until
            parts.append(f"{daily} AND day >= :r_end AND day <= :r_until")
    else:
        params["r_since"], params["r_until"] = since, until
        parts.append(f"{daily} AND day >= :r_since AND day <= :r_until")
    return " + ".join(f"coalesce(({p}), 0)" for p in parts)


def _envelope(box: tuple[float, float, float, float]) -> str:
    """The box written into the SQL text (checked floats within ±180/±90): each box gets a
    plan made for it. Bound as parameters, a prepared statement falls back after five runs to
    a generic plan made for no box in particular, which for a box around everything sorted
    every incident in it (20 ms became 60 ms at 20,000 incidents)."""
    x0, y0, x1, y1 = (repr(float(v)) for v in box)
    return f"ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326)"


def _matched(f: IncidentFilters, condition: str, params: dict[str, Any]) -> str:
    """numberMatched as SQL: from the rollups when the filters are days and a box around
    every incident (the whole layer, as a GIS client first asks), else count(*)."""
    count = f"(SELECT count(*) FROM incidents i WHERE {condition})"
    named = f.model_dump(exclude_defaults=True, include=set(IncidentFilters.model_fields))
    if not set(named) <= {"since", "until", "bbox"}:
        return count
    rollup = _rollup_count(f.since, f.until, params)
    if f.bbox is None:
        return f"({rollup})"
    # The box at the head of the spatial index holds every incident (_INCIDENT_EXTENT): a
    # box around it holds them all.
    covers = f"{_envelope(f.bbox)} ~ ST_EstimatedExtent('incidents', 'geom')"
    return f"(CASE WHEN {covers} THEN ({rollup}) ELSE {count} END)"


def _incident_position(secret: bytes, cursor: str, scope: str) -> tuple[date, uuid.UUID]:
    try:
        day, incident_id = decode_cursor(secret, cursor, scope)
        return date.fromisoformat(day), uuid.UUID(incident_id)
    except (ValueError, TypeError, AttributeError):
        raise Malformed("The cursor does not name a position in this collection.") from None


async def incident_items(
    conn: Any,
    names: Names,
    filters: IncidentFilters,
    limit: int,
    cursor: str | None,
    secret: bytes,
) -> Items:
    """A page of live incidents as Features in list order (newest day first, then id),
    after the cursor's position, with the number of all that match."""
    await check_known(conn, names, filters)
    scope = "ogc:" + filters.scope()
    params: dict[str, Any] = {}
    condition = column_sql(filters.model_copy(update={"bbox": None}), params, inline_codes=True)
    if filters.bbox is not None:
        condition += f" AND i.geom && {_envelope(filters.bbox)}"
    # numberMatched on the first page only: a page reached by `next` would count again what
    # the first one counted (2.3 s for half of 1,000,000 incidents, on every page of a walk).
    matched = _matched(filters, condition, params) if cursor is None else "NULL"
    if cursor is not None:
        params["c_day"], params["c_id"] = _incident_position(secret, cursor, scope)
        # An index range in list order from the cursor, however deep (app/incidents/listing.py).
        day, iid = "(SELECT :c_day::date)", "(SELECT :c_id::uuid)"
        condition += f" AND i.occurred_on <= {day} AND (i.occurred_on < {day} OR i.id > {iid})"
    # The limit written in too, for the same reason as the box; the cursor's position is
    # read through InitPlans, for which no plan is made (app/incidents/listing.py).
    page = _INCIDENT_ITEMS.format(matched=matched, condition=condition, limit=int(limit) + 1)
    sql, values = positional(page, params)
    rows = await conn.fetch(sql, *values)
    total = None if rows[0][0] is None else int(rows[0][0])
    found, next_cursor = trim_page(
        [r for r in rows[1:]],
        limit,
        lambda r: encode_cursor(secret, [r[1].isoformat(), str(r[2])], scope),
    )
    return Items([r[3] for r in found], total, next_cursor)


async def incident(conn: Any, feature_id: str) -> str:
    """One live incident's Feature; NotFound when there is none with this id."""
    iid = parse_uuid(feature_id)
    text = None
    if iid is not None:
        text = await conn.fetchval(
            "SELECT feature FROM incidents WHERE id = $1 AND deleted_at IS NULL "
            "AND status <> 'retracted'",
            iid,
        )
    if text is None:
        raise NotFound(f"No incident {feature_id!r} in this collection.")
    return str(text)


# Today as Borderwatch counts days (app/core/clock.py), for a crossing's status today.
TODAY_SQL = "(now() AT TIME ZONE 'Asia/Karachi')::date"


def _feature_sql(layer: Layer) -> str:
    properties = layer.properties.format(today=TODAY_SQL)
    return (
        f"json_build_object('type', 'Feature', 'id', t.{layer.key}, "
        f"'geometry', ST_AsGeoJSON(t.geom, 6)::json, 'properties', {properties})::text"
    )


def _layer(collection_id: str) -> Layer:
    layer = LAYERS.get(collection_id)
    if layer is None:
        raise NotFound(f"No collection {collection_id!r}; see /ogc/collections.")
    return layer


async def layer_items(conn: Any, collection_id: str, q: ItemsQuery, secret: bytes) -> Items:
    """A page of a small collection's features in id order, after the cursor's id."""
    layer = _layer(collection_id)
    if q.datetime_ is not None:
        days(q.datetime_)  # a malformed value is named before the missing time
        raise Invalid(
            [{"field": "datetime", "message": f"{collection_id} have no time to filter on"}]
        )
    scope = f"ogc:{layer.id}:{q.bbox}"
    args: list[Any] = []
    where = layer.where
    if q.bbox is not None:
        args += list(q.bbox)
        where += " AND t.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)"
    matched = "NULL" if q.cursor else f"(SELECT count(*) FROM {layer.table} t WHERE {where})"
    if q.cursor is not None:
        (after,) = decode_cursor(secret, q.cursor, scope) or [None]
        if not isinstance(after, str):
            raise Malformed("The cursor does not name a position in this collection.")
        args.append(after)
        where += f" AND t.{layer.key} > ${len(args)}"
    args.append(q.limit + 1)
    sql = (
        f"SELECT {matched}::bigint, NULL::text, NULL::text UNION ALL (SELECT NULL, t.{layer.key}, "
        f"{_feature_sql(layer)} FROM {layer.table} t WHERE {where} "
        f"ORDER BY t.{layer.key} LIMIT ${len(args)})"
    )
    rows = await conn.fetch(sql, *args)
    found, next_cursor = trim_page(
        list(rows[1:]), q.limit, lambda r: encode_cursor(secret, [r[1]], scope)
    )
    total = None if rows[0][0] is None else int(rows[0][0])
    return Items([r[2] for r in found], total, next_cursor)


async def layer_item(conn: Any, collection_id: str, feature_id: str) -> str:
    """One feature of a small collection; NotFound when there is none with this id."""
    layer = _layer(collection_id)
    if "\x00" in feature_id:  # no key holds one, and PostgreSQL's text cannot
        raise NotFound(f"No feature {feature_id!r} in {collection_id}.")
    text = await conn.fetchval(
        f"SELECT {_feature_sql(layer)} FROM {layer.table} t "
        f"WHERE {layer.where} AND t.{layer.key} = $1",
        feature_id,
    )
    if text is None:
        raise NotFound(f"No feature {feature_id!r} in {collection_id}.")
    return str(text)
