"""Filtered, keyset-paginated reads of incidents (lists; the same filters serve exports).

Order: occurred_on descending, then id ascending. A cursor names the last row of a page and
is signed (HMAC-SHA256), so a forged or altered one is refused instead of trusted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import dataversion
from app.core.errors import Malformed, Unavailable
from app.incidents.filters import (
    CODE_FILTERS,
    IncidentFilters,
    check_known,
    column_sql,
    positional,
)
from app.reference.names import Names

T = TypeVar("T")


@functools.lru_cache(maxsize=8)  # one secret per process (tests make a few)
def _key(secret: bytes) -> bytes:
    return hashlib.sha256(b"borderwatch-cursor\x00" + secret).digest()


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.digest(_key(secret), payload, "sha256")[:16]


def encode_cursor(secret: bytes, position: list[Any], scope: str) -> str:
    """An opaque cursor after `position` (JSON values), bound to the filters it was made for."""
    payload = json.dumps([*position, scope], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload + _mac(secret, payload)).decode().rstrip("=")


def decode_cursor(secret: bytes, cursor: str, scope: str) -> list[Any]:
    """The position a cursor names; Malformed for one that was forged, altered or made for
    other filters."""
    bad = Malformed(
        "The cursor is not one this API made for these filters; start again without it."
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload, mac = raw[:-16], raw[-16:]
        if len(raw) <= 16 or not hmac.compare_digest(mac, _mac(secret, payload)):
            raise bad
        *position, made_for = list(json.loads(payload))
    except (ValueError, TypeError, json.JSONDecodeError):
        raise bad from None
    if made_for != scope:
        raise bad
    return position


def _list_position(secret: bytes, cursor: str, scope: str) -> tuple[date, uuid.UUID]:
    try:
        day, incident_id = decode_cursor(secret, cursor, scope)
        return date.fromisoformat(day), uuid.UUID(incident_id)
    except (ValueError, TypeError, AttributeError):
        raise Malformed("The cursor does not name a position in this list.") from None


# The data version and the page in one statement, so from one snapshot: no re-read of the
# version is needed. The version's row comes whether the page is empty or not (page rows carry
# no version); Append passes the page's rows on in the order its ORDER BY gave them.
_PAGE = (
    "SELECT seq, NULL::date, NULL::uuid, NULL::text FROM data_version UNION ALL ("
    "SELECT NULL::bigint, i.occurred_on, i.id, i.document FROM incidents i WHERE {condition} "
    "ORDER BY i.occurred_on DESC, i.id LIMIT {limit})"
)
# Filters under which one plan serves every request of a text: the dates and the cursor only
# bound `occurred_on` (the list order's own index serves any value of them), and code filters
# are written into the text (column_sql's inline_codes), so each text's plan is made for its
# codes. Any other filter (text, box, distance, counts, times) changes the best plan with its
# value.
_PLAN_SAFE = {"since", "until", "category", *CODE_FILTERS}


def page_query(
    f: IncidentFilters, params: dict[str, Any], after: tuple[date, uuid.UUID] | None, limit: int
) -> str:
    """The data version and one page of `limit` rows in list order, after a cursor's position
    when given (binds into params). The text depends only on the filters' shape and codes,
    so asyncpg prepares it once per connection.

    Where one plan serves every value of the parameters (_PLAN_SAFE), the limit is written
    into the text too: PostgreSQL then settles on a generic plan and stops planning each
    request. Elsewhere the limit stays a parameter, which keeps PostgreSQL planning each
    request with its values: a generic plan made for common values (scan the list order,
    filter) reads the whole table for rare ones (a prepared `province_code = ANY($1)` did,
    227 ms at 100k incidents for a province with none).
    """
    condition = column_sql(f, params, inline_codes=True)
    if after is not None:
        params["c_day"], params["c_id"] = after
        # The first conjunct is an index range: the scan starts at the cursor, however deep.
        # The position is read through InitPlans, whose values no plan is made for: one
        # generic plan serves every position (each is an index range in the list order).
        day, iid = "(SELECT :c_day::date)", "(SELECT :c_id::uuid)"
        condition += f" AND i.occurred_on <= {day} AND (i.occurred_on < {day} OR i.id > {iid})"
    named = f.model_dump(exclude_defaults=True, include=set(IncidentFilters.model_fields))
    if set(named) <= _PLAN_SAFE and not params.keys() & {*CODE_FILTERS, "category"}:
        return _PAGE.format(condition=condition, limit=int(limit))
    params["limit"] = limit
    return _PAGE.format(condition=condition, limit=":limit")


@dataclass(frozen=True)
class Page:
    """One page of a list: the documents' JSON text, the cursor of the next page, and the
    data version the page reflects."""

    documents: list[str]
    next_cursor: str | None
    version: int


async def consistent(session: AsyncSession, read: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """Run read() between two reads of the same data version: the version then names
    exactly the data it saw (every write moves the version in its own transaction)."""
    version = await dataversion.current(session)
    for _ in range(5):
        result = await read()
        after = await dataversion.current(session)
        if after == version:
            return result, version
        version = after
    raise Unavailable("The data kept changing while it was read; retry.")


def trim_page(
    rows: list[Any], limit: int, cursor_after: Callable[[Any], str]
) -> tuple[list[Any], str | None]:
    """A page from `limit + 1` rows read: the first `limit`, and the cursor after the last
    of them when the extra row shows that more follow."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], cursor_after(rows[limit - 1])


async def page(
    conn: Any,
    names: Names,
    filters: IncidentFilters,
    limit: int,
    cursor: str | None,
    secret: bytes,
    scope: str | None = None,
) -> Page:
    """A page of the filtered incidents in list order, after the cursor when given, and the
    data version it reflects: one statement on an asyncpg connection (reference codes are
    checked against the process's copy in `names`). `scope` is filters.scope(), when the
    caller has it already."""
    await check_known(conn, names, filters)
    scope = scope or filters.scope()
    params: dict[str, Any] = {}
    after = _list_position(secret, cursor, scope) if cursor is not None else None
    sql, values = positional(page_query(filters, params, after, limit + 1), params)
    rows = await conn.fetch(sql, *values)
    version = next(int(seq) for seq, _, _, _ in rows if seq is not None)
    found = [(day, iid, doc) for seq, day, iid, doc in rows if seq is None]
    found, next_cursor = trim_page(
        found, limit, lambda r: encode_cursor(secret, [r[0].isoformat(), str(r[1])], scope)
    )
    return Page([doc for _, _, doc in found], next_cursor, version)
