"""HTTP route of the crossings' statistics, cacheable as the other statistics are (ETag from
the data version, 304, Cache-Control; app/stats/cache.py keeps answers under /v1/stats/)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ReadAccess
from app.core.clock import today_karachi
from app.core.db import SessionDep, read_connection
from app.crossings import stats
from app.crossings.stats import CrossingStatsOut, CrossingStatsQuery
from app.stats.router import Rendered, etag_answer

router = APIRouter(prefix="/v1/stats", tags=["statistics"], dependencies=[ReadAccess])


@router.get(
    "/crossings",
    summary="Closures against violence: days closed and incidents near each crossing",
    responses={
        200: {"model": CrossingStatsOut, "description": "One series per crossing"},
        304: {"description": "Not modified since the ETag"},
        422: {"description": "Invalid parameter (an unknown crossing names `crossing`)"},
    },
)
async def crossing_stats(
    request: Request, session: SessionDep, query: Annotated[CrossingStatsQuery, Query()]
) -> Response:
    """Border pressure set against violence: per crossing and period, the days it was
    `closed` and `restricted` (from its status events, inside the period; a day counts once,
    by the event in force that started last; days after today count as neither) and the
    live incidents within `radius_km` of it (geodesic), with their killed and injured, by
    the day they occurred. Every crossing (or those `crossing` names) has every period from
    `since` to `until`, the first and last clipped to them. Counted from the incidents and
    status events themselves. An incident near two crossings counts for both."""
    query = query.model_copy(update={"until": query.last_day})
    today = today_karachi()
    async with read_connection(request, session) as conn:
        known = await stats.crossing_slugs(conn)
        stats.check(query, known)

        async def render_() -> Rendered:
            version, body = await stats.crossing_stats(conn, query, known, today)
            return version, body, "application/json", {}

        return await etag_answer(request, conn, ("crossings", query, today), render_)
