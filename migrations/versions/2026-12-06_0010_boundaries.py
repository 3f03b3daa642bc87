"""Boundaries that place incidents: once a district's boundary is loaded, an incident written
without a district gets the one whose boundary covers its location; once a province's is
loaded, a location more than 10 km (geodesic) outside the incident's province is refused.

- `boundary_parts`: every loaded boundary cut into pieces of at most 256 vertices
  (ST_Subdivide), kept by triggers on `provinces` and `districts` whatever writes their
  `geom`. A point is placed by a GiST probe and a test against a small piece, so a write's
  cost does not grow with the detail of a boundary (a geoBoundaries province has tens of
  thousands of vertices); with no boundary in the incident's province the trigger probes one
  index and returns (about 10 µs a row, against about 40 µs with both checks).
- bw_district_at(province, point): the district of that province whose boundary covers the
  point; NULL when none does, or more than one does (overlapping or touching boundaries).
- bw_province_misfit(province, point): NULL when the province has no boundary or the point
  lies within 10 km of it, else the 422's message (with the distance). The batch route asks
  it for every row at once, so that its 422 names every bad row.
- The BEFORE trigger `tr_incidents_boundaries` runs both on every insert, and on an update
  of the location, province or district (derivation when the row has no district, or when
  the location moves out of the loaded boundary of the district it keeps and the write did
  not name that district: the API's PATCH says so with the transaction-local setting
  `borderwatch.district_named`; the 10 km check only when location or province changed). Its name sorts before
  `tr_incidents_stored`, so the stored document, CSV line, revision and rollups are built
  from the derived district. It raises check_violation naming the constraint
  `ck_incidents_province_boundary`, which the API reports as a 422 on `province`.

Revision ID: 0010_boundaries
Revises: 0008_writes_without_jit
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_boundaries"
down_revision: str | None = "0009_crossing_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 10 km, and a bounding box that holds every point within 10 km of a piece in the region
# (lat 23-38: 0.25 degrees of longitude is at least 21 km).
MAX_OUTSIDE_M = 10_000
NEAR_DEG = 0.25

UPGRADE = [
    """
    CREATE TABLE boundary_parts (
        id bigint GENERATED ALWAYS AS IDENTITY,
        level text NOT NULL,
        code text NOT NULL,
        province_code text NOT NULL,
        geom geometry(Polygon, 4326) NOT NULL,
        CONSTRAINT pk_boundary_parts PRIMARY KEY (id),
        CONSTRAINT ck_boundary_parts_level CHECK (level IN ('province', 'district'))
    )""",
    "CREATE INDEX ix_boundary_parts_province_code_level ON boundary_parts (province_code, level)",
    "CREATE INDEX ix_boundary_parts_geom ON boundary_parts USING gist (geom)",
    # Pieces of a unit's boundary, rewritten whenever its row's boundary or key changes.
    # (Record fields are resolved when a branch runs: NEW.code only for provinces.)
    """
    CREATE FUNCTION bw_boundary_parts() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $fn$
    DECLARE
        old_key text[];
        new_key text[];
    BEGIN
        IF TG_OP <> 'INSERT' AND TG_TABLE_NAME = 'provinces' THEN
            old_key := ARRAY[OLD.code, OLD.code];
        ELSIF TG_OP <> 'INSERT' THEN
            old_key := ARRAY[OLD.slug, OLD.province_code];
        END IF;
        IF TG_OP <> 'DELETE' AND TG_TABLE_NAME = 'provinces' THEN
            new_key := ARRAY[NEW.code, NEW.code];
        ELSIF TG_OP <> 'DELETE' THEN
            new_key := ARRAY[NEW.slug, NEW.province_code];
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom
           AND new_key = old_key THEN
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM boundary_parts p
             WHERE p.province_code = old_key[2] AND p.level = TG_ARGV[0] AND p.code = old_key[1];
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.geom IS NOT NULL THEN
            INSERT INTO boundary_parts (level, code, province_code, geom)
            SELECT TG_ARGV[0], new_key[1], new_key[2], (ST_Dump(piece)).geom
              FROM ST_Subdivide(NEW.geom, 256) AS piece;
        END IF;
        RETURN NULL;
    END
    $fn$""",
    """
    CREATE TRIGGER tr_provinces_boundary_parts AFTER INSERT OR UPDATE OR DELETE ON provinces
        FOR EACH ROW EXECUTE FUNCTION bw_boundary_parts('province')""",
    """
    CREATE TRIGGER tr_districts_boundary_parts AFTER INSERT OR UPDATE OR DELETE ON districts
        FOR EACH ROW EXECUTE FUNCTION bw_boundary_parts('district')""",
    """
    CREATE FUNCTION bw_district_at(province text, point geometry) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET jit = off AS $fn$
    DECLARE
        found text[];
    BEGIN
        -- (The pieces under the point are found by the GiST index alone, whatever the
        -- plan's guess about the province.)
        WITH under AS MATERIALIZED (SELECT * FROM boundary_parts p WHERE p.geom && point)
        SELECT array_agg(DISTINCT u.code) INTO found
          FROM under u
         WHERE u.level = 'district' AND u.province_code = province AND ST_Covers(u.geom, point);
        IF cardinality(found) = 1 THEN
            RETURN found[1];
        END IF;
        RETURN NULL;
    END
    $fn$""",
    f"""
    CREATE FUNCTION bw_province_misfit(province text, point geometry) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET jit = off AS $fn$
    DECLARE
        metres float8;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM boundary_parts p
                        WHERE p.province_code = province AND p.level = 'province') THEN
            RETURN NULL;  -- no boundary loaded: not checked
        END IF;
        -- Inside (the usual case): the piece under the point, found by the GiST index.
        IF EXISTS (WITH under AS MATERIALIZED (
                       SELECT * FROM boundary_parts p WHERE p.geom && point)
                   SELECT 1 FROM under u
                    WHERE u.province_code = province AND u.level = 'province'
                      AND ST_Covers(u.geom, point)) THEN
            RETURN NULL;
        END IF;
        -- Outside: within 10 km (geodesic) of one of the pieces near it?
        IF EXISTS (WITH near AS MATERIALIZED (
                       SELECT * FROM boundary_parts p WHERE p.geom && ST_Expand(point, {NEAR_DEG}))
                   SELECT 1 FROM near u
                    WHERE u.province_code = province AND u.level = 'province'
                      AND ST_DWithin(u.geom::geography, point::geography, {MAX_OUTSIDE_M})) THEN
            RETURN NULL;
        END IF;
        SELECT min(ST_Distance(p.geom::geography, point::geography)) INTO metres
          FROM boundary_parts p WHERE p.province_code = province AND p.level = 'province';
        RETURN format('the location lies %s km outside the boundary of %s (at most %s km '
                      'is allowed)', round((metres / 1000)::numeric, 1), province,
                      {MAX_OUTSIDE_M // 1000});
    END
    $fn$""",
    """
    CREATE FUNCTION bw_incident_boundaries() RETURNS trigger
    LANGUAGE plpgsql SET jit = off AS $fn$
    DECLARE
        problem text;
    BEGIN
        -- No boundary in the incident's province (the usual case until boundaries are
        -- loaded): one probe of an index and nothing else.
        IF NOT EXISTS (SELECT 1 FROM boundary_parts p
                        WHERE p.province_code = NEW.province_code) THEN
            RETURN NEW;
        END IF;
        IF NEW.district_slug IS NULL THEN
            NEW.district_slug := bw_district_at(NEW.province_code, NEW.geom);
        ELSIF TG_OP = 'UPDATE' AND NEW.geom IS DISTINCT FROM OLD.geom
              AND NEW.district_slug = OLD.district_slug
              AND current_setting('borderwatch.district_named', true) IS DISTINCT FROM 'on'
              AND EXISTS (SELECT 1 FROM boundary_parts p
                           WHERE p.province_code = OLD.province_code AND p.level = 'district'
                             AND p.code = OLD.district_slug)
              AND NOT EXISTS (SELECT 1 FROM boundary_parts p
                               WHERE p.province_code = OLD.province_code
                                 AND p.level = 'district' AND p.code = OLD.district_slug
                                 AND p.geom && NEW.geom AND ST_Covers(p.geom, NEW.geom)) THEN
            -- Moved out of the stored district's boundary, the district not named by the
            -- write: the stored one is stale, derived again (or none).
            NEW.district_slug := bw_district_at(NEW.province_code, NEW.geom);
        END IF;
        IF TG_OP = 'INSERT' OR NEW.geom IS DISTINCT FROM OLD.geom
           OR NEW.province_code IS DISTINCT FROM OLD.province_code THEN
            problem := bw_province_misfit(NEW.province_code, NEW.geom);
            IF problem IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = problem,
                    CONSTRAINT = 'ck_incidents_province_boundary', COLUMN = 'province_code',
                    TABLE = 'incidents';
            END IF;
        END IF;
        RETURN NEW;
    END
    $fn$""",
    """
    CREATE TRIGGER tr_incidents_boundaries
        BEFORE INSERT OR UPDATE OF geom, province_code, district_slug ON incidents
        FOR EACH ROW EXECUTE FUNCTION bw_incident_boundaries()""",
    # Boundaries loaded before this revision get their pieces.
    """
    INSERT INTO boundary_parts (level, code, province_code, geom)
    SELECT 'province', u.code, u.code, (ST_Dump(piece)).geom
      FROM provinces u, ST_Subdivide(u.geom, 256) AS piece WHERE u.geom IS NOT NULL""",
    """
    INSERT INTO boundary_parts (level, code, province_code, geom)
    SELECT 'district', u.slug, u.province_code, (ST_Dump(piece)).geom
      FROM districts u, ST_Subdivide(u.geom, 256) AS piece WHERE u.geom IS NOT NULL""",
]

DOWNGRADE = [
    "DROP TRIGGER tr_incidents_boundaries ON incidents",
    "DROP FUNCTION bw_incident_boundaries()",
    "DROP FUNCTION bw_province_misfit(text, geometry)",
    "DROP FUNCTION bw_district_at(text, geometry)",
    "DROP TRIGGER tr_districts_boundary_parts ON districts",
    "DROP TRIGGER tr_provinces_boundary_parts ON provinces",
    "DROP FUNCTION bw_boundary_parts()",
    "DROP TABLE boundary_parts",
]


def upgrade() -> None:
    """Cut the boundaries into pieces and place incidents by them."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Incidents are placed by what the client sends alone again."""
    for statement in DOWNGRADE:
        op.execute(statement)
