"""Answers read from fatality_series (migration 0006_stats_answers): blocks of 64 consecutive
days, ISO weeks or months of a fatality_dim series, so that an answer reads a row per block
rather than per non-zero bucket, and costs about the same at 10,000 incidents as at
1,000,000 (every block it touches is stored at either size).

A question's range is cut into windows: the whole periods at their grain (week for weeks,
month for months, quarters and years, day for days) and, for a period clipped by `since` or
`until`, its days. Each window's blocks are read for every series; their arrays are laid
side by side per series (added up where several rows share a series and block, as they do
across provinces, kinds and statuses), and each point is a slice of a window or a sum of a
few."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from operator import add
from struct import Struct
from typing import Any

from app.stats.filters import FatalitiesQuery
from app.stats.models import SERIES_BLOCK as BLOCK
from app.stats.periods import Period, periods
from app.stats.plan import GRAIN

EPOCH = date(2001, 1, 1)  # a Monday, and the earliest day an incident may have
# fatality_series holds fatality_dim's series, so it has the same grains (GRAIN) for
# whole periods as app/stats/plan.py reads fatality_dim by.
_EVERY_PROVINCE = "province_code = ANY(ARRAY(SELECT code FROM provinces))"

Columns = tuple[list[int], list[int], list[int]]  # killed, injured, incidents per period
Range = tuple[int, int, int]  # window, first and after-last position in it


def unit(day: date, grain: str) -> int:
    """The unit of `grain` holding `day`, counted from EPOCH (as the migration counts)."""
    if grain == "day":
        return (day - EPOCH).days
    if grain == "week":
        return (day - EPOCH).days // 7
    return (day.year - EPOCH.year) * 12 + day.month - 1


def first_day(n: int, grain: str) -> date:
    """The first day of unit n of `grain`."""
    if grain == "day":
        return EPOCH + timedelta(days=n)
    if grain == "week":
        return EPOCH + timedelta(days=7 * n)
    return date(EPOCH.year + n // 12, n % 12 + 1, 1)


@dataclass(frozen=True)
class Layout:
    """Where the points of a range come from: the windows (grain, first unit, after-last
    unit) to read, and `pieces` in point order: a run (True, ((window, a, b),)) is b - a
    points, positions a..b-1 of the window; a sum (False, ranges) is one point, the sum of
    the ranges."""

    windows: tuple[tuple[str, int, int], ...]
    pieces: tuple[tuple[bool, tuple[Range, ...]], ...]


def _units(first: date, last: date, grain: str) -> list[tuple[str, int, int]]:
    """first..last as (grain, first, after-last unit): its whole units of `grain`, and the
    days before and after them."""
    ua, ub = unit(first, grain), unit(last, grain) + 1
    if first_day(ua, grain) != first:
        ua += 1
    if first_day(ub, grain) != last + timedelta(days=1):
        ub -= 1
    if ua >= ub:
        return [("day", unit(first, "day"), unit(last, "day") + 1)]
    edges = ((first, first_day(ua, grain)), (first_day(ub, grain), last + timedelta(days=1)))
    days = [("day", unit(a, "day"), unit(b, "day")) for a, b in edges if a < b]
    return [(grain, ua, ub), *days]


def _windows(needed: set[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The needed unit ranges merged where they touch, per grain."""
    windows: list[tuple[str, int, int]] = []
    for g, a, b in sorted(needed):
        if windows and windows[-1][0] == g and windows[-1][2] >= a:
            windows[-1] = (g, windows[-1][1], max(windows[-1][2], b))
        else:
            windows.append((g, a, b))
    return windows


@lru_cache(maxsize=256)
def layout(since: date, until: date, period: Period) -> Layout:
    """The windows and pieces of the points from since to until (kept: dashboards ask the
    same ranges)."""
    grain = GRAIN[period]
    parts = [_units(first, last, grain) for _, first, last in periods(since, until, period)]
    windows = _windows({r for p in parts for r in p})

    def where(g: str, a: int, b: int) -> Range:
        n = next(i for i, (wg, wa, wb) in enumerate(windows) if wg == g and wa <= a and b <= wb)
        return n, a - windows[n][1], b - windows[n][1]

    pieces: list[tuple[bool, tuple[Range, ...]]] = []
    for p in parts:
        ranges = tuple(where(*r) for r in p)
        if len(ranges) == 1 and ranges[0][2] - ranges[0][1] == 1:  # a point of one unit
            w, a, b = ranges[0]
            if pieces and pieces[-1][0] and pieces[-1][1][0][0] == w and pieces[-1][1][0][2] == a:
                pieces[-1] = (True, ((w, pieces[-1][1][0][1], b),))
            else:
                pieces.append((True, ranges))
        else:
            pieces.append((False, ranges))
    return Layout(tuple(windows), tuple(pieces))


