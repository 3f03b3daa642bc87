"""Exports streamed by PostgreSQL's own COPY, in one snapshot, at the current data version or
at any earlier one rebuilt from the revision history.

Now, the filters run on the indexed columns of `incidents` and COPY sends the stored lines
(`document` and `feature`, which a trigger writes with every write of the row, and the CSV
line a trigger keeps in `incident_csv_lines` for each live incident); at a
version, the filters run on each incident's revision document and the same functions make
the same lines of it. Both are ordered by id, so an export taken at version N and one asked later
with version=N are byte for byte the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.incidents.filters import Args, IncidentFilters, column_sql, document_sql, positional
from app.reference.vocab import VOCABULARIES

CATEGORIES: tuple[str, ...] = VOCABULARIES["casualty_category"]
CHUNK_QUEUE = 8  # chunks held between PostgreSQL and the client: memory stays constant
CHUNK_BYTES = 256 * 1024  # so at most CHUNK_QUEUE × 256 KiB (plus one being filled) per export
EXPORT_TIMEOUT_S = 6 * 3600  # an export may take long; a client that leaves ends it at once

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

# The columns of a CSV row (incident_csv() of migration 0003_stored_documents writes them).
CSV_HEADER = [
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
    "lon",
    "lat",
    *(f"{measure}_{category}" for category in CATEGORIES for measure in ("killed", "injured")),
    "killed_total",
    "injured_total",
    "fatality_low",
    "fatality_high",
    "crossing",
    "status",
    "tags",
    "source_urls",
    "description",
    "is_synthetic",
    "version",
    "created_at",
    "updated_at",
]


# One output line per incident and format: the stored columns now, and the same functions
# over a revision's document `d` at a version. json and geojson rows carry a comma before
# them; stream() drops the first one. CSV lines are in a table of their own (`l`, migration
# 0007_csv_lines), joined to the incidents a filter picks.
_LIVE_LINES = {
    "ndjson": "i.document",
    "json": "',' || i.document",
    "geojson": "',' || i.feature",
    "csv": "l.line",
}
_LIVE_FROM = {"csv": "incidents i JOIN incident_csv_lines l ON l.id = i.id"}
# The condition of an export without filters: live incidents, the very rows that have a line
# in incident_csv_lines. Their CSV export is that table in key order: 330-byte rows read
# instead of the 2 kB incident rows.
_ALL_LIVE = column_sql(IncidentFilters(), {})
_ALL_CSV = "SELECT l.line FROM incident_csv_lines l ORDER BY l.id"
_PAST_LINES = {
    "ndjson": "d::text",
    "json": "',' || d::text",
    "geojson": "',' || incident_feature(d)",
    "csv": "incident_csv(d)",
}

MEDIA = {
    "ndjson": "application/x-ndjson",
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
}
EXTENSION = {"ndjson": "ndjson", "json": "json", "geojson": "geojson", "csv": "csv"}
# Around the rows of json and geojson exports (the rows carry their own separators) and
# before the CSV rows.
ENVELOPE = {
    "json": (b"[\n", b"]\n"),
    "geojson": (b'{"type":"FeatureCollection","features":[\n', b"]}\n"),
    "csv": (",".join(CSV_HEADER).encode() + b"\n", b""),
}


@dataclass(frozen=True)
class Export:
    """The COPY statement's query and arguments, and how its output is framed."""

    query: str
    args: list[Any]
    format: str

    @property
    def copy_options(self) -> dict[str, Any]:
        """COPY options. JSON text never holds a raw line break, so JSON lines go out as CSV
        with a quote and delimiter that never occur either: PostgreSQL writes each line as it
        is. CSV rows may hold line breaks in quoted cells, so they go out in COPY's text
        format, whose escapes stream() takes off again."""
        if self.format == "csv":
            return {"format": "text"}
        return {"format": "csv", "quote": "\x01", "delimiter": "\x02"}


def build(f: IncidentFilters, fmt: str, version: int | None) -> Export:
    """The export of the filtered incidents in a format, now or at a version.

    Now: the filters run on the indexed columns of `incidents` and the stored lines are
    read as they are. At a version: the filters run on the revisions' documents, and the
    same lines are made from them (byte for byte what the stored columns held then).
    """
    if version is None:
        params: dict[str, Any] = {}
        where = column_sql(f, params)
        if fmt == "csv" and where == _ALL_LIVE:
            return Export(_ALL_CSV, [], fmt)
        source = _LIVE_FROM.get(fmt, "incidents i")
        query, values = positional(
            f"SELECT {_LIVE_LINES[fmt]} FROM {source} WHERE {where} ORDER BY i.id", params
        )
        return Export(query, values, fmt)
    args = Args(version)
    rows = f"SELECT id, d FROM ({_AT_VERSION}) AS s WHERE {document_sql(f, args)} ORDER BY id"
    return Export(f"SELECT {_PAST_LINES[fmt]} FROM ({rows}) AS picked", args.values, fmt)


# COPY's text format escapes (a backslash before a letter or a backslash), undone.
_ESCAPED = re.compile(rb"\\([\\bfnrtv])")
_UNESCAPE = {
    b"\\": b"\\",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"v": b"\v",
}


def _unescape(chunk: bytes) -> bytes:
    """Rows of COPY's text format as they are stored (COPY sends whole rows)."""
    if b"\\" not in chunk:
        return chunk
    return _ESCAPED.sub(lambda m: _UNESCAPE[m[1]], chunk)


class _Chunks:
    """COPY's output on a bounded queue. asyncpg hands out reused buffers of ~16 KiB: they
    are copied into chunks of CHUNK_BYTES, so that the queue, the ASGI server and the socket
    see a few thousand sends per gigabyte rather than tens of thousands."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(CHUNK_QUEUE)
        self.pending = bytearray()

    async def put(self, chunk: bytes | bytearray | memoryview) -> None:
        """Take one of asyncpg's buffers."""
        self.pending.extend(chunk)
        if len(self.pending) >= CHUNK_BYTES:
            await self.queue.put(bytes(self.pending))
            self.pending.clear()

    async def close(self) -> None:
        """The rest, then the end."""
        if self.pending:
            await self.queue.put(bytes(self.pending))
        await self.queue.put(None)


async def stream(conn: asyncpg.Connection, export: Export) -> AsyncGenerator[bytes, None]:
    """The export's bytes as PostgreSQL's COPY produces them, a bounded queue at a time.

    Runs inside the caller's transaction (one snapshot). If the consumer stops (a client
    that disconnects), the COPY is cancelled; the caller then discards the connection.
    """
    chunks = _Chunks()
    queue = chunks.queue

    async def produce() -> None:
        try:
            await conn.copy_from_query(
                export.query,
                *export.args,
                output=chunks.put,
                timeout=EXPORT_TIMEOUT_S,
                **export.copy_options,
            )
        except asyncio.CancelledError:
            raise  # the consumer is gone: nothing to tell it
        except Exception as exc:  # the consumer is waiting: hand it the error
            await queue.put(exc)
            return
        await chunks.close()

    prefix, suffix = ENVELOPE.get(export.format, (b"", b""))
    separated = export.format in ("json", "geojson")  # the first row's comma goes
    task = asyncio.create_task(produce())
    try:
        if prefix:
            yield prefix
        while (chunk := await queue.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            if separated:
                chunk, separated = chunk[1:], False
            yield _unescape(chunk) if export.format == "csv" else chunk
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
