"""Which rollup answers a statistics question, and the SQL that reads it: the coarsest
rollup holding the question's dimensions, by month where whole months are asked for."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from app.reference.vocab import VOCABULARIES
from app.stats.filters import FatalitiesQuery
from app.stats.periods import next_start

CATEGORIES: tuple[str, ...] = VOCABULARIES["casualty_category"]
# Bit of each category in the rollups' `categories` mask (incident_contributions()).
CATEGORY_BIT = {c: 1 << i for i, c in enumerate(CATEGORIES)}

# Column of each grouping, in every rollup where it exists.
KEY_COLUMN = {
    "province": "province_code",
    "district": "district_slug",
    "perpetrator": "perpetrator_slug",
    "category": "category",
    "attack_type": "attack_type",
    "kind": "kind",
    "none": "''",
}
# Only the fine rollups know these; the daily one answers everything else.
FINE_ONLY = {"district", "perpetrator", "attack_type"}


def fine_dimensions(q: FatalitiesQuery) -> set[str]:
    """The dimensions that only the fine rollups hold, that q groups or filters by."""
    named = {"district": q.district, "perpetrator": q.perpetrator, "attack_type": q.attack_type}
    return {d for d, values in named.items() if values} | (
        {q.group_by} if q.group_by in FINE_ONLY else set()
    )


def conditions(q: FatalitiesQuery) -> tuple[str, str, str, dict[str, Any]]:
    """(table, killed/injured condition, incidents condition, bound values) for a query."""
    fine = bool(fine_dimensions(q))
    params: dict[str, Any] = {}
    cats: list[str] = list(q.category) or (list(CATEGORIES) if q.group_by == "category" else [])
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


def union(
    q: FatalitiesQuery, table: str, columns: str, condition: str, params: dict[str, Any]
) -> str:
    """SELECT … FROM each source of q's range, filtered, as one UNION ALL (binds into params)."""
    parts = []
    filters = q.dimension_filters()
    for column, values in filters.items():
        params[column] = list(values)
    for n, (source, day, first, last) in enumerate(
        _sources(
            table, q.since, q.last_day, q.period in ("month", "quarter", "year"), fine_dimensions(q)
        )
    ):
        params[f"first_{n}"], params[f"last_{n}"] = first, last
        where = [f"{day} BETWEEN :first_{n} AND :last_{n}", f"({condition})"]
        where += [f"{column} = ANY(:{column})" for column in filters]
        parts.append(
            f"SELECT {day} AS day, {columns} FROM {source} AS src WHERE {' AND '.join(where)}"
        )
    return " UNION ALL ".join(parts)
