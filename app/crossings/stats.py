"""Border pressure against violence: days each crossing spent closed or restricted, and the
live incidents near it, per period. Counted by PostgreSQL from the status events and the
incidents themselves (not the rollups) in one statement; knows nothing of HTTP."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.core.errors import Invalid
from app.core.params import split_codes, unknown_codes
from app.incidents.filters import MAX_RADIUS_KM, MIN_RADIUS_KM
from app.stats.filters import StatsRange, too_many_points
from app.stats.periods import Period, label, periods

Version = tuple[int, int]  # change-feed sequence number, epoch
FIGURES = ("days_closed", "days_restricted", "incidents", "killed", "injured")


def _some_codes(value: Any) -> Any:
    """split_codes, refusing a list that names nothing (`crossing=,,,`): leaving the
    parameter out means every crossing, an empty list given explicitly is a mistake."""
    codes = split_codes(value)
    if codes == []:
        raise ValueError("names no crossing: give slugs, or leave it out for every crossing")
    return codes


class CrossingStatsQuery(StatsRange):
    """The query of `GET /v1/stats/crossings`."""

    period: Period = Field("month", description="Length of each point")
    radius_km: float = Field(
        25.0,
        ge=MIN_RADIUS_KM,
        le=MAX_RADIUS_KM,
        description="Incidents count for a crossing when they lie within this geodesic "
        f"distance of it (WGS 84 spheroid), km ({MIN_RADIUS_KM:g} to {MAX_RADIUS_KM:g})",
    )
    crossing: Annotated[list[str], BeforeValidator(_some_codes)] = Field(
        [],
        description="Crossing slugs, e.g. `torkham,chaman`; default (left out) every crossing; "
        "a value naming none (`crossing=,,,`) is refused",
    )


# ---- the answer, as documented in OpenAPI (the service writes the same JSON) --------------


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CrossingTotals(_Exact):
    """Days in each status and incidents nearby over the whole range."""

    days_closed: int = Field(description="Days the crossing was closed")
    days_restricted: int = Field(description="Days it was open with restrictions")
    incidents: int = Field(description="Live incidents within `radius_km`")
    killed: int
    injured: int


class CrossingPeriodPoint(_Exact):
    """One period of a crossing; `start` and `end` are clipped to `since` and `until`."""

    period: str = Field(examples=["2023-01", "2023-W05", "2023-Q1"])
    start: date
    end: date
    days_closed: int
    days_restricted: int
    incidents: int
    killed: int
    injured: int


class CrossingSeries(_Exact):
    """One crossing, every period zero-filled."""

    key: str = Field(description="Slug of the crossing", examples=["torkham"])
    label: str = Field(description="Name of the crossing", examples=["Torkham"])
    totals: CrossingTotals
    points: list[CrossingPeriodPoint]


class CrossingStatsOut(_Exact):
    """Closures against violence, per crossing and period (SPEC "Crossing point")."""

    since: date
    until: date
    period: Period
    radius_km: float
    status_known_until: date = Field(
        description="Today (Asia/Karachi): later days count neither closed nor restricted"
    )
    series: list[CrossingSeries]


# ---- checks --------------------------------------------------------------------------------


async def crossing_slugs(conn: Any) -> list[str]:
    """Every crossing's slug."""
    return [r["slug"] for r in await conn.fetch("SELECT slug FROM crossing_points")]


def check(q: CrossingStatsQuery, known: Collection[str]) -> None:
    """Invalid naming every parameter that breaks a rule; `known` holds the crossings' slugs."""
    errors = q.range_errors()
    if not errors:
        errors += too_many_points(q, q.period, len(q.crossing) or len(known))
    errors += unknown_codes("crossing", q.crossing, known)
    if errors:
        raise Invalid(errors)


# ---- the figures ---------------------------------------------------------------------------

