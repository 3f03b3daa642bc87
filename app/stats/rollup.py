"""The statistics rollups: kept exact by every incident write inside its COMMIT (the trigger
of migration 0004_changes_at_commit adds what each revision's document contributes after the
write and subtracts what it contributed before), and rebuilt here from the incidents' rows."""

from __future__ import annotations

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.stats.models import (
    COUNTS,
    fatality_daily,
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
_KEY = ", ".join(KEY)
_DAILY_KEY = ", ".join(DAILY_KEY)
_MONTHLY_KEY = ", ".join(MONTHLY_KEY)
_DIM_KEY = ", ".join(DIM_KEY)
# The fine rows' district, perpetrator and attack type, one row each.
_DIMENSIONS = """CROSS JOIN LATERAL (VALUES ('district', district_slug),
                                    ('perpetrator', perpetrator_slug),
                                    ('attack_type', attack_type)) AS dim(dimension, value)"""


_REBUILD = [
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
]


async def rebuild(session: AsyncSession) -> None:
    """Recompute the rollups from the incidents (after a bulk load or a restore)."""
    await session.execute(text("SET LOCAL statement_timeout = 0"))  # minutes at 1M incidents
    # A new epoch: statistics' ETags and caches change, as the figures may have.
    await session.execute(text("UPDATE data_version SET epoch = epoch + 1"))
    for statement in _REBUILD:
        await session.execute(text(statement))
