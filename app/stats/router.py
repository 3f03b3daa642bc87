"""HTTP routes of the statistics: cacheable (ETag from the data version, 304, Cache-Control);
app/stats/cache.py serves answers again while the data version stays the same.

The figures and the data version they stand at are read in one statement on an asyncpg
connection (the app's read pool, or the request's session connection when it already holds
a transaction, so that a request sees its own snapshot), and the answer is written as bytes
without a response model in between."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from app.auth.dependencies import ReadAccess
from app.core.clock import today_karachi
from app.core.dataversion import answer_etag
from app.core.db import UNAVAILABLE, SessionDep, read_connection
from app.core.errors import Invalid, unavailable
from app.core.openapi import text_body
from app.core.params import none_match
from app.reference.names import Names, names_of
from app.stats import filters, render, service
from app.stats.filters import FatalitiesQuery, StatsFilters
from app.stats.schemas import FATALITIES_CSV, FatalitiesOut, SummaryOut

router = APIRouter(prefix="/v1/stats", tags=["statistics"], dependencies=[ReadAccess])

Rendered = tuple[service.Version, bytes, str, dict[str, str]]  # version, body, type, headers
_CSV = (
    "text/csv; charset=utf-8",
    {"Content-Disposition": 'attachment; filename="fatalities.csv"'},
)


def _names(request: Request) -> Names:
    """The app's copy of the reference names (made on first use)."""
    return names_of(request.app.state)


def _cache_control(request: Request) -> str:
    scope = "public" if request.app.state.settings.public_read else "private"
    return f"{scope}, max-age=10, must-revalidate"


async def etag_answer(
    request: Request, conn: Any, key: tuple[Any, ...], render: Callable[[], Awaitable[Rendered]]
) -> Response:
    """304 or a new answer, under the ETag of the data version its figures were read at."""
    headers = {"Cache-Control": _cache_control(request)}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        seq, epoch = await conn.fetchrow("SELECT seq, epoch FROM data_version")
        etag = answer_etag((seq, epoch), key)
        if none_match(if_none_match, etag):
            headers |= {"ETag": etag, "X-Data-Version": str(seq)}
            return Response(status_code=304, headers=headers)
    # The version comes from the statement that read the figures: the same snapshot.
    (seq, epoch), body, media_type, extra = await render()
    # StatsCache (app/stats/cache.py) keeps the answers that carry an ETag.
    headers |= {"ETag": answer_etag((seq, epoch), key), "X-Data-Version": str(seq), **extra}
    return Response(body, media_type=media_type, headers=headers)


@router.get(
    "/fatalities",
    summary="Fatalities by period and group, zero-filled",
    responses={
        200: {
            "model": FatalitiesOut,
            "description": "The series as JSON, or CSV with `format=csv`",
            "content": {"text/csv": text_body(FATALITIES_CSV)},
        },
        304: {"description": "Not modified since the ETag"},
        422: {"description": "Invalid parameter"},
    },
)
async def fatalities(
    request: Request, session: SessionDep, query: Annotated[FatalitiesQuery, Query()]
) -> Response:
    """Killed, injured and incidents per period and series, from the rollups. Every series
    has every period from `since` to `until` (the first and last clipped to them);
    retracted and deleted incidents never count. With `category`, only those categories'
    killed and injured count, and `incidents` counts incidents having one of them.
    Multi-valued filters take comma-separated values."""
    query = query.model_copy(update={"until": query.last_day})
    names = _names(request)
    async with read_connection(request, session) as conn:
        filters.check(query, await names.current(conn, filters.named_codes(query)))

        async def render_() -> Rendered:
            version, answer = await service.fatalities(conn, names, query)
            if query.format == "csv":
                return version, render.to_csv(query, answer), *_CSV
            return version, render.to_json(query, answer), "application/json", {}

        return await etag_answer(request, conn, ("fatalities", query), render_)


@router.get(
    "/summary",
    summary="Totals since the takeover of Kabul",
    responses={
        200: {"model": SummaryOut, "description": "Totals over the range"},
        304: {"description": "Not modified since the ETag"},
        422: {"description": "Invalid parameter"},
    },
)
async def summary(
    request: Request, session: SessionDep, query: Annotated[StatsFilters, Query()]
) -> Response:
    """Incidents, killed and injured since 2021-08-15 (or over `since`–`until`): in all, by
    category, by province and by group, with the deadliest incident and the date of the
    latest one. Takes the filters of /v1/stats/fatalities: `kind=attack` counts attacks
    only, as PIPS does; with security operations, as CRSS does."""
    query = query.model_copy(update={"until": query.last_day})
    names = _names(request)
    async with read_connection(request, session) as conn:
        filters.check(query, await names.current(conn, filters.named_codes(query)))

        async def render_() -> Rendered:
            version, result = await service.summary(conn, names, query)
            body = json.dumps(result, separators=(",", ":")).encode()
            return version, body, "application/json", {}

        return await etag_answer(request, conn, ("summary", query, today_karachi()), render_)


# ---- the fast lane -----------------------------------------------------------------------------

_FIELDS = set(FatalitiesQuery.model_fields)
_SINGLE = {"since", "until", "period", "group_by", "cumulative", "format"}


def _plain_query(query_string: bytes) -> FatalitiesQuery | None:
    """The question of a fatalities request if it is plainly valid, else None (the route
    then answers it, 422 included): only known parameters, single-valued ones once."""
    params = QueryParams(query_string.decode("latin-1"))
    data: dict[str, Any] = {}
    for name in params:
        values = params.getlist(name)
        if name not in _FIELDS or (name in _SINGLE and len(values) > 1):
            return None
        data[name] = values[0] if name in _SINGLE else values
    try:
        query = FatalitiesQuery.model_validate(data)
    except ValidationError:
        return None
    return query.model_copy(update={"until": query.last_day})


async def fatalities_directly(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer `GET /v1/stats/fatalities` as the route would, without FastAPI's routing,
    dependencies and parameter parsing (most of the cost of a small answer), for a caller
    already let in (app/stats/cache.py); False, having sent nothing, when the route should
    answer instead: another path, a parameter the route would refuse, or dependencies
    overridden (tests, which the route honours and this lane cannot)."""
    app = scope["app"]
    if scope["path"] != "/v1/stats/fatalities" or app.dependency_overrides:
        return False
    query = _plain_query(scope["query_string"])
    if query is None:
        return False
    request = Request(scope, receive)
    names = _names(request)
    try:
        async with app.state.reads.acquire() as conn:
            known = await names.current(conn, filters.named_codes(query))
            try:
                filters.check(query, known)
            except Invalid:
                return False

            async def render_() -> Rendered:
                version, answer = await service.fatalities(conn, names, query)
                if query.format == "csv":
                    return version, render.to_csv(query, answer), *_CSV
                return version, render.to_json(query, answer), "application/json", {}

            response = await etag_answer(request, conn, ("fatalities", query), render_)
    except UNAVAILABLE as exc:
        raise unavailable(
            f"The database is not reachable or busy ({type(exc).__name__}).",
            app.state.settings.retry_after_s,
        ) from None
    await response(scope, receive, send)
    return True
