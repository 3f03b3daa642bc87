"""Keeping the rollups exact: every incident write adds what its incidents contribute now and
subtracts what they contributed before, in the write's own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.stats.models import (
    COUNTS,
    fatality_daily,
    fatality_dim,
    fatality_monthly,
    fatality_monthly_dim,
    fatality_rollup,
)


def _key(table: Table) -> tuple[str, ...]:
    """The bucket columns of a rollup: every column but the counts, in table order."""
    return tuple(c.name for c in table.c if c.name not in COUNTS)


KEY = _key(fatality_rollup)
VALUES = COUNTS
# SQL type of each fine-rollup column, for the arrays of old contributions.
_OLD_TYPES = tuple(
    {"DATE": "date", "TEXT": "text", "SMALLINT": "smallint", "BIGINT": "bigint"}[str(c.type)]
    for c in fatality_rollup.c
)

_LOCK = text("SELECT seq FROM data_version FOR UPDATE")
_CONTRIBUTIONS = text("SELECT * FROM incident_contributions(CAST(:ids AS uuid[]))")

_OLD = ", ".join(f"CAST(:o_{c} AS {t}[])" for c, t in zip(KEY + VALUES, _OLD_TYPES, strict=True))
DAILY_KEY = _key(fatality_daily)
MONTHLY_KEY = _key(fatality_monthly)
DIM_KEY = _key(fatality_monthly_dim)  # the SELECTs below list their columns in this order
LEAN_KEY = _key(fatality_dim)
_KEY = ", ".join(KEY)
_DAILY_KEY = ", ".join(DAILY_KEY)
_MONTHLY_KEY = ", ".join(MONTHLY_KEY)
_DIM_KEY = ", ".join(DIM_KEY)
# The fine rows' district, perpetrator and attack type, one row each.
_DIMENSIONS = """CROSS JOIN LATERAL (VALUES ('district', district_slug),
                                    ('perpetrator', perpetrator_slug),
                                    ('attack_type', attack_type)) AS dim(dimension, value)"""
# The fine rows' day, ISO week and month, and their values of each `dims` of fatality_dim.
_GRAINS_AND_DIMS = """CROSS JOIN LATERAL (VALUES ('day', day),
                              ('week', date_trunc('week', day::timestamp)::date),
                              ('month', date_trunc('month', day::timestamp)::date))
                     AS g(grain, start)
  CROSS JOIN LATERAL (VALUES ('', '', ''),
                             ('district', district_slug, ''),
                             ('perpetrator', perpetrator_slug, ''),
                             ('attack_type', attack_type, ''),
                             ('district,perpetrator', district_slug, perpetrator_slug),
                             ('district,attack_type', district_slug, attack_type),
                             ('perpetrator,attack_type', perpetrator_slug, attack_type))
                     AS d(dims, value1, value2)"""
# fatality_dim's rows of the fine rows in `source` (incident-level rows only), summed; pairs
# of dimensions not by day (nearly a row per incident, which the fine rollup already is).
_LEAN = f"""SELECT d.dims, g.grain, g.start, province_code, d.value1, d.value2, kind, status,
       sum(killed) AS killed, sum(injured) AS injured, sum(incidents) AS incidents
  FROM {{source}} {_GRAINS_AND_DIMS}
 WHERE category = '' AND (g.grain <> 'day' OR d.dims NOT LIKE '%,%')
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""
_NONZERO = "HAVING sum(killed) <> 0 OR sum(injured) <> 0 OR sum(incidents) <> 0"
_SUMS = "sum(killed) AS killed, sum(injured) AS injured, sum(incidents) AS incidents"


def _add_to(table: str, delta: str, key: tuple[str, ...]) -> str:
    """Two CTEs that add the rows of `delta` to `table`: to the bucket where it exists,
    as a new bucket where it does not."""
    same = " AND ".join(f"r.{c} = d.{c}" for c in key)
    return f"""{table}_updated AS (
    UPDATE {table} r
       SET killed = r.killed + d.killed, injured = r.injured + d.injured,
           incidents = r.incidents + d.incidents
      FROM {delta} d WHERE {same}
    RETURNING {", ".join(f"r.{c}" for c in key)}
), {table}_inserted AS (
    INSERT INTO {table} ({", ".join(key)}, killed, injured, incidents)
    SELECT * FROM {delta} d WHERE NOT EXISTS (SELECT 1 FROM {table}_updated r WHERE {same})
)"""


