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
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.incidents.filters import Args, IncidentFilters, document_sql
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
                    f"(SELECT (c->>'{measure}')::int FROM "
                    f"jsonb_array_elements({d}->'casualties') c "
                    f"WHERE c->>'category' = '{category}')",
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


def build(f: IncidentFilters, fmt: str, version: int | None) -> Export:
    """The export of the filtered incidents in a format, now or at a version."""
    args = Args(version) if version is not None else Args()
    source = _AT_VERSION if version is not None else _LIVE
    rows = f"SELECT id, d FROM ({source}) AS s WHERE {document_sql(f, args)} ORDER BY id"
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


@dataclass
class Opened:
    """An export ready to stream: its first bytes are not sent yet, its snapshot is taken."""

    chunks: AsyncIterator[bytes]
    version: int
    export: Export


async def open_export(
    engine: AsyncEngine, f: IncidentFilters, fmt: str, version: int | None
) -> Opened:
    """Take a REPEATABLE READ snapshot on a connection of its own and prepare the COPY of
    the export in it; the connection is given back when the chunks are exhausted or closed
    (and thrown away if the client left half way)."""
    export = build(f, fmt, version)
    conn = await engine.connect()
    try:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        await conn.begin()
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        # Stream in id order from the primary-key index from the first row on, rather than
        # computing every document and sorting them before the first byte.
        await conn.execute(text("SET LOCAL enable_sort = off"))
        seen = (
            version
            if version is not None
            else int((await conn.execute(text("SELECT seq FROM data_version"))).scalar_one())
        )
        driver = (await conn.get_raw_connection()).driver_connection
    except BaseException:
        await conn.close()
        raise
    return Opened(_chunks(conn, driver, export), seen, export)


async def _chunks(conn: AsyncConnection, driver: Any, export: Export) -> AsyncIterator[bytes]:
    chunks = stream(driver, export)
    finished = False
    try:
        async for chunk in chunks:
            yield chunk
        finished = True
    finally:
        # Also when the client went away and this task is being cancelled.
        with anyio.CancelScope(shield=True):
            if not finished:
                # Cut the COPY off at once: close the socket rather than ask PostgreSQL
                # to cancel a COPY that is blocked writing to a reader who left.
                driver.terminate()
            await chunks.aclose()
            if finished:
                await conn.commit()
            else:
                await conn.invalidate()  # the pool makes a new connection in its place
            await conn.close()
