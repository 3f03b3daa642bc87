"""Exports streamed by PostgreSQL's own COPY, in one snapshot, at the current data version or
at any earlier one rebuilt from the revision history.

Both the current and a past export read the same thing: each incident's document as jsonb
(incident_document() now, or the revision's stored snapshot then) filtered by the same
expressions over it and ordered by id, so an export taken at version N and one asked later
with version=N are byte for byte the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.incidents.listing import Filters
from app.reference.vocab import VOCABULARIES

CATEGORIES: tuple[str, ...] = VOCABULARIES["casualty_category"]
CHUNK_QUEUE = 8  # chunks held between PostgreSQL and the client: memory stays constant
EXPORT_TIMEOUT_S = 6 * 3600  # an export may take long; a client that leaves ends it at once

_LIVE = """
    SELECT i.id, incident_document(i)::jsonb AS d
      FROM incidents i
     WHERE i.deleted_at IS NULL AND i.status <> 'retracted'
"""
# The state as of version $1: each incident's last revision at or before it.
_AT_VERSION = """
    SELECT id, d FROM (
        SELECT DISTINCT ON (r.incident_id) r.incident_id AS id, r.after AS d, r.op
          FROM incident_revisions r
         WHERE r.seq <= $1::bigint
         ORDER BY r.incident_id, r.version DESC
    ) AS last
     WHERE last.op <> 'deleted' AND last.d->>'status' <> 'retracted'
"""


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


def doc_where(f: Filters, args: Args, d: str = "d") -> str:
    """The filters as conditions on an incident document `d` (jsonb)."""
    out = ["true"]

    def any_of(field: str, values: tuple[str, ...]) -> None:
        if values:
            out.append(f"{d}->>'{field}' = ANY({args.add(list(values), 'text[]')})")

    if f.since:
        out.append(f"({d}->>'occurred_on')::date >= {args.add(f.since, 'date')}")
    if f.until:
        out.append(f"({d}->>'occurred_on')::date <= {args.add(f.until, 'date')}")
    any_of("province", f.province)
    any_of("district", f.district)
    any_of("perpetrator", f.perpetrator)
    any_of("attack_type", f.attack_type)
    any_of("target_type", f.target_type)
    any_of("kind", f.kind)
    any_of("status", f.status)
    if f.category:
        out.append(
            f"EXISTS (SELECT 1 FROM jsonb_array_elements({d}->'casualties') c "
            f"WHERE c->>'category' = ANY({args.add(list(f.category), 'text[]')}))"
        )
    if f.min_killed is not None:
        out.append(f"({d}->>'killed_total')::int >= {args.add(f.min_killed, 'int')}")
    if f.bbox:
        x0, y0, x1, y1 = (args.add(v, "float8") for v in f.bbox)
        out.append(f"{_point(d)} && ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326)")
    if f.near or f.crossing:
        if f.crossing:
            origin = (
                f"(SELECT geom::geography FROM crossing_points WHERE slug = "
                f"{args.add(f.crossing, 'text')})"
            )
        else:
            assert f.near is not None
            origin = (
                f"ST_SetSRID(ST_MakePoint({args.add(f.near[0], 'float8')}, "
                f"{args.add(f.near[1], 'float8')}), 4326)::geography"
            )
        out.append(
            f"ST_DWithin({_point(d)}::geography, {origin}, "
            f"{args.add(f.radius_km * 1000, 'float8')})"
        )
    if f.updated_since:
        out.append(
            f"({d}->>'updated_at')::timestamptz >= {args.add(f.updated_since, 'timestamptz')}"
        )
    if f.q:
        pattern = args.add("%" + re.sub(r"([\\%_])", r"\\\1", f.q) + "%", "text")
        out.append(f"({d}->>'place_name' ILIKE {pattern} OR {d}->>'description' ILIKE {pattern})")
    return " AND ".join(out)


def _csv_columns(d: str = "d") -> list[tuple[str, str]]:
    cols = [
        (name, f"{d}->>'{name}'")
        for name in (
            "id",
            "occurred_on",
            "date_precision",
            "geo_precision",
            "place_name",
            "province",
            "district",
            "kind",
            "attack_type",
            "target_type",
            "perpetrator",
            "attribution",
        )
    ]
    cols += [
        ("lon", f"{d}->'location'->'coordinates'->>0"),
        ("lat", f"{d}->'location'->'coordinates'->>1"),
    ]
    for category in CATEGORIES:
        for measure in ("killed", "injured"):
            cols.append(
                (
                    f"{measure}_{category}",
                    f"coalesce((SELECT (c->>'{measure}')::int FROM "
                    f"jsonb_array_elements({d}->'casualties') c "
                    f"WHERE c->>'category' = '{category}'), 0)",
                )
            )
    cols += [
        ("killed_total", f"{d}->>'killed_total'"),
        ("injured_total", f"{d}->>'injured_total'"),
        ("fatality_low", f"{d}->'fatality_range'->>'low'"),
        ("fatality_high", f"{d}->'fatality_range'->>'high'"),
        ("crossing", f"{d}->>'crossing'"),
        ("status", f"{d}->>'status'"),
        ("tags", f"(SELECT string_agg(t, ';') FROM jsonb_array_elements_text({d}->'tags') t)"),
        (
            "source_urls",
            f"(SELECT string_agg(s->>'url', ' ') FROM jsonb_array_elements({d}->'sources') s)",
        ),
        ("description", f"{d}->>'description'"),
        ("is_synthetic", f"{d}->>'is_synthetic'"),
        ("version", f"{d}->>'version'"),
        ("created_at", f"{d}->>'created_at'"),
        ("updated_at", f"{d}->>'updated_at'"),
    ]
    return cols


CSV_HEADER = [name for name, _ in _csv_columns()]

MEDIA = {
    "ndjson": "application/x-ndjson",
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
}
EXTENSION = {"ndjson": "ndjson", "json": "json", "geojson": "geojson", "csv": "csv"}
# Around the rows of json and geojson exports (the rows carry their own separators).
ENVELOPE = {
    "json": (b"[\n", b"]\n"),
    "geojson": (b'{"type":"FeatureCollection","features":[\n', b"]}\n"),
}


@dataclass(frozen=True)
class Export:
    """The COPY statement's query and arguments, and how its output is framed."""

    query: str
    args: list[Any]
    format: str

    @property
    def copy_options(self) -> dict[str, Any]:
        """COPY options: real CSV for csv; for JSON lines, CSV with a quote and delimiter
        that JSON text never holds raw, so PostgreSQL writes each line as it is."""
        if self.format == "csv":
            return {"format": "csv", "header": True}
        return {"format": "csv", "quote": "\x01", "delimiter": "\x02"}


