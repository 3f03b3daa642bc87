"""Fatality aggregates read from the rollups (never from incidents); no HTTP here."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.reference.vocab import VOCABULARIES

Period = Literal["day", "week", "month", "quarter", "year"]
GroupBy = Literal["province", "district", "perpetrator", "category", "attack_type", "kind", "none"]
CATEGORIES: tuple[str, ...] = VOCABULARIES["casualty_category"]
# Bit of each category in the rollups' `categories` mask (incident_contributions()).
CATEGORY_BIT = {c: 1 << i for i, c in enumerate(CATEGORIES)}

# Column of each grouping, in both rollups where it exists.
KEY_COLUMN = {
    "province": "province_code",
    "district": "district_slug",
    "perpetrator": "perpetrator_slug",
    "category": "category",
    "attack_type": "attack_type",
    "kind": "kind",
    "none": "''",
}
# Only the fine rollup knows these; the daily one answers everything else.
FINE_ONLY = {"district", "perpetrator", "attack_type"}


@dataclass(frozen=True)
class Query:
    """A validated statistics request."""

    since: date
    until: date
    period: Period = "month"
    group_by: GroupBy = "province"
    province: tuple[str, ...] = ()
    district: tuple[str, ...] = ()
    perpetrator: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    attack_type: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    cumulative: bool = False

    def filters(self) -> dict[str, tuple[str, ...]]:
        """The dimension filters that are set, by rollup column."""
        named = {
            "province_code": self.province,
            "district_slug": self.district,
            "perpetrator_slug": self.perpetrator,
            "attack_type": self.attack_type,
            "kind": self.kind,
            "status": self.status,
        }
        return {column: values for column, values in named.items() if values}


def period_start(day: date, period: Period) -> date:
    """First day of the period holding `day` (ISO weeks start on Monday)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def next_start(start: date, period: Period) -> date:
    """First day of the period after the one starting on `start`."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def label(start: date, period: Period) -> str:
    """`2023-01-30`, `2023-W05`, `2023-01`, `2023-Q1` or `2023`."""
    if period == "day":
        return start.isoformat()
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{start.year}-{start.month:02d}"
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year)


def periods(since: date, until: date, period: Period) -> list[tuple[date, date, date]]:
    """(period start, first day counted, last day counted) from since to until, clipped."""
    out = []
    start = period_start(since, period)
    while start <= until:
        following = next_start(start, period)
        out.append((start, max(start, since), min(following - timedelta(days=1), until)))
        start = following
    return out


def _fine_dimensions(q: Query) -> set[str]:
    """The dimensions that only the fine rollups hold, that q groups or filters by."""
    named = {"district": q.district, "perpetrator": q.perpetrator, "attack_type": q.attack_type}
    return {d for d, values in named.items() if values} | (
        {q.group_by} if q.group_by in FINE_ONLY else set()
    )


def _conditions(q: Query) -> tuple[str, str, str, dict[str, Any]]:
    """(table, killed/injured condition, incidents condition, bound values) for a query."""
    fine = bool(_fine_dimensions(q))
    params: dict[str, Any] = {}
    cats = list(q.category) or (list(CATEGORIES) if q.group_by == "category" else [])
    if not cats:
        counted = incidents = "category = ''"
    else:
        params["cats"] = cats
        params["mask"] = sum(CATEGORY_BIT[c] for c in cats)
        counted = "category = ANY(:cats)"
        # Grouped by category, each series counts the incidents having that category;
        # otherwise an incident counts once if it has any of the categories asked for.
        incidents = (
            counted if q.group_by == "category" else "(category = '' AND categories & :mask <> 0)"
        )
    return ("fatality_rollup" if fine else "fatality_daily"), counted, incidents, params


DIM_COLUMN = {
    "district": "district_slug",
    "perpetrator": "perpetrator_slug",
    "attack_type": "attack_type",
}


def _monthly_for(table: str, dimensions: set[str]) -> str | None:
    """The monthly rollup that answers what `table` does, by month, if there is one."""
    if table == "fatality_daily":
        return "fatality_monthly"
    if len(dimensions) == 1:  # one fine dimension: its monthly rows, under its column name
        (dimension,) = dimensions
        return (
            f"(SELECT month, province_code, value AS {DIM_COLUMN[dimension]}, kind, "
            f"status, category, categories, killed, injured, incidents "
            f"FROM fatality_monthly_dim WHERE dimension = '{dimension}')"
        )
    return None


def _sources(
    table: str, since: date, until: date, by_month: bool, dimensions: set[str] | None = None
) -> list[tuple[str, str, date, date]]:
    """(table, day column, first day, last day) to read: a monthly rollup for the whole
    months of the range when the answer is by month or coarser, the daily or fine one for
    the clipped months at its edges."""
    monthly = _monthly_for(table, dimensions or set()) if by_month else None
    if monthly is None:
        return [(table, "day", since, until)]
    first = since if since.day == 1 else next_start(since.replace(day=1), "month")
    after = next_start(until.replace(day=1), "month")
    last = until if until == after - timedelta(days=1) else until.replace(day=1) - timedelta(days=1)
    if first > last:
        return [(table, "day", since, until)]
    out = [(monthly, "month", first, last)]
    if since < first:
        out.append((table, "day", since, first - timedelta(days=1)))
    if last < until:
        out.append((table, "day", last + timedelta(days=1), until))
    return out


def _union(q: Query, table: str, columns: str, condition: str, params: dict[str, Any]) -> str:
    """SELECT … FROM each source of q's range, filtered, as one UNION ALL (binds into params)."""
    parts = []
    filters = q.filters()
    for column, values in filters.items():
        params[column] = list(values)
    for n, (source, day, first, last) in enumerate(
        _sources(
            table, q.since, q.until, q.period in ("month", "quarter", "year"), _fine_dimensions(q)
        )
    ):
        params[f"first_{n}"], params[f"last_{n}"] = first, last
        where = [f"{day} BETWEEN :first_{n} AND :last_{n}", f"({condition})"]
        where += [f"{column} = ANY(:{column})" for column in filters]
        parts.append(
            f"SELECT {day} AS day, {columns} FROM {source} AS src WHERE {' AND '.join(where)}"
        )
    return " UNION ALL ".join(parts)


