"""A plain `GET /v1/incidents` answered without FastAPI's routing, dependency solving and
parameter parsing, which were most of the cost of a page read in one statement.

ASGI middleware in front of the app. It takes only what the route would answer the same way
with nothing to check about the caller: an anonymous request on a server whose reads are
public, with known parameters (single-valued ones once, none empty) that pass the route's own
query model, reference-code checks and cursor check. Anything else (a key, which the route
checks; a 422 or 400 to give; dependencies overridden, as tests do) goes to the app untouched,
having been sent nothing. The answer itself is the route's code (router.list_page): the same
statement on the read pool, the same body and headers.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.db import UNAVAILABLE
from app.core.errors import DomainError, Problem, problem_response, unavailable
from app.core.params import repeatable
from app.incidents.filters import ListQuery
from app.incidents.router import list_page

PATH = "/v1/incidents"
_MULTI = {name for name, info in ListQuery.model_fields.items() if repeatable(info.annotation)}
_FIELDS = set(ListQuery.model_fields)


# The query strings taken (less their cursor, which changes from page to page), with the
# query they parse to and its list scope: pure functions of the string, kept per process
# (a bounded table, emptied when full) so that a repeated question is not parsed again.
_TAKEN: dict[bytes, tuple[ListQuery, str]] = {}
_TAKEN_MAX = 1024
_CURSOR = b"cursor="


def taken_query(query_string: bytes) -> tuple[ListQuery, str] | None:
    """plain_query() and the query's scope (ListQuery.scope()), from _TAKEN when the
    string less its cursor was seen before; the cursor is validated on its own."""
    parts = query_string.split(b"&")
    cursors = [part for part in parts if part.startswith(_CURSOR)]
    if len(cursors) > 1:
        return None
    key = b"&".join(p for p in parts if not p.startswith(_CURSOR)) if cursors else query_string
    entry = _TAKEN.get(key)
    if entry is None:
        query = plain_query(key)
        if query is None or query.cursor is not None:  # refused, or a cursor spelled otherwise
            query = plain_query(query_string)
            return None if query is None else (query, query.scope())
        if len(_TAKEN) >= _TAKEN_MAX:
            _TAKEN.clear()
        entry = _TAKEN[key] = (query, query.scope())
    if not cursors:
        return entry
    cursor = plain_query(cursors[0])  # the model's own check of the cursor alone
    if cursor is None:
        return None
    return entry[0].model_copy(update={"cursor": cursor.cursor}), entry[1]


def plain_query(query_string: bytes) -> ListQuery | None:
    """The list query if the route would take it as it is, else None (the route answers,
    with its 422 where it gives one)."""
    params = QueryParams(query_string.decode("latin-1"))
    data: dict[str, Any] = {}
    for name in params:
        values = params.getlist(name)
        if name not in _FIELDS or "" in values or (name not in _MULTI and len(values) > 1):
            return None
        data[name] = values if name in _MULTI else values[0]
    try:
        return ListQuery.model_validate(data)
    except ValidationError:
        return None


class ListLane:
    """ASGI middleware: the fast lane of `GET /v1/incidents` (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.taken = 0  # requests answered here, for tests and curiosity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a plain list request here; pass everything else on."""
        if not (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "GET"
            and await self._answered(scope, receive, send)
        ):
            await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, receive: Receive, send: Send) -> bool:
        app = scope["app"]
        if app.dependency_overrides or not app.state.settings.public_read:
            return False
        if any(name == b"authorization" for name, _ in scope["headers"]):
            return False
        taken = taken_query(scope["query_string"])
        if taken is None:
            return False
        query, list_scope = taken
        request = Request(scope, receive)
        try:
            async with app.state.reads.acquire() as conn:
                response = await list_page(request, conn, query, list_scope)
        except DomainError:  # a bad code or cursor: the route gives the same problem
            return False
        except UNAVAILABLE as exc:
            problem: Problem = unavailable(
                f"The database is not reachable or busy ({type(exc).__name__}).",
                app.state.settings.retry_after_s,
            )
            await problem_response(problem)(scope, receive, send)
            return True
        self.taken += 1
        await response(scope, receive, send)
        return True
