"""The statistics computed the slow, obvious way: straight from the incidents tables, in
Python, to hold the rollup-backed endpoint to."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.stats.periods import label, period_start

LIVE = text("""
    SELECT i.id, i.occurred_on, i.province_code AS province, i.district_slug AS district,
           i.perpetrator_slug AS perpetrator, i.attack_type, i.kind, i.status,
           i.killed_total, i.injured_total,
           coalesce(json_object_agg(c.category, json_build_array(c.killed, c.injured))
                    FILTER (WHERE c.category IS NOT NULL), '{}') AS casualties
      FROM incidents i LEFT JOIN casualties c ON c.incident_id = i.id
     WHERE i.deleted_at IS NULL AND i.status <> 'retracted'
     GROUP BY i.id
""")


async def live_incidents(db: AsyncSession | AsyncConnection) -> list[dict[str, Any]]:
    """Every incident that counts, with its casualties by category."""
    return [dict(r._mapping) for r in await db.execute(LIVE)]


def expected(
    incidents: list[dict[str, Any]], params: dict[str, str], today: date
) -> dict[str | None, dict[str, tuple[int, int, int]]]:
    """{series key: {period label: (killed, injured, incidents)}}, non-zero points only."""
    since = date.fromisoformat(params.get("since", "2021-08-15"))
    until = date.fromisoformat(params.get("until", today.isoformat()))
    period = params.get("period", "month")
    group_by = params.get("group_by", "province")
    filters = {
        k: set(params[k].split(","))
        for k in ("province", "district", "perpetrator", "attack_type", "kind", "status")
        if k in params
    }
    cats = set(params["category"].split(",")) if "category" in params else None
    out: dict[str | None, dict[str, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0])
    )
    for inc in incidents:
        if not since <= inc["occurred_on"] <= until:
            continue
        if any(inc[k] not in values for k, values in filters.items()):
            continue
        p = label(period_start(inc["occurred_on"], period), period)  # type: ignore[arg-type]
        casualties: dict[str, list[int]] = inc["casualties"]
        if group_by == "category":
            for category, (killed, injured) in casualties.items():
                if cats is None or category in cats:
                    point = out[category][p]
                    point[0] += killed
                    point[1] += injured
                    point[2] += 1
            continue
        key = None if group_by == "none" else inc[group_by]
        point = out[key][p]
        if cats is None:
            point[0] += inc["killed_total"]
            point[1] += inc["injured_total"]
            point[2] += 1
        else:
            chosen = [v for c, v in casualties.items() if c in cats]
            point[0] += sum(k for k, _ in chosen)
            point[1] += sum(i for _, i in chosen)
            point[2] += 1 if chosen else 0
    return {
        k: {p: tuple(v) for p, v in points.items() if any(v)}  # type: ignore[misc]
        for k, points in out.items()
        if any(any(v) for v in points.values())
    }


def served(body: dict[str, Any]) -> dict[str | None, dict[str, tuple[int, int, int]]]:
    """The endpoint's answer in the oracle's shape (non-zero points, non-empty series)."""
    out = {}
    for series in body["series"]:
        points = {
            p["period"]: (p["killed"], p["injured"], p["incidents"])
            for p in series["points"]
            if p["killed"] or p["injured"] or p["incidents"]
        }
        if points:
            out[series["key"]] = points
    return out


ROLLUP_DRIFT = text("""
    WITH truth AS (
        SELECT day, province_code, district_slug, perpetrator_slug, attack_type, kind, status,
               category, categories, sum(killed) AS killed, sum(injured) AS injured,
               sum(incidents) AS incidents
          FROM incident_contributions(NULL) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ), stored AS (
        SELECT day, province_code, district_slug, perpetrator_slug, attack_type, kind, status,
               category, categories, killed, injured, incidents
          FROM fatality_rollup WHERE killed <> 0 OR injured <> 0 OR incidents <> 0
    ), daily_truth AS (
        SELECT day, province_code, kind, status, category, categories, sum(killed) AS killed,
               sum(injured) AS injured, sum(incidents) AS incidents
          FROM truth GROUP BY 1, 2, 3, 4, 5, 6
    ), daily AS (
        SELECT day, province_code, kind, status, category, categories, killed, injured,
               incidents
          FROM fatality_daily WHERE killed <> 0 OR injured <> 0 OR incidents <> 0
    ), monthly_truth AS (
        SELECT date_trunc('month', day::timestamp)::date, province_code, kind, status,
               category, categories, sum(killed), sum(injured), sum(incidents)
          FROM truth GROUP BY 1, 2, 3, 4, 5, 6
    ), monthly AS (
        SELECT month, province_code, kind, status, category, categories, killed, injured,
               incidents
          FROM fatality_monthly WHERE killed <> 0 OR injured <> 0 OR incidents <> 0
    ), dim_truth AS (
        SELECT d.dimension, date_trunc('month', t.day::timestamp)::date, t.province_code,
               d.value, t.kind, t.status, t.category, t.categories, sum(t.killed),
               sum(t.injured), sum(t.incidents)
          FROM truth t CROSS JOIN LATERAL (VALUES ('district', t.district_slug),
                                                  ('perpetrator', t.perpetrator_slug),
                                                  ('attack_type', t.attack_type))
                                          AS d(dimension, value)
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ), dim AS (
        SELECT dimension, month, province_code, value, kind, status, category, categories,
               killed, injured, incidents
          FROM fatality_monthly_dim WHERE killed <> 0 OR injured <> 0 OR incidents <> 0
    ), lean_truth AS (
        SELECT d.dims, g.grain, g.start, t.province_code, d.value1, d.value2, t.kind, t.status,
               sum(t.killed), sum(t.injured), sum(t.incidents)
          FROM truth t
         CROSS JOIN LATERAL (VALUES ('day', t.day),
                                    ('week', date_trunc('week', t.day::timestamp)::date),
                                    ('month', date_trunc('month', t.day::timestamp)::date))
                            AS g(grain, start)
         CROSS JOIN LATERAL (VALUES ('', '', ''),
                                    ('district', t.district_slug, ''),
                                    ('perpetrator', t.perpetrator_slug, ''),
                                    ('attack_type', t.attack_type, ''),
                                    ('district,perpetrator', t.district_slug, t.perpetrator_slug),
                                    ('district,attack_type', t.district_slug, t.attack_type),
                                    ('perpetrator,attack_type', t.perpetrator_slug, t.attack_type))
                            AS d(dims, value1, value2)
         WHERE t.category = '' AND (g.grain <> 'day' OR d.dims NOT LIKE '%,%')
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ), lean AS (
        SELECT dims, grain, start, province_code, value1, value2, kind, status, killed,
               injured, incidents
          FROM fatality_dim WHERE killed <> 0 OR injured <> 0 OR incidents <> 0
    ), series AS (
        -- fatality_series' blocks unpacked into fatality_dim's buckets (units from 2001-01-01)
        SELECT dims, grain,
               CASE grain WHEN 'day' THEN DATE '2001-01-01' + unit
                          WHEN 'week' THEN DATE '2001-01-01' + 7 * unit
                          ELSE (DATE '2001-01-01' + make_interval(months => unit))::date END,
               province_code, value1, value2, kind, status, k, i, c
          FROM (SELECT s.*, s.block * 64 + n::int - 1 AS unit, k, i, c
                  FROM fatality_series s,
                       unnest(s.killed, s.injured, s.incidents) WITH ORDINALITY AS u(k, i, c, n)
                 WHERE k <> 0 OR i <> 0 OR c <> 0) AS unpacked
    )
    SELECT (SELECT count(*) FROM (SELECT * FROM truth EXCEPT SELECT * FROM stored) a)
         + (SELECT count(*) FROM (SELECT * FROM stored EXCEPT SELECT * FROM truth) b)
         + (SELECT count(*) FROM (SELECT * FROM daily_truth EXCEPT SELECT * FROM daily) c)
         + (SELECT count(*) FROM (SELECT * FROM daily EXCEPT SELECT * FROM daily_truth) d)
         + (SELECT count(*) FROM (SELECT * FROM monthly_truth EXCEPT SELECT * FROM monthly) e)
         + (SELECT count(*) FROM (SELECT * FROM monthly EXCEPT SELECT * FROM monthly_truth) f)
         + (SELECT count(*) FROM (SELECT * FROM dim_truth EXCEPT SELECT * FROM dim) g)
         + (SELECT count(*) FROM (SELECT * FROM dim EXCEPT SELECT * FROM dim_truth) h)
         + (SELECT count(*) FROM (SELECT * FROM lean_truth EXCEPT SELECT * FROM lean) i)
         + (SELECT count(*) FROM (SELECT * FROM lean EXCEPT SELECT * FROM lean_truth) j)
         + (SELECT count(*) FROM (SELECT * FROM lean_truth EXCEPT SELECT * FROM series) k)
         + (SELECT count(*) FROM (SELECT * FROM series EXCEPT SELECT * FROM lean_truth) l)
""")


async def rollup_drift(db: AsyncSession | AsyncConnection) -> int:
    """Buckets where any rollup differs from a recomputation over the incidents."""
    return int((await db.execute(ROLLUP_DRIFT)).scalar_one())