# $1 crossings, $2..$4 the periods (start, first and last day counted), $5 the period's name
# for date_trunc (its starts are periods.period_start's: ISO weeks from Monday), $6 the last
# day whose status is known (until, or today if earlier), $7 radius in metres, $8..$9 the range.
FIGURES_SQL = """
WITH asked AS (
    SELECT slug, name, geom FROM crossing_points WHERE slug = ANY($1::text[])
),
grid AS (
    SELECT * FROM unnest($2::date[], $3::date[], $4::date[]) AS g(start, first, last)
),
-- Each event's last day: its own, or for an open-ended one the day before the crossing's
-- next event starts (the stored end, once writes keep it, agrees).
events AS (
    SELECT e.crossing_slug AS slug, e.id, e.status, e.valid_from,
           coalesce(e.valid_to, (SELECT min(n.valid_from) - 1 FROM crossing_status_events n
                                  WHERE n.crossing_slug = e.crossing_slug
                                    AND n.valid_from > e.valid_from)) AS valid_to
      FROM crossing_status_events e JOIN asked a ON a.slug = e.crossing_slug
),
-- The days on which the events in force can change: each start and each day after an end.
bounds AS (
    SELECT slug, valid_from AS day FROM events
    UNION
    SELECT slug, valid_to + 1 FROM events WHERE valid_to IS NOT NULL
),
spans AS (
    SELECT slug, day AS first, lead(day) OVER (PARTITION BY slug ORDER BY day) - 1 AS last
      FROM bounds
),
-- Each span's status: that of the event in force that started last (a day counts once).
statuses AS (
    SELECT s.slug, s.first, least(coalesce(s.last, $6::date), $6::date) AS last, w.status
      FROM spans s
     CROSS JOIN LATERAL (
           SELECT e.status FROM events e
            WHERE e.slug = s.slug AND e.valid_from <= s.first
              AND (e.valid_to IS NULL OR e.valid_to >= s.first)
            ORDER BY e.valid_from DESC, e.id DESC
            LIMIT 1) AS w
     WHERE w.status <> 'open' AND s.first <= $6::date
)
SELECT 'v' AS kind, NULL::text AS slug, NULL::date AS start, seq AS a, epoch::bigint AS b,
       NULL::bigint AS c, NULL::text AS name
  FROM data_version
UNION ALL
SELECT 'n', slug, NULL, NULL, NULL, NULL, name FROM asked
UNION ALL
SELECT 'd', st.slug, g.start,
       coalesce(sum(d.days) FILTER (WHERE st.status = 'closed'), 0),
       coalesce(sum(d.days) FILTER (WHERE st.status = 'restricted'), 0), NULL, NULL
  FROM statuses st
  JOIN grid g ON st.first <= g.last AND st.last >= g.first
 CROSS JOIN LATERAL (
       SELECT (least(st.last, g.last) - greatest(st.first, g.first) + 1)::bigint AS days
       ) AS d
 GROUP BY st.slug, g.start
UNION ALL
SELECT 'i', a.slug, date_trunc($5::text, i.occurred_on::timestamp)::date,
       count(*), sum(i.killed_total), sum(i.injured_total), NULL
  FROM asked a
  JOIN incidents i ON ST_DWithin(i.geom::geography, a.geom::geography, $7::float8)
 WHERE i.deleted_at IS NULL AND i.status <> 'retracted'
   AND i.occurred_on BETWEEN $8::date AND $9::date
 GROUP BY 2, 3
"""


def arguments(q: CrossingStatsQuery, known: Collection[str], today: date) -> list[Any]:
    """The bind parameters of FIGURES_SQL for q (every crossing when q names none)."""
    grid = periods(q.since, q.last_day, q.period)
    return [
        list(q.crossing) or sorted(known),
        [start for start, _, _ in grid],
        [first for _, first, _ in grid],
        [last for _, _, last in grid],
        q.period,
        min(q.last_day, today),
        q.radius_km * 1000,
        q.since,
        q.last_day,
    ]


def _document(q: CrossingStatsQuery, today: date, rows: list[Any]) -> tuple[Version, bytes]:
    """The rows of FIGURES_SQL as the answer's JSON, every period of every crossing present;
    written as json.dumps would, each period's text made once for every series (a year by
    day is 2,000 points a crossing)."""
    grid = periods(q.since, q.last_day, q.period)
    index = {start: n for n, (start, _, _) in enumerate(grid)}
    names: dict[str, str] = {}
    columns: dict[str, list[list[int]]] = {}
    version: Version = (0, 0)
    for kind, slug, start, a, b, c, name in rows:
        if kind == "v":
            version = (int(a), int(b))
        elif kind == "n":
            names[slug] = name
        else:
            figures = columns.get(slug)
            if figures is None:
                figures = columns[slug] = [[0] * len(grid) for _ in FIGURES]
            n = index[start]
            if kind == "d":
                figures[0][n], figures[1][n] = int(a), int(b)
            else:
                figures[2][n], figures[3][n], figures[4][n] = int(a), int(b), int(c)
    heads = [
        f'{{"period":"{label(start, q.period)}","start":"{first}","end":"{last}"'
        for start, first, last in grid
    ]
    zeros = [[0] * len(grid) for _ in FIGURES]
    series = []
    for slug in sorted(names):
        figures = columns.get(slug, zeros)
        totals = ",".join(
            f'"{name}":{sum(column)}' for name, column in zip(FIGURES, figures, strict=True)
        )
        points = ",".join(
            f'{head},"days_closed":{closed},"days_restricted":{restricted},'
            f'"incidents":{incidents},"killed":{killed},"injured":{injured}}}'
            for head, closed, restricted, incidents, killed, injured in zip(
                heads, *figures, strict=True
            )
        )
        series.append(
            f'{{"key":{json.dumps(slug)},"label":{json.dumps(names[slug])},'
            f'"totals":{{{totals}}},"points":[{points}]}}'
        )
    head = json.dumps(
        {
            "since": q.since.isoformat(),
            "until": q.last_day.isoformat(),
            "period": q.period,
            "radius_km": q.radius_km,
            "status_known_until": today.isoformat(),
        },
        separators=(",", ":"),
    )
    return version, f'{head[:-1]},"series":[{",".join(series)}]}}'.encode()


async def crossing_stats(
    conn: Any, q: CrossingStatsQuery, known: Collection[str], today: date
) -> tuple[Version, bytes]:
    """The answer of `GET /v1/stats/crossings` as JSON, with the data version it stands at
    (read in the same statement as the figures: one snapshot)."""
    rows = await conn.fetch(FIGURES_SQL, *arguments(q, known, today))
    return _document(q, today, rows)