async def _rows(session: AsyncSession, q: Query) -> list[Any]:
    table, counted, incidents, params = _conditions(q)
    rows = _union(
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


async def _distinct_incidents(session: AsyncSession, q: Query) -> int:
    """Incidents having any of the categories asked for (totals when grouped by category)."""
    table, _, _, params = _conditions(q)
    rows = _union(q, table, "incidents", "category = '' AND categories & :mask <> 0", params)
    sql = f"SELECT coalesce(sum(incidents), 0) FROM ({rows}) AS picked"
    return int(await session.scalar(text(sql), params) or 0)


async def _labels(session: AsyncSession, group_by: GroupBy, keys: set[str]) -> dict[str, str]:
    tables = {
        "province": ("provinces", "code"),
        "district": ("districts", "slug"),
        "perpetrator": ("actors", "slug"),
    }
    if group_by in tables:
        table, column = tables[group_by]
        rows = await session.execute(
            text(f"SELECT {column}, name FROM {table} WHERE {column} = ANY(:keys)"),
            {"keys": sorted(keys)},
        )
        return {r[0]: r[1] for r in rows}
    return {k: k.replace("_", " ").capitalize() for k in keys}


@dataclass
class Series:
    """One line of the chart."""

    key: str | None
    label: str
    points: dict[date, list[int]] = field(default_factory=dict)


async def fatalities(session: AsyncSession, q: Query) -> dict[str, Any]:
    """The zero-filled series of SPEC "GET /v1/stats/fatalities"."""
    grid = periods(q.since, q.until, q.period)
    rows = await _rows(session, q)
    by_key: dict[str, Series] = {}
    dimension = {
        "province": q.province,
        "district": q.district,
        "perpetrator": q.perpetrator,
        "category": q.category,
        "attack_type": q.attack_type,
        "kind": q.kind,
    }
    wanted = list(dimension.get(q.group_by, ()))
    if q.group_by == "none":
        wanted = [""]
    for key in wanted:  # series asked for by name are shown even when they are all zero
        by_key.setdefault(key, Series(key, ""))
    for r in rows:
        series = by_key.setdefault(r.key, Series(r.key, ""))
        series.points[r.start] = [int(r.killed), int(r.injured), int(r.incidents)]
    labels = await _labels(session, q.group_by, {k for k in by_key if k})
    out_series = []
    totals = [0, 0, 0]
    for key in sorted(by_key, key=lambda k: (k == "", k)):
        series = by_key[key]
        running = [0, 0, 0]
        points = []
        for start, first, last in grid:
            values = series.points.get(start, [0, 0, 0])
            running = [a + b for a, b in zip(running, values, strict=True)]
            shown = running if q.cumulative else values
            points.append(
                {
                    "period": label(start, q.period),
                    "start": first.isoformat(),
                    "end": last.isoformat(),
                    "killed": shown[0],
                    "injured": shown[1],
                    "incidents": shown[2],
                }
            )
        totals = [a + b for a, b in zip(totals, running, strict=True)]
        if q.group_by == "none":
            name, shown_key = "All incidents", None
        elif q.group_by == "district" and key == "":
            name, shown_key = "No district", None
        else:
            name, shown_key = labels.get(key, key), key
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
        "until": q.until.isoformat(),
        "period": q.period,
        "group_by": q.group_by,
        "cumulative": q.cumulative,
        "filters": {
            k: list(v)
            for k, v in {
                "province": q.province,
                "district": q.district,
                "perpetrator": q.perpetrator,
                "category": q.category,
                "attack_type": q.attack_type,
                "kind": q.kind,
                "status": q.status,
            }.items()
            if v
        },
        "totals": {"killed": totals[0], "injured": totals[1], "incidents": totals[2]},
        "series": out_series,
    }