# One statement: the delta per bucket (new contributions minus old ones) added to the rows
# that exist and inserted where none does, in the fine rollup and, summed coarser, in the
# daily, monthly, monthly-by-dimension and category-free (fatality_dim) ones. Not INSERT …
# ON CONFLICT: PostgreSQL checks the proposed row (a negative delta) against CHECK (killed
# >= 0) before it looks for the conflict. Update-then-insert is safe because every rollup
# writer holds the data_version lock.
_APPLY = text(f"""
WITH delta AS (
    SELECT {_KEY}, {_SUMS}
      FROM (SELECT * FROM incident_contributions(CAST(:ids AS uuid[]))
            UNION ALL
            SELECT {_KEY}, -killed, -injured, -incidents
              FROM unnest({_OLD}) AS o({_KEY}, killed, injured, incidents)) AS changes
     GROUP BY {_KEY} {_NONZERO}
), daily_delta AS (
    SELECT {_DAILY_KEY}, {_SUMS} FROM delta GROUP BY {_DAILY_KEY} {_NONZERO}
), monthly_delta AS (
    SELECT date_trunc('month', day::timestamp)::date AS month, province_code, kind, status,
           category, categories, {_SUMS}
      FROM daily_delta GROUP BY 1, 2, 3, 4, 5, 6 {_NONZERO}
), dim_delta AS (
    SELECT date_trunc('month', day::timestamp)::date AS month, province_code, dim.dimension,
           dim.value, kind, status, category, categories, {_SUMS}
      FROM delta {_DIMENSIONS}
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 {_NONZERO}
), lean_delta AS (
    {_LEAN.format(source="delta")} {_NONZERO}
), {_add_to("fatality_rollup", "delta", KEY)},
{_add_to("fatality_daily", "daily_delta", DAILY_KEY)},
{_add_to("fatality_monthly", "monthly_delta", MONTHLY_KEY)},
{_add_to("fatality_monthly_dim", "dim_delta", DIM_KEY)},
{_add_to("fatality_dim", "lean_delta", LEAN_KEY)}
SELECT NULL
""")

Contributions = list[dict[str, Any]]


async def contributions(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Contributions:
    """What these incidents add to the rollups now (read it before changing them)."""
    rows = await session.execute(_CONTRIBUTIONS, {"ids": list(ids)})
    return [dict(r._mapping) for r in rows]


async def apply(
    session: AsyncSession, ids: Sequence[uuid.UUID], old: Contributions | None = None
) -> None:
    """Bring the rollups from `old` (these incidents' contributions before the write) to
    what they contribute now. Holds the data_version lock, as every rollup writer does."""
    await session.execute(_LOCK)
    old = old or []
    params: dict[str, Any] = {"ids": list(ids)}
    for column in KEY + VALUES:
        params[f"o_{column}"] = [row[column] for row in old]
    await session.execute(_APPLY, params)


_REBUILD = [
    "DELETE FROM fatality_dim",
    "DELETE FROM fatality_monthly_dim",
    "DELETE FROM fatality_monthly",
    "DELETE FROM fatality_daily",
    "DELETE FROM fatality_rollup",
    f"""INSERT INTO fatality_rollup ({_KEY}, killed, injured, incidents)
        SELECT {_KEY}, sum(killed), sum(injured), sum(incidents)
          FROM incident_contributions(NULL) GROUP BY {_KEY}""",
    f"""INSERT INTO fatality_daily ({_DAILY_KEY}, killed, injured, incidents)
        SELECT {_DAILY_KEY}, sum(killed), sum(injured), sum(incidents)
          FROM fatality_rollup GROUP BY {_DAILY_KEY}""",
    f"""INSERT INTO fatality_monthly ({_MONTHLY_KEY}, killed, injured, incidents)
        SELECT date_trunc('month', day::timestamp)::date, province_code, kind, status,
               category, categories, sum(killed), sum(injured), sum(incidents)
          FROM fatality_daily GROUP BY 1, 2, 3, 4, 5, 6""",
    f"""INSERT INTO fatality_monthly_dim ({_DIM_KEY}, killed, injured, incidents)
        SELECT date_trunc('month', day::timestamp)::date, province_code, dim.dimension,
               dim.value, kind, status, category, categories, sum(killed), sum(injured),
               sum(incidents)
          FROM fatality_rollup {_DIMENSIONS} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
    f"""INSERT INTO fatality_dim ({", ".join(LEAN_KEY)}, killed, injured, incidents)
        {_LEAN.format(source="fatality_rollup")}""",
]


async def rebuild(session: AsyncSession) -> None:
    """Recompute the rollups from the incidents (after a bulk load or a restore)."""
    await session.execute(text("SET LOCAL statement_timeout = 0"))  # minutes at 1M incidents
    # A new epoch: statistics' ETags and caches change, as the figures may have.
    await session.execute(text("UPDATE data_version SET epoch = epoch + 1"))
    for statement in _REBUILD:
        await session.execute(text(statement))
