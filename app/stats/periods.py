"""Calendar periods of statistics: where each starts, its label, the zero-filled grid."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

Period = Literal["day", "week", "month", "quarter", "year"]
# Shortest length of each period in days, to bound the points of an answer.
MIN_DAYS = {"day": 1, "week": 7, "month": 28, "quarter": 90, "year": 365}


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
