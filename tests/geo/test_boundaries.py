"""Loading boundaries from GeoJSON files: matching by code and by normalised name, what is
refused and why, one transaction, and the CLI as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.geo import boundaries
from app.geo.boundaries import Fields, normalise
from tests.support.boundaries import box, feature, write
from tests.support.dbutil import throwaway_database
from tests.test_cli import borderwatch, dsn

PESHAWAR = box(71.4, 33.9, 71.7, 34.1)
KHYBER = box(71.0, 33.9, 71.4, 34.3)
BOWTIE = {"type": "Polygon", "coordinates": [[[70.5, 33.0], [70.7, 33.2], [70.7, 33.0], [70.5, 33.2], [70.5, 33.0]]]}  # fmt: skip
NOT_A_RING = {"type": "Polygon", "coordinates": [71.0, 34.0]}


async def loaded(db: AsyncSession, table: str) -> set[str]:
    key = "code" if table == "provinces" else "slug"
    rows = await db.execute(text(f"SELECT {key} FROM {table} WHERE geom IS NOT NULL"))
    return set(rows.scalars())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Péshawar District", "peshawar"),
        ("DERA ISMAIL-KHAN  district", "dera ismail khan"),
        ("Khyber Agency", "khyber"),
        ("Kurram", "kurram"),
        ("Dera Ghazi Khan", "dera ghazi khan"),
        ("District", "district"),  # a name that is only the suffix keeps it
    ],
)
def test_names_are_compared_without_case_accents_punctuation_or_suffix(
    name: str, expected: str
) -> None:
    assert normalise(name) == expected


async def test_districts_load_by_name_and_every_refusal_says_why(db: AsyncSession) -> None:
    epoch = await db.scalar(text("SELECT epoch FROM data_version"))
    features = [
        feature(PESHAWAR, shapeName="Péshawar District"),
        feature(KHYBER, shapeName="KHYBER agency"),
        feature(box(74, 31, 74.5, 31.5), shapeName="Lahore"),
        feature({"type": "Point", "coordinates": [67.0, 30.2]}, shapeName="Quetta"),
        feature(box(66.8, 30.0, 67.2, 30.4), shapeName="Quetta"),
        feature(box(66.9, 30.1, 67.1, 30.3), shapeName="quetta district"),
        feature(BOWTIE, shapeName="Bannu"),
        feature(NOT_A_RING, shapeName="Kohat"),
        feature(box(70, 32, 70.1, 32.1), other="no name here"),
        feature(box(71.5, 35.0, 71.9, 35.5), shapeName="Turbat"),  # an alias of kech
        feature(box(7_900_000, 3_980_000, 7_950_000, 4_030_000), shapeName="Mardan"),  # metres
        feature(
            {"type": "Polygon", "coordinates": [[[70, 32], [70.1, 32.1], [70, 32]]]},
            shapeName="Swabi",
        ),
    ]
    report = await boundaries.load(db, features, "district", Fields(name="shapeName"))

    outcome = {o.index: o for o in report.outcomes}
    assert [(o.index, o.unit) for o in report.loaded] == [
        (0, "peshawar"),
        (1, "khyber"),
        (6, "bannu"),
        (9, "kech"),
    ]
    assert outcome[6].note is not None and "repaired" in outcome[6].note
    assert outcome[2].reason == "no such district"
    assert outcome[3].reason == "not a polygon (Point)"
    assert "two features for one district" in (outcome[4].reason or "")
    assert "two features for one district" in (outcome[5].reason or "")
    assert (outcome[7].reason or "").startswith("invalid geometry")
    assert outcome[8].reason == "no 'shapeName' property"
    assert outcome[10].reason == ("invalid geometry: coordinates are not WGS 84 longitude/latitude")
    assert outcome[11].reason == "invalid geometry: no polygon left once repaired"
    assert await loaded(db, "districts") == {"peshawar", "khyber", "bannu", "kech"}
    # The repaired bowtie is stored as a valid MultiPolygon of its two triangles.
    valid, kind, parts = (
        await db.execute(
            text(
                "SELECT ST_IsValid(geom), GeometryType(geom), ST_NumGeometries(geom)"
                " FROM districts WHERE slug = 'bannu'"
            )
        )
    ).one()
    assert (valid, kind, parts) == (True, "MULTIPOLYGON", 2)

    total = await db.scalar(text("SELECT count(*) FROM districts"))
    assert len(report.without_boundary) == total - 4
    assert "quetta" in report.without_boundary and "peshawar" not in report.without_boundary
    lines = "\n".join(report.lines())
    assert "matched   feature 0 'Péshawar District' -> peshawar" in lines
    assert "unmatched feature 2 'Lahore': no such district" in lines

    assert await db.scalar(text("SELECT epoch FROM data_version")) == epoch + 1
    entry = (
        await db.execute(
            text(
                "SELECT action, entity_type, detail FROM audit_log"
                " WHERE action = 'boundaries.load' ORDER BY id DESC LIMIT 1"
            )
        )
    ).one()
    assert entry.entity_type == "district"
    assert entry.detail["loaded"] == {"peshawar": 0, "khyber": 1, "bannu": 6, "kech": 9}
    # Every stored boundary is cut into pieces that place incidents.
    pieces = await db.scalars(text("SELECT DISTINCT code FROM boundary_parts"))
    assert set(pieces) == {"peshawar", "khyber", "bannu", "kech"}


async def test_provinces_load_by_code(db: AsyncSession) -> None:
    features = [
        feature(box(70, 33, 72, 35), shapeISO="PK-KP", shapeName="Khyber Pakhtunkhwa"),
        feature(box(74, 30, 75, 31), shapeISO="pk-pb", shapeName="Punjab"),
        feature(box(60, 20, 61, 21), shapeISO="PK-XX", shapeName="Nowhere"),
    ]
    report = await boundaries.load(db, features, "province", Fields(code="shapeISO"))
    assert [o.unit for o in report.loaded] == ["PK-KP", "PK-PB"]
    assert report.refused[0].reason == "no province with code 'PK-XX'"
    assert await loaded(db, "provinces") == {"PK-KP", "PK-PB"}
    assert "PK-BA" in report.without_boundary


async def test_a_province_field_tells_districts_of_one_name_apart(db: AsyncSession) -> None:
    await db.execute(
        text(
            "INSERT INTO districts (slug, name, province_code) VALUES ('khyber-pb', 'Khyber', 'PK-PB')"
        )
    )
    features = [feature(KHYBER, shapeName="Khyber", prov="Khyber Pakhtunkhwa")]
    ambiguous = await boundaries.load(db, features, "district", Fields(name="shapeName"))
    assert ambiguous.loaded == []
    assert "ambiguous: khyber (PK-KP), khyber-pb (PK-PB)" in (ambiguous.refused[0].reason or "")

    told = await boundaries.load(
        db, features, "district", Fields(name="shapeName", province="prov")
    )
    assert [o.unit for o in told.loaded] == ["khyber"]


async def test_a_load_of_nothing_matched_neither_audits_nor_moves_the_epoch(
    db: AsyncSession,
) -> None:
    epoch = await db.scalar(text("SELECT epoch FROM data_version"))
    report = await boundaries.load(
        db, [feature(PESHAWAR, shapeName="Lahore")], "district", Fields(name="shapeName")
    )
    assert report.loaded == []
    assert await db.scalar(text("SELECT epoch FROM data_version")) == epoch
    assert await loaded(db, "districts") == set()


# ---- the CLI, run as a user runs it, against a database of its own ----------------------


async def _geoms(url: str) -> set[str]:
    conn = await asyncpg.connect(dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT code FROM provinces WHERE geom IS NOT NULL"
            " UNION ALL SELECT slug FROM districts WHERE geom IS NOT NULL"
        )
        return {r[0] for r in rows}
    finally:
        await conn.close()


async def test_the_cli_loads_reports_and_exits_by_what_it_stored(tmp_path: Path) -> None:
    import asyncio

    provinces = write(
        tmp_path / "adm1.geojson",
        feature(box(70, 33, 72, 35), shapeISO="PK-KP"),
        feature(box(74, 30, 75, 31), shapeISO="PK-ZZ"),
    )
    districts = write(
        tmp_path / "adm2.geojson",
        feature(PESHAWAR, shapeName="Peshawar District"),
        feature(NOT_A_RING, shapeName="Kohat"),
        feature(KHYBER, shapeName="Khyber"),
    )
    nothing = write(tmp_path / "none.geojson", feature(PESHAWAR, shapeName="Lahore"))
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")

    async with throwaway_database() as url:

        def cli(*args: str | Path) -> tuple[int, str, str]:
            done = borderwatch(url, "boundaries", "load", *map(str, args))
            return done.returncode, done.stdout, done.stderr

        async def run(*args: str | Path) -> tuple[int, str, str]:
            return await asyncio.to_thread(cli, *args)

        code, out, _ = await run(
            provinces, "--level", "province", "--code-field", "shapeISO", "--dry-run"
        )
        assert code == 0 and "dry run: nothing stored" in out
        assert "matched   feature 0 'PK-KP' -> PK-KP" in out
        assert "unmatched feature 1 'PK-ZZ': no province with code 'PK-ZZ'" in out
        assert await _geoms(url) == set()

        code, out, err = await run(broken, "--level", "district", "--name-field", "shapeName")
        assert code == 2 and "cannot read" in err
        code, out, _ = await run(nothing, "--level", "district", "--name-field", "shapeName")
        assert code == 1 and "nothing matched" in out

        # --strict: the bad feature in the middle of the file leaves nothing stored.
        code, out, _ = await run(
            districts, "--level", "district", "--name-field", "shapeName", "--strict"
        )
        assert code == 1 and "nothing stored" in out
        assert "unmatched feature 1 'Kohat': invalid geometry" in out
        assert await _geoms(url) == set()

        # A database error on the last feature rolls back the ones before it.
        conn = await asyncpg.connect(dsn(url))
        try:
            await conn.execute(
                "ALTER TABLE districts ADD CONSTRAINT ck_no_khyber"
                " CHECK (slug <> 'khyber' OR geom IS NULL)"
            )
            code, out, err = await run(
                districts, "--level", "district", "--name-field", "shapeName"
            )
            assert code == 1 and "database error, nothing stored" in err
            assert await _geoms(url) == set()
            await conn.execute("ALTER TABLE districts DROP CONSTRAINT ck_no_khyber")
        finally:
            await conn.close()

        code, out, _ = await run(districts, "--level", "district", "--name-field", "shapeName")
        assert code == 0, out
        assert "stored 2 district boundaries" in out
        assert "districts without a boundary (" in out
        code, out, _ = await run(provinces, "--level", "province", "--code-field", "shapeISO")
        assert code == 0 and "stored 1 province boundaries" in out
        assert await _geoms(url) == {"PK-KP", "peshawar", "khyber"}


def test_the_cli_refuses_a_file_in_another_crs(tmp_path: Path) -> None:
    path = tmp_path / "mercator.geojson"
    data = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [feature(box(0, 0, 1, 1), name="x")],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(boundaries.Unreadable, match="only WGS 84"):
        boundaries.read_features(path)


# ---- what is checked before PostGIS reads a geometry ------------------------------------


def _ring(*positions: object) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": [list(positions)]}


async def test_coordinates_that_are_not_numbers_are_refused_not_read_as_zero(
    db: AsyncSession,
) -> None:
    """PostGIS's ST_GeomFromGeoJSON reads text, null or true as 0: such a box would be stored
    with a corner at (0, 34)."""
    good = [[71.4, 33.9], [71.7, 33.9], [71.7, 34.1], [71.4, 34.1], [71.4, 33.9]]
    bad = {
        "peshawar": ["a", 34],
        "khyber": [None, 34],
        "bannu": [True, 34],
        "kohat": [71.5, float("nan")],
        "mardan": [[71.5, 34]],  # nested one level too deep
        "swabi": [71.5],  # one number is not a position
        "karak": [71.5, 34, 0, 0, 0],  # five numbers neither
    }
    features = [feature(_ring(*good[:2], pos, *good[2:]), shapeName=n) for n, pos in bad.items()]
    features.append(
        feature({"type": "MultiPolygon", "coordinates": [good]}, shapeName="Bajaur")
    )  # a Polygon's nesting given as a MultiPolygon
    report = await boundaries.load(db, features, "district", Fields(name="shapeName"))
    assert report.loaded == []
    for o in report.outcomes:
        assert (o.reason or "").startswith("invalid geometry: the coordinates of a "), o
        assert "finite numbers" in (o.reason or "")
    assert await loaded(db, "districts") == set()


async def test_a_boundary_outside_the_region_is_refused(db: AsyncSession) -> None:
    """A lat/lon-swapped file, or a world polygon, would otherwise capture or refuse every
    location of its unit; a boundary a little past the region's edge still loads."""
    features = [
        feature(box(33.9, 71.4, 34.1, 71.7), shapeName="Peshawar"),  # lat/lon swapped
        feature(box(-180, -90, 180, 90), shapeName="Khyber"),  # the world
        feature(box(61.5, 25.0, 64.0, 27.0), shapeName="Kech"),  # inside
        feature(box(59.8, 28.0, 63.0, 29.9), shapeName="Chagai"),  # 0.2° past lon 60
        feature(box(74.0, 30.0, 79.0, 31.0), shapeName="Bannu"),  # 1° past lon 78
    ]
    report = await boundaries.load(db, features, "district", Fields(name="shapeName"))
    assert [o.unit for o in report.loaded] == ["kech", "chagai"]
    refused = {o.label: o.reason or "" for o in report.refused}
    assert set(refused) == {"Peshawar", "Khyber", "Bannu"}
    for reason in refused.values():
        assert reason.startswith("outside the region (lon 60 to 78, lat 23 to 38)")
        assert reason.endswith("(lat/lon swapped?)")
    assert "spans lon 33.9 to 34.1, lat 71.4 to 71.7" in refused["Peshawar"]
    assert await loaded(db, "districts") == {"kech", "chagai"}


