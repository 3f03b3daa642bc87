"""Stored documents: each incident keeps its JSON document and its CSV row, rebuilt by a
trigger whenever the row is written, so reads, lists, exports and the change feed serve
stored bytes instead of rebuilding them per request.

- `incidents.document`: incident_document() as jsonb text, the very bytes the write's
  revision holds in `after` (jsonb's text form is canonical), so an export now and an export
  of the same version later from the revisions are byte for byte the same.
- `incidents.csv_row`: incident_csv() of that document, one line of the CSV export.
- `incidents.feature`: incident_feature() of that document, its GeoJSON Feature (the
  document without `location` as properties). The three together pass PostgreSQL's 2 kB
  TOAST threshold; rows are let grow to a page before their values are compressed (and then
  with lz4), so exports read them as they are instead of decompressing each.
- The trigger runs BEFORE INSERT OR UPDATE: a write stores the rows an incident owns
  (casualties, sources, tags) first and the incident row last (or bumps its version after
  changing them), so the document sees them. Their foreign keys to incidents are therefore
  checked at commit (DEFERRABLE INITIALLY DEFERRED).

Revision ID: 0003_stored_documents
Revises: 0002_reference_data
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_stored_documents"
down_revision: str | None = "0002_reference_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen as this revision made them (app/exports/service.py names the same header).
CATEGORIES = ("security_forces", "police", "civilians", "militants", "unknown")
OWNED = ("casualties", "incident_sources", "incident_tags")
# The incidents' keys to the reference tables, and what they point at. They no longer follow
# a renamed code (ON UPDATE CASCADE): a stored document, a revision and a rollup bucket all
# name the code, and a rename that rewrote only the first would leave the others behind. A
# code some incident uses cannot be renamed (a migration that must rename one rewrites the
# incidents through revisions); an unused one can.
REFERENCES = {
    "fk_incidents_province_code_provinces": "(province_code) REFERENCES provinces (code)",
    "fk_incidents_perpetrator_slug_actors": "(perpetrator_slug) REFERENCES actors (slug)",
    "fk_incidents_crossing_slug_crossing_points": "(crossing_slug) REFERENCES crossing_points (slug)",
    "fk_incidents_district_province_districts": (
        "(district_slug, province_code) REFERENCES districts (slug, province_code)"
    ),
}


# The one JSON shape of an incident, now built as jsonb (its text form, members shortest
# name first, is what the documents store): the same members and values as 0001_schema's
# json builder, without a json-to-jsonb round trip per row.
RFC3339_UTC = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""


def _document(kind: str) -> str:
    """incident_document() building `kind` (json as 0001_schema made it, or jsonb)."""
    return f"""
    CREATE FUNCTION incident_document(i incidents) RETURNS {kind}
    LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT {kind}_build_object(
        'id', i.id,
        'occurred_on', i.occurred_on,
        'date_precision', i.date_precision,
        'location', {kind}_build_object('type', 'Point',
                                      'coordinates', {kind}_build_array(ST_X(i.geom), ST_Y(i.geom))),
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
            SELECT {kind}_agg({kind}_build_object('category', c.category, 'killed', c.killed,
                                              'injured', c.injured)
                            ORDER BY array_position(ARRAY{list(CATEGORIES)}, c.category))
              FROM casualties c WHERE c.incident_id = i.id), '[]'::{kind}),
        'killed_total', i.killed_total,
        'injured_total', i.injured_total,
        'fatality_range', CASE WHEN i.fatality_low IS NULL THEN NULL
                               ELSE {kind}_build_object('low', i.fatality_low, 'high', i.fatality_high)
                          END,
        'sources', COALESCE((
            SELECT {kind}_agg({kind}_build_object('url', s.url, 'publisher', s.publisher,
                                              'published_on', s.published_on, 'title', s.title)
                            ORDER BY s.position)
              FROM incident_sources s WHERE s.incident_id = i.id), '[]'::{kind}),
        'crossing', i.crossing_slug,
        'description', i.description,
        'status', i.status,
        'tags', COALESCE((SELECT {kind}_agg(t.tag ORDER BY t.tag)
                            FROM incident_tags t WHERE t.incident_id = i.id), '[]'::{kind}),
        'is_synthetic', i.is_synthetic,
        'version', i.version,
        'created_by', i.created_by,
        'created_at', to_char(i.created_at AT TIME ZONE 'UTC', {RFC3339_UTC}),
        'updated_at', to_char(i.updated_at AT TIME ZONE 'UTC', {RFC3339_UTC})
    )
    $fn$"""


_CATEGORY_ARRAY = "ARRAY[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]::text[]"

UPGRADE = [
    # A CSV cell as PostgreSQL's COPY … CSV writes it: NULL empty, '' quoted, and quoted
    # (quotes doubled) when it holds a comma, a quote or a line break.
    r"""
    CREATE FUNCTION csv_cell(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN v IS NULL THEN ''
                WHEN v = '' OR v ~ '[",\r\n]' THEN '"' || replace(v, '"', '""') || '"'
                ELSE v END
    $fn$""",
    # One line of the CSV export (without its line end) from an incident document: the
    # columns of app/exports/service.py CSV_HEADER, NULL as an empty cell. Only free text can
    # need quoting; codes, numbers, dates and tags cannot hold a comma, a quote or a line
    # break. The casualty cells come from one pass over the casualties.
    f"""
    CREATE FUNCTION incident_csv(d jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT concat_ws(',',
        d->>'id', d->>'occurred_on', d->>'date_precision', d->>'geo_precision',
        csv_cell(d->>'place_name'), coalesce(d->>'province', ''), coalesce(d->>'district', ''),
        d->>'kind', d->>'attack_type', d->>'target_type', d->>'perpetrator',
        d->>'attribution',
        d->'location'->'coordinates'->>0, d->'location'->'coordinates'->>1,
        (SELECT string_agg(concat(c->>'killed', ',', c->>'injured'), ',' ORDER BY k.n)
           FROM unnest({_CATEGORY_ARRAY}) WITH ORDINALITY AS k(category, n)
           LEFT JOIN jsonb_array_elements(d->'casualties') c ON c->>'category' = k.category),
        d->>'killed_total', d->>'injured_total',
        coalesce(d->'fatality_range'->>'low', ''), coalesce(d->'fatality_range'->>'high', ''),
        coalesce(d->>'crossing', ''), d->>'status',
        coalesce((SELECT string_agg(t, ';') FROM jsonb_array_elements_text(d->'tags') t), ''),
        csv_cell((SELECT string_agg(s->>'url', ' ') FROM jsonb_array_elements(d->'sources') s)),
        csv_cell(d->>'description'),
        d->>'is_synthetic', d->>'version', d->>'created_at', d->>'updated_at')
    $fn$""",
    "DROP FUNCTION incident_document(incidents)",
    _document("jsonb"),
    # The GeoJSON Feature of an incident document, as jsonb prints it.
    """
    CREATE FUNCTION incident_feature(d jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT jsonb_build_object('type', 'Feature', 'id', d->>'id', 'geometry', d->'location',
                              'properties', d - 'location')::text
    $fn$""",
    "ALTER TABLE incidents ADD COLUMN document text COMPRESSION lz4, "
    "ADD COLUMN csv_row text COMPRESSION lz4, ADD COLUMN feature text COMPRESSION lz4",
    "ALTER TABLE incidents SET (toast_tuple_target = 8160)",
    """
    CREATE FUNCTION bw_incident_stored() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        d jsonb := incident_document(NEW);
    BEGIN
        NEW.document := d::text;
        NEW.csv_row := incident_csv(d);
        NEW.feature := incident_feature(d);
        RETURN NEW;
    END
    $fn$""",
    """
    CREATE TRIGGER tr_incidents_stored BEFORE INSERT OR UPDATE ON incidents
        FOR EACH ROW EXECUTE FUNCTION bw_incident_stored()""",
    "UPDATE incidents SET document = NULL",  # the trigger fills both in
    "ALTER TABLE incidents ALTER COLUMN document SET NOT NULL, "
    "ALTER COLUMN csv_row SET NOT NULL, ALTER COLUMN feature SET NOT NULL",
    *(
        f"ALTER TABLE {table} ALTER CONSTRAINT fk_{table}_incident_id_incidents "
        "DEFERRABLE INITIALLY DEFERRED"
        for table in OWNED
    ),
    *(
        f"ALTER TABLE incidents DROP CONSTRAINT {name}, ADD CONSTRAINT {name} FOREIGN KEY {target}"
        for name, target in REFERENCES.items()
    ),
]

DOWNGRADE = [
    *(
        f"ALTER TABLE incidents DROP CONSTRAINT {name}, "
        f"ADD CONSTRAINT {name} FOREIGN KEY {target} ON UPDATE CASCADE"
        for name, target in REFERENCES.items()
    ),
    *(
        f"ALTER TABLE {table} ALTER CONSTRAINT fk_{table}_incident_id_incidents "
        "NOT DEFERRABLE INITIALLY IMMEDIATE"
        for table in OWNED
    ),
    "DROP TRIGGER tr_incidents_stored ON incidents",
    "DROP FUNCTION bw_incident_stored()",
    "ALTER TABLE incidents DROP COLUMN feature, DROP COLUMN csv_row, DROP COLUMN document",
    "ALTER TABLE incidents RESET (toast_tuple_target)",
    "DROP FUNCTION incident_feature(jsonb)",
    "DROP FUNCTION incident_document(incidents)",
    _document("json"),
    "DROP FUNCTION incident_csv(jsonb)",
    "DROP FUNCTION csv_cell(text)",
]


def upgrade() -> None:
    """Add the stored documents and fill them for the incidents there are."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop them again."""
    for statement in DOWNGRADE:
        op.execute(statement)
