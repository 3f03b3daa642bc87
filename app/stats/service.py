"""Fatality aggregates read from the rollups (never from incidents): the zero-filled series
and the summary, each read with its data version in one snapshot on an asyncpg connection.
Knows nothing of HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.reference.names import Names
from app.stats import plan, series
from app.stats.filters import FatalitiesQuery, GroupBy, StatsFilters
from app.stats.render import Answer, filters_of, grid
from app.stats.series import Columns

Version = tuple[int, int]  # change-feed sequence number, rollup epoch
_LABELLED = ("province", "district", "perpetrator")


def _named(q: FatalitiesQuery) -> list[str]:
    """Series asked for by name: shown even when they are all zero."""
    if q.group_by == "none":
        return [""]
    return list(getattr(q, q.group_by, []))


async def _labels(conn: Any, names: Names, group_by: GroupBy, keys: list[str]) -> dict[str, str]:
    if group_by in _LABELLED:
        known = await names.current(conn, {group_by: {k for k in keys if k}})
        return known[group_by]
    return {k: k.replace("_", " ").capitalize() for k in keys}


def _fold_rows(
    q: FatalitiesQuery, rows: list[Any]
) -> tuple[Version, dict[str, Columns], int | None]:
    """The rows of plan.statement() added up per series and period."""
    index = grid(q.since, q.last_day, q.period).index
    size = len(index)
    series: dict[str, Columns] = {}
    version, distinct = (0, 0), None
    for start, key, killed, injured, incidents in rows:
        if start is None:
            if incidents is None:
                version = (killed, injured)
            else:  # group_by=category: incidents having any of the categories
                distinct = int(incidents)
        elif killed or injured or incidents:
            columns = series.get(key)
            if columns is None:
                columns = series[key] = ([0] * size, [0] * size, [0] * size)
            n = index[start]
            columns[0][n] += killed
            columns[1][n] += injured
            columns[2][n] += incidents
    return version, series, distinct


async def fatalities(conn: Any, names: Names, q: FatalitiesQuery) -> tuple[Version, Answer]:
    """The figures of SPEC "GET /v1/stats/fatalities" with the data version they are at."""
    fine = plan.fine(q)
    distinct = None
    if plan.lean(q) and series.usable(q, fine):
        sql, args = series.statement(q, fine)
        version, found = series.fold(q, await conn.fetch(sql, *args))
    else:
        sql, args = plan.statement(q)
        version, found, distinct = _fold_rows(q, await conn.fetch(sql, *args))
    size = len(grid(q.since, q.last_day, q.period).index)
    for key in _named(q):
        if key not in found:
            found[key] = ([0] * size, [0] * size, [0] * size)
    ordered = {key: found[key] for key in sorted(found, key=lambda k: (k == "", k))}
    labels = await _labels(conn, names, q.group_by, list(ordered))
    return version, Answer(ordered, labels, distinct)


# ---- summary ---------------------------------------------------------------------------------


def _live_incidents(q: StatsFilters, args: list[Any]) -> str:
    """The condition on `incidents` for live incidents that the filters count."""

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    clauses = [
        "deleted_at IS NULL",
        "status <> 'retracted'",
        f"occurred_on BETWEEN {bind(q.since)} AND {bind(q.last_day)}",
    ]
    for column, values in q.dimension_filters().items():
        clauses.append(f"{column} = ANY({bind(values)}::text[])")
    if q.category:
        clauses.append(
            "EXISTS (SELECT 1 FROM casualties c WHERE c.incident_id = incidents.id "
            f"AND c.category = ANY({bind(list(q.category))}::text[]))"
        )
    return " AND ".join(clauses)


def _entries(q: FatalitiesQuery, answer: Answer) -> tuple[list[dict[str, Any]], list[int]]:
    """Each series' totals (non-zero ones, deadliest first) and the totals of them all."""
    entries, totals = [], [0, 0, 0]
    for key, columns in answer.series.items():
        sums = [sum(column) for column in columns]
        totals = [a + b for a, b in zip(totals, sums, strict=True)]
        if any(sums):
            shown = None if q.group_by == "none" else key
            label = answer.labels.get(key, key)
            entries.append(
                dict(
                    zip(
                        ("key", "label", "killed", "injured", "incidents"),
                        (shown, label, *sums),
                        strict=True,
                    )
                )
            )
    return sorted(entries, key=lambda e: (-e["killed"], e["key"] or "")), totals


@asynccontextmanager
async def _snapshot(conn: Any) -> AsyncIterator[None]:
    """One snapshot for several statements (the caller's transaction when it has one)."""
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield


async def summary(conn: Any, names: Names, q: StatsFilters) -> tuple[Version, dict[str, Any]]:
    """Totals over the range (by default since the baseline), by category, province and
    group, the deadliest incident and the latest date: the rollups and two index lookups."""
    base = q.model_dump(include=set(StatsFilters.model_fields))
    args: list[Any] = []
    live = _live_incidents(q, args)
    by: dict[str, list[dict[str, Any]]] = {}
    overall: dict[str, int] = {}
    async with _snapshot(conn):
        for group_by in ("category", "province", "perpetrator"):
            grouped = FatalitiesQuery(
                **{**base, "until": q.last_day}, period="year", group_by=group_by
            )
            version, answer = await fatalities(conn, names, grouped)
            by[group_by], totals = _entries(grouped, answer)
            # Every incident has one province, so the province series add up to the totals.
            if group_by == "province":
                overall = dict(zip(("killed", "injured", "incidents"), totals, strict=True))
        deadliest = await conn.fetchval(
            f"SELECT document FROM incidents WHERE {live} "
            "ORDER BY killed_total DESC, occurred_on DESC, id LIMIT 1",
            *args,
        )
        latest = await conn.fetchval(f"SELECT max(occurred_on) FROM incidents WHERE {live}", *args)
    return version, {
        "since": q.since.isoformat(),
        "until": q.last_day.isoformat(),
        "filters": filters_of(q),
        "totals": overall,
        "by_category": by["category"],
        "by_province": by["province"],
        "by_perpetrator": by["perpetrator"],
        "deadliest": json.loads(deadliest) if deadliest else None,
        "latest_incident_on": latest.isoformat() if latest else None,
    }
