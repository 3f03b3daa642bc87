"""A fatalities answer written straight from the rows of app/stats/plan.py: every period's
text worked out once per range and period (and kept), zero-filled points copied as a block,
only the periods that have figures formatted per request."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from app.stats.filters import FatalitiesQuery
from app.stats.periods import Period, label, periods

FILTER_NAMES = ("province", "district", "perpetrator", "category", "attack_type", "kind", "status")


@dataclass(frozen=True)
class Grid:
    """The periods of one range: their index by start, and each point's JSON up to its
    figures (`prefixes`), a zero point's whole JSON and the CSV columns period,start,end."""

    index: dict[date, int]
    prefixes: list[str]
    zeros: list[str]
    csv: list[list[str]]


@lru_cache(maxsize=256)
def grid(since: date, until: date, period: Period) -> Grid:
    """The periods from since to until, clipped (kept: dashboards ask the same ranges)."""
    index, prefixes, zeros, rows = {}, [], [], []
    for n, (start, first, last) in enumerate(periods(since, until, period)):
        name = label(start, period)
        prefix = (
            f'{{"period":"{name}","start":"{first.isoformat()}","end":"{last.isoformat()}",'
            '"killed":'
        )
        index[start] = n
        prefixes.append(prefix)
        zeros.append(prefix + '0,"injured":0,"incidents":0}')
        rows.append([name, first.isoformat(), last.isoformat()])
    return Grid(index, prefixes, zeros, rows)


Figures = dict[int, tuple[int, int, int]]  # period index -> killed, injured, incidents


@dataclass
class Answer:
    """The figures of an answer by series key, in series order, with their labels."""

    series: dict[str, Figures]
    labels: dict[str, str]
    distinct_incidents: int | None = None  # group_by=category: incidents having any of them


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _shown(q: FatalitiesQuery, key: str, labels: dict[str, str]) -> tuple[str | None, str]:
    if q.group_by == "none":
        return None, "All incidents"
    if q.group_by == "district" and key == "":
        return None, "No district"
    return key, labels.get(key, key)


def _points(figures: Figures, g: Grid, cumulative: bool) -> tuple[str, list[int]]:
    """The points' JSON and the series' totals."""
    if not cumulative:
        parts = g.zeros.copy()
        totals = [0, 0, 0]
        for n, (k, i, c) in figures.items():
            parts[n] = f'{g.prefixes[n]}{k},"injured":{i},"incidents":{c}}}'
            totals[0] += k
            totals[1] += i
            totals[2] += c
        return ",".join(parts), totals
    running = [0, 0, 0]
    parts = []
    for n, prefix in enumerate(g.prefixes):
        k, i, c = figures.get(n, (0, 0, 0))
        running = [running[0] + k, running[1] + i, running[2] + c]
        parts.append(f'{prefix}{running[0]},"injured":{running[1]},"incidents":{running[2]}}}')
    return ",".join(parts), running


def _totals(t: list[int]) -> str:
    return f'{{"killed":{t[0]},"injured":{t[1]},"incidents":{t[2]}}}'


def filters_of(q: Any) -> dict[str, list[str]]:
    """The filters that were given, by name."""
    return {name: list(getattr(q, name)) for name in FILTER_NAMES if getattr(q, name)}


def to_json(q: FatalitiesQuery, answer: Answer) -> bytes:
    """The document of SPEC "GET /v1/stats/fatalities", as json.dumps would write it."""
    g = grid(q.since, q.last_day, q.period)
    out, totals = [], [0, 0, 0]
    for key, figures in answer.series.items():
        points, sums = _points(figures, g, q.cumulative)
        totals = [totals[0] + sums[0], totals[1] + sums[1], totals[2] + sums[2]]
        shown, name = _shown(q, key, answer.labels)
        out.append(
            f'{{"key":{_dumps(shown)},"label":{_dumps(name)},"totals":{_totals(sums)},'
            f'"points":[{points}]}}'
        )
    if answer.distinct_incidents is not None:
        totals[2] = answer.distinct_incidents
    head = _dumps(
        {
            "since": q.since.isoformat(),
            "until": q.last_day.isoformat(),
            "period": q.period,
            "group_by": q.group_by,
            "cumulative": q.cumulative,
            "filters": filters_of(q),
        }
    )
    return f'{head[:-1]},"totals":{_totals(totals)},"series":[{",".join(out)}]}}'.encode()


def _csv_rows(q: FatalitiesQuery, answer: Answer) -> Iterable[list[Any]]:
    g = grid(q.since, q.last_day, q.period)
    for key, figures in answer.series.items():
        shown, name = _shown(q, key, answer.labels)
        running = [0, 0, 0]
        for n, columns in enumerate(g.csv):
            values = figures.get(n, (0, 0, 0))
            running = [a + b for a, b in zip(running, values, strict=True)]
            yield [shown or "", name, *columns, *(running if q.cumulative else values)]


def to_csv(q: FatalitiesQuery, answer: Answer) -> bytes:
    """One row per series × period, with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "label", "period", "start", "end", "killed", "injured", "incidents"])
    writer.writerows(_csv_rows(q, answer))
    return buffer.getvalue().encode()