def fatalities_csv(result: dict[str, Any]) -> str:
    """One row per series × period."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "label", "period", "start", "end", "killed", "injured", "incidents"])
    for series in result["series"]:
        for p in series["points"]:
            writer.writerow(
                [
                    series["key"] or "",
                    series["label"],
                    p["period"],
                    p["start"],
                    p["end"],
                    p["killed"],
                    p["injured"],
                    p["incidents"],
                ]
            )
    return buffer.getvalue()


async def summary(
    session: AsyncSession, since: date, until: date, kind: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Totals since the baseline, by category, province and group, the deadliest incident
    and the latest date, all from the rollups and two index lookups."""
    params: dict[str, Any] = {"since": since, "until": until, "kind": list(kind)}

    async def grouped(group_by: GroupBy, column: str, category: str) -> list[Any]:
        # The same sources as the fatalities series (monthly rollups for whole months).
        q = Query(since=since, until=until, period="year", group_by=group_by, kind=kind)
        table = "fatality_rollup" if _fine_dimensions(q) else "fatality_daily"
        bound: dict[str, Any] = {}
        rows = _union(q, table, f"{column} AS key, killed, injured, incidents", category, bound)
        return list(
            await session.execute(
                text(f"""
            SELECT key, sum(killed) AS killed, sum(injured) AS injured,
                   sum(incidents) AS incidents
              FROM ({rows}) AS picked GROUP BY 1 ORDER BY 2 DESC, 1"""),
                bound,
            )
        )

    provinces = await grouped("province", "province_code", "category = ''")
    categories = await grouped("category", "category", "category <> ''")
    groups = await grouped("perpetrator", "perpetrator_slug", "category = ''")
    names = await _labels(session, "province", {r.key for r in provinces})
    category_names = await _labels(session, "category", {r.key for r in categories})
    actors = await _labels(session, "perpetrator", {r.key for r in groups})
    live = "deleted_at IS NULL AND status <> 'retracted' AND occurred_on BETWEEN :since AND :until"
    live += " AND kind = ANY(:kind)" if kind else ""
    deadliest = await session.scalar(
        text(
            f"SELECT incident_document(i)::text FROM incidents i WHERE {live} "
            "ORDER BY killed_total DESC, occurred_on DESC LIMIT 1"
        ),
        params,
    )
    latest = await session.scalar(
        text(f"SELECT max(occurred_on) FROM incidents WHERE {live}"), params
    )

    def entries(rows: list[Any], labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return [
            {
                "key": r.key,
                "label": (labels or {}).get(r.key, r.key),
                "killed": int(r.killed),
                "injured": int(r.injured),
                "incidents": int(r.incidents),
            }
            for r in rows
        ]

    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "totals": {
            "killed": sum(int(r.killed) for r in provinces),
            "injured": sum(int(r.injured) for r in provinces),
            "incidents": sum(int(r.incidents) for r in provinces),
        },
        "by_category": entries(categories, category_names),
        "by_province": entries(provinces, names),
        "by_perpetrator": entries(groups, actors),
        "deadliest": json.loads(deadliest) if deadliest else None,
        "latest_incident_on": latest.isoformat() if latest else None,
    }
