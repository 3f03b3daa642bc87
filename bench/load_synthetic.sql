-- Bulk-load synthetic incidents for benchmarks: psql -v start=1 -v stop=1000000 -f this.
-- Deterministic (ids and values derive from n), flagged is_synthetic, tagged "synthetic";
-- inserted in id order, as the API's time-ordered UUIDv7 ids are, so the table's pages follow
-- the primary key like a production table's (exports stream in id order through it);
-- casualties and totals agree, so the deferred totals check is skipped during the load and
-- the rollups are rebuilt afterwards (borderwatch rebuild-rollups). No revisions are
-- written: benchmark databases have no history.
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE gen ON COMMIT DROP AS
SELECT n,
       md5('borderwatch-bench-' || n)::uuid AS id,
       DATE '2021-08-15' + (abs(hashint4(n)) % (CURRENT_DATE - DATE '2021-08-15' + 1)) AS day,
       d.slug AS district, d.province_code AS province,
       (ARRAY['suicide_bombing','ied','armed_assault','targeted_killing','ambush',
              'rocket_mortar','cross_border_fire','air_drone_strike','kidnapping','other'])
           [1 + abs(hashint4(n + 1)) % 10] AS attack_type,
       (ARRAY['military','paramilitary','police','civilians','religious','political',
              'government','education','health_polio','foreign_nationals','infrastructure',
              'militants','other'])[1 + abs(hashint4(n + 2)) % 13] AS target_type,
       (ARRAY['ttp','ttp','ttp','iskp','bla','hafiz-gul-bahadur','unknown'])
           [1 + abs(hashint4(n + 3)) % 7] AS perpetrator,
       (ARRAY['security_forces','police','civilians','militants','unknown'])
           [1 + abs(hashint4(n + 4)) % 5] AS cat1,
       abs(hashint4(n + 5)) % 9 AS k1, abs(hashint4(n + 6)) % 20 AS i1,
       abs(hashint4(n + 7)) % 5 AS k2, abs(hashint4(n + 8)) % 10 AS i2,
       69.0 + (abs(hashint4(n + 9)) % 500) / 100.0 AS lon,
       29.0 + (abs(hashint4(n + 10)) % 600) / 100.0 AS lat
  FROM generate_series(:start, :stop) AS n
  JOIN LATERAL (SELECT slug, province_code FROM districts
                 WHERE province_code IN ('PK-KP', 'PK-BA')
                 ORDER BY slug OFFSET abs(hashint4(n + 11)) % 75 LIMIT 1) d ON true;
-- The second category is the next one in the vocabulary, so the two always differ.
ALTER TABLE gen ADD COLUMN cat2 text;
UPDATE gen SET cat2 = (ARRAY['security_forces','police','civilians','militants','unknown'])
    [1 + (array_position(ARRAY['security_forces','police','civilians','militants','unknown'],
                         cat1)) % 5];
SET CONSTRAINTS ALL DEFERRED;
ALTER TABLE incidents DISABLE TRIGGER tr_incidents_totals;
ALTER TABLE casualties DISABLE TRIGGER tr_casualties_totals;
-- The rows an incident owns first: the incident row's trigger builds its stored document
-- (and CSV line) from them (migration 0003_stored_documents).
INSERT INTO casualties (incident_id, category, killed, injured)
SELECT id, cat1, k1, i1 FROM gen UNION ALL SELECT id, cat2, k2, i2 FROM gen
    ON CONFLICT DO NOTHING;
INSERT INTO incident_sources (incident_id, position, url)
SELECT id, 0, 'https://example.org/synthetic' FROM gen ON CONFLICT DO NOTHING;
INSERT INTO incident_tags (incident_id, tag) SELECT id, 'synthetic' FROM gen
    ON CONFLICT DO NOTHING;
INSERT INTO incidents (id, occurred_on, geom, geo_precision, province_code, district_slug,
                       attack_type, target_type, perpetrator_slug, killed_total,
                       injured_total, description, is_synthetic)
SELECT id, day, ST_SetSRID(ST_MakePoint(lon, lat), 4326), 'district', province, district,
       attack_type, target_type, perpetrator, k1 + k2, i1 + i2,
       'Synthetic benchmark incident; not a real event.', true
  FROM gen ORDER BY id ON CONFLICT (id) DO NOTHING;
-- Check the owned rows' keys now: a table with pending checks cannot be altered.
SET CONSTRAINTS ALL IMMEDIATE;
ALTER TABLE incidents ENABLE TRIGGER tr_incidents_totals;
ALTER TABLE casualties ENABLE TRIGGER tr_casualties_totals;
COMMIT;