async def test_positions_with_altitude_are_loaded_in_2d(db: AsyncSession) -> None:
    """RFC 7946 allows a third number (altitude); a fourth is read and dropped alike."""
    features = [
        feature(_ring(*([x, y, 350.0] for x, y in box(71.4, 33.9, 71.7, 34.1)["coordinates"][0])),
                shapeName="Peshawar"),
        feature(_ring(*([x, y, 1.0, 2.0] for x, y in box(71.0, 33.9, 71.4, 34.3)["coordinates"][0])),
                shapeName="Khyber"),
    ]  # fmt: skip
    report = await boundaries.load(db, features, "district", Fields(name="shapeName"))
    assert [o.unit for o in report.loaded] == ["peshawar", "khyber"], report.lines()
    rows = await db.execute(
        text(
            "SELECT slug, ST_NDims(geom), ST_XMin(geom), ST_YMax(geom) FROM districts"
            " WHERE geom IS NOT NULL ORDER BY slug"
        )
    )
    assert [tuple(r) for r in rows] == [("khyber", 2, 71.0, 34.3), ("peshawar", 2, 71.4, 34.1)]


async def test_each_refusal_names_its_own_cause(db: AsyncSession) -> None:
    mercator = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    crs84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    features = [
        feature({"type": "Polygon", "coordinates": []}, shapeName="Peshawar"),
        feature({"type": "MultiPolygon", "coordinates": [[[]]]}, shapeName="Khyber"),
        feature(box(70.5, 32.9, 70.7, 33.1), shapeName=["Bannu"]),
        feature(box(72.0, 34.1, 72.2, 34.3), shapeName="Mardan\u0000"),
        feature(box(72.3, 34.0, 72.5, 34.2), shapeName="Swabi\n"),
        feature(box(71.4, 33.4, 71.6, 33.6) | {"crs": mercator}, shapeName="Kohat"),
        feature(box(70.8, 32.9, 71.2, 33.2) | {"crs": crs84}, shapeName="Karak"),
    ]
    report = await boundaries.load(db, features, "district", Fields(name="shapeName"))
    reasons = [o.reason for o in report.outcomes]
    assert reasons == [
        "invalid geometry: empty geometry (no coordinates)",
        "invalid geometry: empty geometry (no coordinates)",
        "the 'shapeName' property is not text (list)",
        "the 'shapeName' property holds control characters",
        "the 'shapeName' property holds control characters",
        "invalid geometry: declares the CRS 'urn:ogc:def:crs:EPSG::3857'; only WGS 84 lon/lat"
        " is read",
        None,
    ]
    assert await loaded(db, "districts") == {"karak"}


async def test_seed_demo_says_why_when_a_loaded_boundary_refuses_its_rows(tmp_path: Path) -> None:
    import asyncio

    # Khyber Pakhtunkhwa as a small box round Peshawar: synthetic incidents near the other
    # crossings of KP lie far outside it.
    provinces = write(tmp_path / "adm1.geojson", feature(box(71.3, 33.8, 71.8, 34.2), iso="PK-KP"))
    async with throwaway_database() as url:
        load = await asyncio.to_thread(
            borderwatch,
            url,
            "boundaries",
            "load",
            str(provinces),
            "--level",
            "province",
            "--code-field",
            "iso",
        )
        assert load.returncode == 0, load.stdout + load.stderr
        seeded = await asyncio.to_thread(borderwatch, url, "seed-demo", "--synthetic", "200")
        assert seeded.returncode == 1, seeded.stdout + seeded.stderr
        assert "Traceback" not in seeded.stderr
        assert "error: demo data refused" in seeded.stderr and "province" in seeded.stderr
