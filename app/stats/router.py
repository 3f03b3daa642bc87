"""HTTP routes of the statistics: cacheable (ETag from the data version, 304, Cache-Control);
app/stats/cache.py serves answers again while the data version stays the same."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ReadAccess
from app.core import dataversion
from app.core.clock import today_karachi
from app.core.db import SessionDep
from app.core.openapi import text_body
from app.core.params import none_match
from app.stats import filters, service
from app.stats.filters import FatalitiesQuery, StatsFilters
from app.stats.schemas import FATALITIES_CSV, FatalitiesOut, SummaryOut

router = APIRouter(prefix="/v1/stats", tags=["statistics"], dependencies=[ReadAccess])

Rendered = tuple[bytes, str, dict[str, str]]  # body, media type, extra headers


def _cache_control(request: Request) -> str:
    scope = "public" if request.app.state.settings.public_read else "private"
    return f"{scope}, max-age=10, must-revalidate"


async def _answer(
    request: Request,
    session: SessionDep,
    key: tuple[Any, ...],
    render: Callable[[], Awaitable[Rendered]],
) -> Response:
    """304 or a new answer, under the ETag of the data version.

    Every incident write bumps the data version in its own transaction, so an answer
    rendered between two reads of the same version saw exactly that version's data.
    """
    version, epoch = await dataversion.stamp(request, session)
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
    for _ in range(3):
        etag = f'"{version}.{epoch}-{digest}"'
        headers = {
            "ETag": etag,
            "Cache-Control": _cache_control(request),
            "X-Data-Version": str(version),
        }
        if none_match(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        body, media_type, extra = await render()
        after, after_epoch = await dataversion.stamp(request, session)
        # StatsCache (app/stats/cache.py) keeps the answers that carry an ETag.
        if (after, after_epoch) == (version, epoch):
            return Response(body, media_type=media_type, headers={**headers, **extra})
        version, epoch = after, after_epoch  # a write landed meanwhile: render again
    # Writes keep landing: answer without a validator rather than with a wrong one.
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-store", **extra})


def _json(result: dict[str, Any]) -> Rendered:
    return json.dumps(result, separators=(",", ":")).encode(), "application/json", {}


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
    await filters.check(session, query)

    async def render() -> Rendered:
        result = await service.fatalities(session, query)
        if query.format == "csv":
            return (
                service.fatalities_csv(result).encode(),
                "text/csv; charset=utf-8",
                {"Content-Disposition": 'attachment; filename="fatalities.csv"'},
            )
        return _json(result)

    return await _answer(request, session, ("fatalities", query), render)


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
    await filters.check(session, query)

    async def render() -> Rendered:
        return _json(await service.summary(session, query))

    return await _answer(request, session, ("summary", query, today_karachi()), render)
