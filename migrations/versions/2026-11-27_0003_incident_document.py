"""incident_document(incidents): the one JSON shape of an incident, built by PostgreSQL.

The API's single reads, the revisions (history, change feed, versions) and the exports all
take an incident's JSON from this function, so they cannot disagree. Casualties come in the
vocabulary's category order, sources in the order given, tags sorted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE FUNCTION incident_document(i incidents) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
SELECT json_build_object(
    'id', i.id,
    'occurred_on', i.occurred_on,
    'date_precision', i.date_precision,
    'location', json_build_object('type', 'Point',
                                  'coordinates', json_build_array(ST_X(i.geom), ST_Y(i.geom))),
    'geo_precision', i.geo_precision,
    'place_name', i.place_name,
    'province', i.province_code,
    'district', i.district_slug,
    'kind', i.kind,
    'attack_type', i.attack_type,
    'target_type', i.target_type,
    'perpetrator', i.perpetrator_slug,
    'attribution', i.attribution,
    'casualties', COALESCE((
        SELECT json_agg(json_build_object('category', c.category, 'killed', c.killed,
                                          'injured', c.injured)
                        ORDER BY array_position(ARRAY['security_forces', 'police', 'civilians',
                                                      'militants', 'unknown'], c.category))
          FROM casualties c WHERE c.incident_id = i.id), '[]'::json),
    'killed_total', i.killed_total,
    'injured_total', i.injured_total,
    'fatality_range', CASE WHEN i.fatality_low IS NULL THEN NULL
                           ELSE json_build_object('low', i.fatality_low, 'high', i.fatality_high)
                      END,
    'sources', COALESCE((
        SELECT json_agg(json_build_object('url', s.url, 'publisher', s.publisher,
                                          'published_on', s.published_on, 'title', s.title)
                        ORDER BY s.position)
          FROM incident_sources s WHERE s.incident_id = i.id), '[]'::json),
    'crossing', i.crossing_slug,
    'description', i.description,
    'status', i.status,
    'tags', COALESCE((SELECT json_agg(t.tag ORDER BY t.tag)
                        FROM incident_tags t WHERE t.incident_id = i.id), '[]'::json),
    'is_synthetic', i.is_synthetic,
    'version', i.version,
    'created_by', i.created_by,
    'created_at', i.created_at,
    'updated_at', i.updated_at
)
$fn$
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(UPGRADE)


def downgrade() -> None:
    op.get_bind().exec_driver_sql("DROP FUNCTION IF EXISTS incident_document(incidents)")