def usable(q: FatalitiesQuery, fine: Sequence[str]) -> bool:
    """Whether fatality_series holds q: pairs of fine dimensions exist by week and month only."""
    windows = layout(q.since, q.last_day, q.period).windows
    return len(fine) < 2 or all(g != "day" for g, _, _ in windows)


KEY_COLUMN = {"province": "province_code", "kind": "kind", "none": "''"}


def statement(q: FatalitiesQuery, fine: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL giving the data version as (NULL, NULL, seq, epoch, NULL), then (window, key,
    block, first position, counts) for every block of every window, `counts` being the
    binary arrays (array_send) of killed, injured and incidents at the positions of the
    block that the window covers, one after the other: asyncpg would make lists of them
    element by element, struct unpacks them at once."""
    args: list[Any] = [",".join(fine)]
    value = {d: ("value1", "value2")[i] for i, d in enumerate(fine)}

    def bind(v: Any) -> str:
        args.append(v)
        return f"${len(args)}"

    filters = {"province": "province_code", **value, "kind": "kind", "status": "status"}
    where = "".join(
        f" AND {col} = ANY({bind(list(getattr(q, name)))}::text[])"
        for name, col in filters.items()
        if getattr(q, name)
    )
    if not q.province:
        where += f" AND {_EVERY_PROVINCE}"
    key = {**KEY_COLUMN, **value}[q.group_by]
    parts = []
    for n, (g, a, b) in enumerate(layout(q.since, q.last_day, q.period).windows):
        lo, hi = bind(a), bind(b)
        parts.append(
            f"SELECT {n} AS w, key, block::bigint, lo::bigint, array_send(killed[lo:hi]) "
            "|| array_send(injured[lo:hi]) || array_send(incidents[lo:hi]) "
            f"FROM (SELECT {key}::text AS key, block, "
            f"greatest(1, {lo} - block * {BLOCK} + 1) AS lo, "
            f"least({BLOCK}, {hi} - block * {BLOCK}) AS hi, killed, injured, incidents "
            f"FROM fatality_series WHERE dims = $1 AND grain = '{g}' "
            f"AND block BETWEEN {lo} / {BLOCK} AND ({hi} - 1) / {BLOCK}{where}) AS b{n}"
        )
    sql = (
        "SELECT NULL::int AS w, NULL::text AS key, seq AS block, epoch::bigint AS lo, "
        "NULL::bytea AS counts FROM data_version UNION ALL " + " UNION ALL ".join(parts)
    )
    return sql, args


_STRUCTS: dict[int, Struct] = {}


def _counts(sent: bytes) -> tuple[int, tuple[int, ...]]:
    """n and the 3n elements of three one-dimensional bigint arrays of n elements without
    NULLs in binary (array_send), one after the other: each a 20-byte header, then per
    element its 4-byte length (skipped) and 8-byte value."""
    n = (len(sent) - 60) // 36
    unpack = _STRUCTS.get(n)
    if unpack is None:
        unpack = _STRUCTS[n] = Struct(">" + ("20x" + "4xq" * n) * 3)
    return n, unpack.unpack(sent)


def _column(lay: Layout, windows: list[list[int]]) -> list[int]:
    """One figure's value per point, from its windows."""
    out: list[int] = []
    for run, ranges in lay.pieces:
        if run:
            w, a, b = ranges[0]
            out += windows[w][a:b]
        else:
            out.append(sum(sum(windows[w][a:b]) for w, a, b in ranges))
    return out


def fold(q: FatalitiesQuery, rows: Sequence[Any]) -> tuple[tuple[int, int], dict[str, Columns]]:
    """The data version and, per series key, its columns (only series with a non-zero
    figure in the range)."""
    lay = layout(q.since, q.last_day, q.period)
    sizes = [b - a for _, a, b in lay.windows]
    version = (0, 0)
    laid: dict[str, list[list[list[int]]]] = {}  # key -> figure -> window -> units
    seen: set[tuple[int, str, int]] = set()
    for w, key, block, lo, sent in rows:
        if w is None:
            version = (block, lo)
            continue
        by_figure = laid.get(key)
        if by_figure is None:
            by_figure = laid[key] = [[[0] * n for n in sizes] for _ in range(3)]
        n, values = _counts(sent)
        a = block * BLOCK + lo - 1 - lay.windows[w][1]  # the statement keeps a..a+n inside
        fresh = (w, key, block) not in seen
        seen.add((w, key, block))
        for f in range(3):
            target = by_figure[f][w]
            part = values[f * n : f * n + n]
            target[a : a + n] = part if fresh else map(add, target[a : a + n], part)
    series: dict[str, Columns] = {}
    for key, (k, i, c) in laid.items():
        columns = (_column(lay, k), _column(lay, i), _column(lay, c))
        if any(columns[2]) or any(columns[0]) or any(columns[1]):
            series[key] = columns
    return version, series
