"""Fatality aggregates read from the rollups (never from incidents): the zero-filled series
and the summary. Knows nothing of HTTP."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.stats.filters import FatalitiesQuery, GroupBy, StatsFilters
from app.stats.periods import label, periods
from app.stats.sources import KEY_COLUMN, conditions, union

_LABEL_TABLES = {
    "province": ("provinces", "code"),
    "district": ("districts", "slug"),
    "perpetrator": ("actors", "slug"),
}


async def _rows(session: AsyncSession, q: FatalitiesQuery) -> list[Any]:
    table, counted, incidents, params = conditions(q)
    rows = union(
        q,
        table,
        f"{KEY_COLUMN[q.group_by]} AS key, category, categories, killed, injured, incidents",
        f"{counted} OR {incidents}",
        params,
    )
    sql = f"""
        SELECT date_trunc(:period, day::timestamp)::date AS start, key,
               coalesce(sum(killed) FILTER (WHERE {counted}), 0) AS killed,
               coalesce(sum(injured) FILTER (WHERE {counted}), 0) AS injured,
               coalesce(sum(incidents) FILTER (WHERE {incidents}), 0) AS incidents
          FROM ({rows}) AS picked
         GROUP BY 1, 2
    """
    return list(await session.execute(text(sql), params | {"period": q.period}))


async def _distinct_incidents(session: AsyncSession, q: FatalitiesQuery) -> int:
    """Incidents having any of the categories asked for (totals when grouped by category)."""
    table, _, _, params = conditions(q)
    rows = union(q, table, "incidents", "category = '' AND categories & :mask <> 0", params)
    sql = f"SELECT coalesce(sum(incidents), 0) FROM ({rows}) AS picked"
    return int(await session.scalar(text(sql), params) or 0)


async def _labels(session: AsyncSession, group_by: GroupBy, keys: set[str]) -> dict[str, str]:
    if group_by in _LABEL_TABLES:
        table, column = _LABEL_TABLES[group_by]
        rows = await session.execute(
            text(f"SELECT {column}, name FROM {table} WHERE {column} = ANY(:keys)"),
            {"keys": sorted(keys)},
        )
        return {r[0]: r[1] for r in rows}
    return {k: k.replace("_", " ").capitalize() for k in keys}


@dataclass
class Series:
    """One line of the chart: its figures (killed, injured, incidents) by period start."""

    key: str
    points: dict[date, list[int]] = field(default_factory=dict)


def _named(q: FatalitiesQuery) -> list[str]:
    """Series asked for by name: shown even when they are all zero."""
    if q.group_by == "none":
        return [""]
    return list(getattr(q, q.group_by, []))


# Per period of the answer: its start (the rollup key) and what every series shows of it
# (label, first and last day counted), worked out once for all series.
Grid = list[tuple[date, dict[str, str]]]


def _grid(q: FatalitiesQuery) -> Grid:
    return [
        (
            start,
            {"period": label(start, q.period), "start": first.isoformat(), "end": last.isoformat()},
        )
        for start, first, last in periods(q.since, q.last_day, q.period)
    ]


def _points(
    series: Series, q: FatalitiesQuery, grid: Grid
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every period of the range, zero-filled (running totals when cumulative), and the
    series' totals."""
    running = [0, 0, 0]
    points = []
    for start, period in grid:
        values = series.points.get(start, [0, 0, 0])
        running = [a + b for a, b in zip(running, values, strict=True)]
        shown = running if q.cumulative else values
        points.append(
            {
                **period,
                "killed": shown[0],
                "injured": shown[1],
                "incidents": shown[2],
            }
        )
    return points, running


def _key_and_label(q: FatalitiesQuery, key: str, labels: dict[str, str]) -> tuple[str | None, str]:
    if q.group_by == "none":
        return None, "All incidents"
    if q.group_by == "district" and key == "":
        return None, "No district"
    return key, labels.get(key, key)


