"""HTTP routes of the statistics: cacheable (ETag from the data version, 304, Cache-Control);
app/stats/cache.py serves answers again while the data version stays the same."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ReadAccess
from app.core import dataversion
from app.core.clock import BASELINE, today_karachi
from app.core.db import SessionDep
from app.core.errors import validation_problem
from app.core.openapi import text_body
from app.core.params import split_csv
from app.reference.service import load_references
from app.reference.vocab import VOCABULARIES
from app.stats import service
from app.stats.schemas import FATALITIES_CSV, FatalitiesOut, SummaryOut
from app.stats.service import GroupBy, Period

router = APIRouter(prefix="/v1/stats", tags=["statistics"], dependencies=[ReadAccess])

CACHE_SIZE = 256
# Bounds on one answer: at most MAX_POINTS points (periods x the series a grouping can
# have), and `until` at most a year ahead.
MAX_POINTS = 200_000
MAX_SERIES = {
    "province": 20,
    "district": 150,
    "perpetrator": 60,
    "category": 5,
    "attack_type": 10,
    "kind": 4,
    "none": 1,
}
MAX_FUTURE_DAYS = 366
COUNTED_STATUSES = ("reported", "verified", "disputed")  # retracted never counts
Csv = Annotated[str | None, Query(max_length=2000)]


def _check(field: str, values: list[str], allowed: set[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise validation_problem(
            [{"field": field, "message": f"unknown value {v!r}"} for v in unknown]
        )
    return tuple(dict.fromkeys(values))


def _cache_control(request: Request) -> str:
    scope = "public" if request.app.state.settings.public_read else "private"
    return f"{scope}, max-age=10, must-revalidate"


def _if_none_match(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


async def _answer(
    request: Request, session: SessionDep, key: tuple[Any, ...], render: Any
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
        if _if_none_match(request, etag):
            return Response(status_code=304, headers=headers)
        rendered = await render()
        after, after_epoch = await dataversion.stamp(request, session)
        # StatsCache (app/stats/cache.py) keeps the answers that carry an ETag.
        if (after, after_epoch) == (version, epoch):
            body, media_type, extra = rendered
            return Response(body, media_type=media_type, headers={**headers, **extra})
        version, epoch = after, after_epoch  # a write landed meanwhile: render again
    # Writes keep landing: answer without a validator rather than with a wrong one.
    body, media_type, extra = rendered
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-store", **extra})


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
    request: Request,
    session: SessionDep,
    since: Annotated[date, Query(description="First day (inclusive)")] = BASELINE,
    until: Annotated[
        date | None, Query(description="Last day (inclusive); default today, Asia/Karachi")
    ] = None,
    period: Period = "month",
    group_by: GroupBy = "province",
    province: Csv = None,
    district: Csv = None,
    perpetrator: Csv = None,
    category: Csv = None,
    attack_type: Csv = None,
    kind: Csv = None,
    status: Csv = None,
    cumulative: bool = False,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Killed, injured and incidents per period and series, from the rollups. Every series
    has every period from `since` to `until` (the first and last clipped to them);
    retracted and deleted incidents never count. With `category`, only those categories'
    killed and injured count, and `incidents` counts incidents having one of them.
    Multi-valued filters take comma-separated values."""
    today = today_karachi()
    until = until or today
    if since < date(2001, 1, 1):
        raise validation_problem([{"field": "since", "message": "must be 2001-01-01 or later"}])
    if until > today + timedelta(days=MAX_FUTURE_DAYS):
        raise validation_problem(
            [{"field": "until", "message": "must be within a year from today"}]
        )
    if until < since:
        raise validation_problem([{"field": "until", "message": "must not be before since"}])
    # Repeated parameters add up (?category=police&category=civilians), as commas do.
    category, attack_type, kind, status, province, district, perpetrator = (
        ",".join(request.query_params.getlist(name)) or None
        for name in (
            "category",
            "attack_type",
            "kind",
            "status",
            "province",
            "district",
            "perpetrator",
        )
    )
    q = service.Query(
        since=since,
        until=until,
        period=period,
        group_by=group_by,
        category=_check("category", split_csv(category), VOCABULARIES["casualty_category"]),
        attack_type=_check("attack_type", split_csv(attack_type), VOCABULARIES["attack_type"]),
        kind=_check("kind", split_csv(kind), VOCABULARIES["kind"]),
        status=_check("status", split_csv(status), COUNTED_STATUSES),
        province=tuple(split_csv(province)),
        district=tuple(split_csv(district)),
        perpetrator=tuple(split_csv(perpetrator)),
        cumulative=cumulative,
    )
    if q.province or q.district or q.perpetrator:
        refs = await load_references(session)
        _check("province", list(q.province), set(refs.provinces))
        _check("district", list(q.district), set(refs.districts))
        _check("perpetrator", list(q.perpetrator), set(refs.actors))
    per_period = {"day": 1, "week": 7, "month": 28, "quarter": 90, "year": 365}[period]
    periods = (until - since).days // per_period + 1
    if periods * MAX_SERIES[group_by] > MAX_POINTS:
        raise validation_problem(
            [
                {
                    "field": "period",
                    "message": f"too many points ({periods} periods x up to {MAX_SERIES[group_by]} "
                    f"series); use a coarser period or a shorter range",
                }
            ]
        )

    async def render() -> tuple[bytes, str, dict[str, str]]:
        result = await service.fatalities(session, q)
        if format == "csv":
            return (
                service.fatalities_csv(result).encode(),
                "text/csv; charset=utf-8",
                {"Content-Disposition": 'attachment; filename="fatalities.csv"'},
            )
        return json.dumps(result, separators=(",", ":")).encode(), "application/json", {}

    return await _answer(request, session, ("fatalities", q, format), render)


@router.get(
    "/summary",
    summary="Totals since the takeover of Kabul",
    responses={
        200: {"model": SummaryOut, "description": "Totals since the baseline"},
        304: {"description": "Not modified since the ETag"},
    },
)
async def summary(
    request: Request,
    session: SessionDep,
    kind: Csv = None,
) -> Response:
    """Incidents, killed and injured since 2021-08-15: in all, by category, by province and
    by group, with the deadliest incident and the date of the latest one. `kind` filters
    (attacks only, as PIPS counts; or with security operations, as CRSS does)."""
    kinds = _check("kind", split_csv(kind), VOCABULARIES["kind"])
    until = today_karachi()

    async def render() -> tuple[bytes, str, dict[str, str]]:
        result = await service.summary(session, BASELINE, until, kinds)
        return json.dumps(result, separators=(",", ":")).encode(), "application/json", {}

    return await _answer(request, session, ("summary", kinds, until), render)
