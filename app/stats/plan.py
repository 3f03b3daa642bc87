"""The one statement that answers a fatalities question: the data version and the figures per
period start and series key, read in one snapshot and one round trip.

Questions that name no category are read from fatality_series by app/stats/series.py,
except those with two fine dimensions that need days (the blocks hold no pairs by day): those
read fatality_dim and the fine rollup here; the others read the category rollups through
app/stats/sources.py. The SQL text
depends only on the question's shape (grouping, period, which filters are set, the edges of
the range), never on its values, so asyncpg's prepared statements are reused."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from app.stats.filters import FatalitiesQuery
from app.stats.periods import Period, next_start, period_start
from app.stats.sources import DIM_COLUMN, KEY_COLUMN, conditions, union

FINE = ("district", "perpetrator", "attack_type")
# Grain of fatality_dim that whole periods of each length are read from.
GRAIN: dict[Period, str] = {
    "day": "day",
    "week": "week",
    "month": "month",
    "quarter": "month",
    "year": "month",
}
_BIND = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

Statement = tuple[str, list[Any]]
# Without a province filter, every province by name: fatality_dim's index has the province
# before the start, so this reads each province's range of starts instead of every start.
_EVERY_PROVINCE = "province_code = ANY(ARRAY(SELECT code FROM provinces))"


def fine(q: FatalitiesQuery) -> list[str]:
    """The fine dimensions q groups or filters by, in fatality_dim's order."""
    named = {q.group_by} | {d for d in FINE if getattr(q, d)}
    return [d for d in FINE if d in named]


def lean(q: FatalitiesQuery) -> bool:
    """Whether fatality_dim answers q: no category asked for, at most two fine dimensions."""
    return not q.category and q.group_by != "category" and len(fine(q)) <= 2


def spans(since: date, until: date, grain: str) -> list[tuple[str, date, date]]:
    """(grain, first, last) covering since..until: whole weeks or months at their grain, the
    clipped ones at either edge by day."""
    if grain == "day":
        return [("day", since, until)]
    unit: Period = "week" if grain == "week" else "month"
    first = period_start(since, unit)
    if first < since:
        first = next_start(first, unit)
    last = period_start(until + timedelta(days=1), unit) - timedelta(days=1)
    if first > last:
        return [("day", since, until)]
    out = [(grain, first, last)]
    if since < first:
        out.append(("day", since, first - timedelta(days=1)))
    if last < until:
        out.append(("day", last + timedelta(days=1), until))
    return out


def _lean_rows(q: FatalitiesQuery, args: list[Any]) -> str:
    """SELECT of (start, key, killed, injured, incidents) from fatality_dim, binding args;
    for two fine dimensions by day (which fatality_dim does not hold), from the fine
    rollup's incident-level rows."""

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    dims = fine(q)
    parts = []
    for grain, first, last in spans(q.since, q.last_day, GRAIN[q.period]):
        by_day = grain == "day" and len(dims) == 2
        column = (
            {d: DIM_COLUMN[d] for d in dims}
            if by_day
            else {d: ("value1", "value2")[i] for i, d in enumerate(dims)}
        )
        where = (
            [f"day BETWEEN {bind(first)} AND {bind(last)}", "category = ''"]
            if by_day
            else [
                f"dims = {bind(','.join(dims))}",
                f"grain = '{grain}'",
                f"start BETWEEN {bind(first)} AND {bind(last)}",
            ]
        )
        filters = {"province": "province_code", **column, "kind": "kind", "status": "status"}
        where += [
            f"{col} = ANY({bind(list(getattr(q, name)))}::text[])"
            for name, col in filters.items()
            if getattr(q, name)
        ]
        if not q.province and not by_day:
            where.append(_EVERY_PROVINCE)
        day = "day" if by_day else "start"
        parts.append(
            f"SELECT {_start(grain, q.period, bind, day)} AS start, "
            f"{({**KEY_COLUMN, **column})[q.group_by]}::text AS key, killed, injured, incidents "
            f"FROM {'fatality_rollup' if by_day else 'fatality_dim'} WHERE {' AND '.join(where)}"
        )
    # Not summed here: a row per bucket, added up by the caller (cheaper than PostgreSQL's
    # hash aggregate when, as mostly, a period and key have one bucket or few).
    return " UNION ALL ".join(parts)


def _start(grain: str, period: Period, bind: Callable[[Any], str], column: str) -> str:
    """The start of the period of a row of `grain`: its own start when the two agree."""
    if grain == period:
        return column
    return f"date_trunc({bind(period)}, {column}::timestamp)::date"


def _positional(sql: str, params: dict[str, Any], args: list[Any]) -> str:
    """`:name` binds as asyncpg's `$n`, appending their values to args."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in numbers:
            args.append(params[name])
            numbers[name] = len(args)
        return f"${numbers[name]}"

    return _BIND.sub(number, sql)


def _category_rows(q: FatalitiesQuery, args: list[Any]) -> str:
    """SELECT of (start, key, killed, injured, incidents) from the category rollups, and for
    group_by=category a row without start and key: incidents having any of the categories."""
    table, counted, incidents, params = conditions(q)
    picked = union(
        q,
        table,
        f"{KEY_COLUMN[q.group_by]} AS key, category, categories, killed, injured, incidents",
        f"{counted} OR {incidents}",
        params,
    )
    sql = f"""SELECT date_trunc(:period, day::timestamp)::date AS start, key,
               coalesce(sum(killed) FILTER (WHERE {counted}), 0)::bigint AS killed,
               coalesce(sum(injured) FILTER (WHERE {counted}), 0)::bigint AS injured,
               coalesce(sum(incidents) FILTER (WHERE {incidents}), 0)::bigint AS incidents
          FROM ({picked}) AS picked GROUP BY 1, 2"""
    params["period"] = q.period
    if q.group_by == "category":
        _, _, _, more = conditions(q)
        distinct = union(q, table, "incidents", "category = '' AND categories & :mask <> 0", more)
        params.update(more)
        sql += f""" UNION ALL SELECT NULL, NULL, 0, 0, coalesce(sum(incidents), 0)::bigint
          FROM ({distinct}) AS anyof"""
    return _positional(sql, params, args)


def statement(q: FatalitiesQuery) -> Statement:
    """SQL and arguments giving rows (start, key, killed, injured, incidents), to be added up
    by (start, key): first the data version as (NULL, NULL, seq, epoch, NULL), read in the
    same snapshot; for group_by=category, (NULL, NULL, 0, 0, incidents having any of them)."""
    args: list[Any] = []
    rows = _lean_rows(q, args) if lean(q) else _category_rows(q, args)
    sql = f"""SELECT NULL::date AS start, NULL::text AS key, seq AS killed,
               epoch::bigint AS injured, NULL::bigint AS incidents FROM data_version
        UNION ALL {rows}"""
    return sql, args