def build(f: Filters, fmt: str, version: int | None) -> Export:
    """The export of the filtered incidents in a format, now or at a version."""
    args = Args(version) if version is not None else Args()
    source = _AT_VERSION if version is not None else _LIVE
    rows = f"SELECT id, d FROM ({source}) AS s WHERE {doc_where(f, args)} ORDER BY id"
    if fmt == "csv":
        columns = ", ".join(f'{expr} AS "{name}"' for name, expr in _csv_columns())
        return Export(f"SELECT {columns} FROM ({rows}) AS picked", args.values, fmt)
    if fmt == "geojson":
        line = (
            "jsonb_build_object('type', 'Feature', 'id', d->>'id', 'geometry', "
            "d->'location', 'properties', d - 'location')::text"
        )
    else:
        line = "d::text"
    if fmt in ENVELOPE:  # a comma before every row but the first
        line = f"CASE WHEN row_number() OVER () > 1 THEN ',' ELSE '' END || {line}"
    return Export(f"SELECT {line} FROM ({rows}) AS picked", args.values, fmt)


async def stream(conn: asyncpg.Connection, export: Export) -> AsyncGenerator[bytes, None]:
    """The export's bytes as PostgreSQL's COPY produces them, a bounded queue at a time.

    Runs inside the caller's transaction (one snapshot). If the consumer stops (a client
    that disconnects), the COPY is cancelled; the caller then discards the connection.
    """
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(CHUNK_QUEUE)

    async def put(chunk: bytes | bytearray | memoryview) -> None:
        await queue.put(bytes(chunk))  # asyncpg hands out reused buffers

    async def produce() -> None:
        try:
            await conn.copy_from_query(
                export.query,
                *export.args,
                output=put,
                timeout=EXPORT_TIMEOUT_S,
                **export.copy_options,
            )
        except asyncio.CancelledError:
            raise  # the consumer is gone: nothing to tell it
        except Exception as exc:  # the consumer is waiting: hand it the error
            await queue.put(exc)
            return
        await queue.put(None)

    prefix, suffix = ENVELOPE.get(export.format, (b"", b""))
    task = asyncio.create_task(produce())
    try:
        if prefix:
            yield prefix
        while (chunk := await queue.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk
        if suffix:
            yield suffix
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