async def fatalities(session: AsyncSession, q: FatalitiesQuery) -> dict[str, Any]:
    """The zero-filled series of SPEC "GET /v1/stats/fatalities"."""
    by_key = {key: Series(key) for key in _named(q)}
    for r in await _rows(session, q):
        by_key.setdefault(r.key, Series(r.key)).points[r.start] = [
            int(r.killed),
            int(r.injured),
            int(r.incidents),
        ]
    labels = await _labels(session, q.group_by, {k for k in by_key if k})
    grid = _grid(q)
    out_series, totals = [], [0, 0, 0]
    for key in sorted(by_key, key=lambda k: (k == "", k)):
        points, running = _points(by_key[key], q, grid)
        totals = [a + b for a, b in zip(totals, running, strict=True)]
        shown_key, name = _key_and_label(q, key, labels)
        out_series.append(
            {
                "key": shown_key,
                "label": name,
                "totals": {"killed": running[0], "injured": running[1], "incidents": running[2]},
                "points": points,
            }
        )
    if q.group_by == "category":
        totals[2] = await _distinct_incidents(session, q)
    return {
        "since": q.since.isoformat(),
        "until": q.last_day.isoformat(),
        "period": q.period,
        "group_by": q.group_by,
        "cumulative": q.cumulative,
        "filters": _filters_of(q),
        "totals": {"killed": totals[0], "injured": totals[1], "incidents": totals[2]},
        "series": out_series,
    }


def _filters_of(q: StatsFilters) -> dict[str, list[str]]:
    names = ("province", "district", "perpetrator", "category", "attack_type", "kind", "status")
    return {name: list(getattr(q, name)) for name in names if getattr(q, name)}


def fatalities_csv(result: dict[str, Any]) -> str:
    """One row per series × period."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ("period", "start", "end", "killed", "injured", "incidents")
    writer.writerow(["key", "label", *columns])
    for series in result["series"]:
        for p in series["points"]:
            writer.writerow([series["key"] or "", series["label"], *(p[c] for c in columns)])
    return buffer.getvalue()


# ---- summary ---------------------------------------------------------------------------------


def _live_incidents(q: StatsFilters, params: dict[str, Any]) -> str:
    """The condition on `incidents` for live incidents that the filters count."""
    params.update(since=q.since, until=q.last_day)
    clauses = [
        "deleted_at IS NULL",
        "status <> 'retracted'",
        "occurred_on BETWEEN :since AND :until",
    ]
    for column, values in q.dimension_filters().items():
        params[column] = values
        clauses.append(f"{column} = ANY(:{column})")
    if q.category:
        params["category"] = list(q.category)
        clauses.append(
            "EXISTS (SELECT 1 FROM casualties c WHERE c.incident_id = incidents.id "
            "AND c.category = ANY(:category))"
        )
    return " AND ".join(clauses)


async def _grouped(session: AsyncSession, q: StatsFilters, group_by: GroupBy) -> dict[str, Any]:
    """The whole range as one period, grouped: the same figures as the fatalities series."""
    base = q.model_dump(include=set(StatsFilters.model_fields))
    grouped = FatalitiesQuery(**{**base, "until": q.last_day}, period="year", group_by=group_by)
    return await fatalities(session, grouped)


def _entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    entries = [{"key": s["key"], "label": s["label"], **s["totals"]} for s in result["series"]]
    entries = [e for e in entries if e["killed"] or e["injured"] or e["incidents"]]
    return sorted(entries, key=lambda e: (-e["killed"], e["key"] or ""))


async def summary(session: AsyncSession, q: StatsFilters) -> dict[str, Any]:
    """Totals over the range (by default since the baseline), by category, province and
    group, the deadliest incident and the latest date: the rollups and two index lookups."""
    by = {g: await _grouped(session, q, g) for g in ("category", "province", "perpetrator")}
    params: dict[str, Any] = {}
    live = _live_incidents(q, params)
    deadliest = await session.scalar(
        text(
            f"SELECT document FROM incidents WHERE {live} "
            "ORDER BY killed_total DESC, occurred_on DESC, id LIMIT 1"
        ),
        params,
    )
    latest = await session.scalar(
        text(f"SELECT max(occurred_on) FROM incidents WHERE {live}"), params
    )
    return {
        "since": q.since.isoformat(),
        "until": q.last_day.isoformat(),
        "filters": _filters_of(q),
        # Every incident has one province, so the province series add up to the totals.
        "totals": by["province"]["totals"],
        "by_category": _entries(by["category"]),
        "by_province": _entries(by["province"]),
        "by_perpetrator": _entries(by["perpetrator"]),
        "deadliest": json.loads(deadliest) if deadliest else None,
        "latest_incident_on": latest.isoformat() if latest else None,
    }
