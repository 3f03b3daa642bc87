"""A fatalities answer written straight from its columns (a list per figure, a value per
period): every period's text worked out once per range and period (and kept) as a template
with a hole per figure, filled a column at a time, zero or not, so that writing an answer
costs the same however many of its points have figures."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import accumulate
from typing import Any

from app.stats.filters import FatalitiesQuery
from app.stats.periods import Period, label, periods

FILTER_NAMES = ("province", "district", "perpetrator", "category", "attack_type", "kind", "status")


@dataclass(frozen=True)
class Grid:
    """The periods of one range: their index by start, the JSON of their points with a
    hole (None) for each figure, every sixth item from 1, 3 and 5 (`template`), and the CSV
    columns period,start,end."""

    index: dict[date, int]
    template: list[bytes | None]
    csv: list[list[str]]


@lru_cache(maxsize=256)
def grid(since: date, until: date, period: Period) -> Grid:
    """The periods from since to until, clipped (kept: dashboards ask the same ranges)."""
    index: dict[date, int] = {}
    template: list[bytes | None] = []
    rows = []
    for n, (start, first, last) in enumerate(periods(since, until, period)):
        name = label(start, period)
        index[start] = n
        template += [
            (
                ("}," if n else "")
                + f'{{"period":"{name}","start":"{first.isoformat()}","end":"{last.isoformat()}",'
                '"killed":'
            ).encode(),
            None,
            b',"injured":',
            None,
            b',"incidents":',
            None,
        ]
        rows.append([name, first.isoformat(), last.isoformat()])
    template.append(b"}")
    return Grid(index, template, rows)


Columns = tuple[list[int], list[int], list[int]]  # killed, injured, incidents per period
# The text of small numbers, looked up rather than formatted (three times faster).
_NUMBERS = [str(n).encode() for n in range(1 << 14)]
_NUMBER = _NUMBERS.__getitem__
_FORMAT = b"%d".__mod__


@dataclass
class Answer:
    """The figures of an answer by series key, in series order, with their labels."""

    series: dict[str, Columns]
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


def _texts(column: list[int], total: int) -> Iterable[bytes]:
    """The column's numbers as text (none is above the total, nor below zero)."""
    small = total < len(_NUMBERS) or max(column) < len(_NUMBERS)
    return map(_NUMBER if small else _FORMAT, column)


def _points(columns: Columns, g: Grid, cumulative: bool) -> tuple[list[bytes], list[int]]:
    """The parts of the points' JSON, and the series' totals."""
    if cumulative:
        columns = tuple(list(accumulate(column)) for column in columns)  # type: ignore[assignment]
        totals = [column[-1] for column in columns]
    else:
        totals = [sum(column) for column in columns]
    parts = g.template.copy()
    parts[1::6], parts[3::6], parts[5::6] = (
        _texts(column, total) for column, total in zip(columns, totals, strict=True)
    )
    return parts, totals  # type: ignore[return-value]


def _totals(t: list[int]) -> str:
    return f'{{"killed":{t[0]},"injured":{t[1]},"incidents":{t[2]}}}'


def filters_of(q: Any) -> dict[str, list[str]]:
    """The filters that were given, by name."""
    return {name: list(getattr(q, name)) for name in FILTER_NAMES if getattr(q, name)}


def to_json(q: FatalitiesQuery, answer: Answer) -> bytes:
    """The document of SPEC "GET /v1/stats/fatalities", as json.dumps would write it: its
    parts gathered in one list and joined once (a big answer is a megabyte)."""
    g = grid(q.since, q.last_day, q.period)
    out: list[bytes] = [b""]  # the head, once the totals are known
    totals = [0, 0, 0]
    for key, columns in answer.series.items():
        points, sums = _points(columns, g, q.cumulative)
        totals = [totals[0] + sums[0], totals[1] + sums[1], totals[2] + sums[2]]
        shown, name = _shown(q, key, answer.labels)
        out.append(
            f'{"," if len(out) > 1 else ""}{{"key":{_dumps(shown)},"label":{_dumps(name)},'
            f'"totals":{_totals(sums)},"points":['.encode()
        )
        out += points
        out.append(b"]}")
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
    out[0] = f'{head[:-1]},"totals":{_totals(totals)},"series":['.encode()
    out.append(b"]}")
    return b"".join(out)


def _csv_rows(q: FatalitiesQuery, answer: Answer) -> Iterable[list[Any]]:
    g = grid(q.since, q.last_day, q.period)
    for key, columns in answer.series.items():
        shown, name = _shown(q, key, answer.labels)
        figures = (accumulate(c) for c in columns) if q.cumulative else columns
        for period, values in zip(g.csv, zip(*figures, strict=True), strict=True):
            yield [shown or "", name, *period, *values]


def to_csv(q: FatalitiesQuery, answer: Answer) -> bytes:
    """One row per series × period, with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "label", "period", "start", "end", "killed", "injured", "incidents"])
    writer.writerows(_csv_rows(q, answer))
    return buffer.getvalue().encode()
