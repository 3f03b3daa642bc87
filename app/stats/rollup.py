"""The statistics rollups: kept exact by every incident write inside its COMMIT (the trigger
of migration 0005_changes_at_commit adds what each revision's document contributes after the
write and subtracts what it contributed before), and rebuilt here from the incidents' rows."""

from __future__ import annotations

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import dataversion
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


_REBUILD = [
    # fatality_series follows fatality_dim by the triggers of migration 0006_stats_answers:
    # emptied here, filled again by fatality_dim's INSERT below.
    "DELETE FROM fatality_series",
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
    await dataversion.move_epoch(session)
    for statement in _REBUILD:
        await session.execute(text(statement))
