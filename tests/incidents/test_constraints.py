"""The database itself refuses bad rows: inserted directly, past the API, each one fails on the
constraint that names the rule."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi

INSERT_INCIDENT = text("""
INSERT INTO incidents (id, occurred_on, geom, province_code, district_slug, attack_type,
    target_type, perpetrator_slug, killed_total, injured_total, fatality_low, fatality_high,
    status, kind, crossing_slug)
VALUES (:id, :occurred_on, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :province, :district,
    :attack_type, :target_type, :perpetrator, :killed_total, :injured_total, :low, :high,
    :status, :kind, :crossing)
""")


def incident(**over: Any) -> dict[str, Any]:
    row = {
        "id": uuid.uuid4(),
        "occurred_on": date(2023, 1, 30),
        "lon": 71.5594,
        "lat": 34.0131,
        "province": "PK-KP",
        "district": "peshawar",
        "attack_type": "suicide_bombing",
        "target_type": "police",
        "perpetrator": "ttp",
        "killed_total": 0,
        "injured_total": 0,
        "low": None,
        "high": None,
        "status": "reported",
        "kind": "attack",
        "crossing": None,
    }
    row.update(over)
    return row


def constraint_of(error: sa_exc.DBAPIError) -> str | None:
    return getattr(error.orig.__cause__, "constraint_name", None)  # type: ignore[union-attr]


async def refused(
    db: AsyncSession, statement: Any, params: dict[str, Any], *, immediate: bool = False
) -> str | None:
    """Run statement in a savepoint; return the constraint that refused it (fails if none)."""
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with db.begin_nested():
            await db.execute(statement, params)
            if immediate:  # deferred constraint triggers fire here instead of at commit
                await db.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    return constraint_of(caught.value)


async def test_a_valid_incident_is_accepted(db: AsyncSession) -> None:
    row = incident()
    await db.execute(INSERT_INCIDENT, row)
    await db.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    assert (
        await db.scalar(text("SELECT count(*) FROM incidents WHERE id = :id"), {"id": row["id"]})
        == 1
    )


@pytest.mark.parametrize(
    ("override", "constraint"),
    [
        ({"lon": 80.0}, "ck_incidents_geom_region"),
        ({"lat": 12.0}, "ck_incidents_geom_region"),
        ({"occurred_on": date(2000, 12, 31)}, "ck_incidents_occurred_on"),
        ({"occurred_on": today_karachi() + timedelta(days=2)}, "ck_incidents_occurred_on"),
        ({"attack_type": "drive_by"}, "ck_incidents_attack_type"),
        ({"target_type": "aliens"}, "ck_incidents_target_type"),
        ({"status": "deleted"}, "ck_incidents_status"),
        ({"kind": "war"}, "ck_incidents_kind"),
        ({"province": "PK-XX", "district": None}, "fk_incidents_province_code_provinces"),
        ({"district": "quetta"}, "fk_incidents_district_province_districts"),  # quetta is PK-BA
        ({"district": "atlantis"}, "fk_incidents_district_province_districts"),
        ({"perpetrator": "nobody-known"}, "fk_incidents_perpetrator_slug_actors"),
        ({"crossing": "khunjerab"}, "fk_incidents_crossing_slug_crossing_points"),
        ({"killed_total": -1}, "ck_incidents_killed_total"),
        ({"killed_total": 5, "low": 5, "high": None}, "ck_incidents_fatality_range_pair"),
        ({"killed_total": 10, "low": 11, "high": 20}, "ck_incidents_fatality_range"),
        ({"killed_total": 30, "low": 11, "high": 20}, "ck_incidents_fatality_range"),
    ],
)
async def test_bad_incident_rows_are_refused(
    db: AsyncSession, override: dict[str, Any], constraint: str
) -> None:
    assert await refused(db, INSERT_INCIDENT, incident(**override)) == constraint


async def test_missing_location_is_refused(db: AsyncSession) -> None:
    statement = text(
        "INSERT INTO incidents (id, occurred_on, province_code, attack_type,"
        " target_type) VALUES (:id, '2023-01-01', 'PK-KP', 'ied', 'police')"
    )
    with pytest.raises(sa_exc.IntegrityError, match="not-null"):
        async with db.begin_nested():
            await db.execute(statement, {"id": uuid.uuid4()})


async def _stored_incident(db: AsyncSession) -> uuid.UUID:
    row = incident()
    await db.execute(INSERT_INCIDENT, row)
    return row["id"]  # type: ignore[no-any-return]


INSERT_CASUALTY = text(
    "INSERT INTO casualties (incident_id, category, killed, injured)"
    " VALUES (:id, :category, :killed, :injured)"
)


@pytest.mark.parametrize(
    ("row", "constraint"),
    [
        ({"category": "tourists", "killed": 0, "injured": 0}, "ck_casualties_category"),
        ({"category": "police", "killed": 10001, "injured": 0}, "ck_casualties_killed"),
        ({"category": "police", "killed": -1, "injured": 0}, "ck_casualties_killed"),
        ({"category": "police", "killed": 0, "injured": 10001}, "ck_casualties_injured"),
    ],
)
async def test_bad_casualty_rows_are_refused(
    db: AsyncSession, row: dict[str, Any], constraint: str
) -> None:
    incident_id = await _stored_incident(db)
    assert await refused(db, INSERT_CASUALTY, {"id": incident_id, **row}) == constraint


async def test_one_casualty_row_per_category(db: AsyncSession) -> None:
    incident_id = await _stored_incident(db)
    params = {"id": incident_id, "category": "police", "killed": 0, "injured": 0}
    await db.execute(INSERT_CASUALTY, params)
    assert await refused(db, INSERT_CASUALTY, params) == "pk_casualties"


async def test_totals_that_disagree_with_casualties_are_refused(db: AsyncSession) -> None:
    incident_id = await _stored_incident(db)  # killed_total 0
    params = {"id": incident_id, "category": "police", "killed": 3, "injured": 0}
    assert (
        await refused(db, INSERT_CASUALTY, params, immediate=True)
        == "ck_incidents_totals_match_casualties"
    )


async def test_totals_that_agree_with_casualties_pass_at_commit_time(db: AsyncSession) -> None:
    row = incident(killed_total=3, injured_total=7)
    async with db.begin_nested():
        await db.execute(INSERT_INCIDENT, row)  # totals first, casualties after: deferred check
        await db.execute(
            INSERT_CASUALTY, {"id": row["id"], "category": "police", "killed": 1, "injured": 7}
        )
        await db.execute(
            INSERT_CASUALTY, {"id": row["id"], "category": "civilians", "killed": 2, "injured": 0}
        )
        await db.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/a",
        "javascript:alert(1)",
        "https://",
        "example.org/no-scheme",
        "https:// spaced.org",
    ],
)
async def test_sources_need_an_http_url(db: AsyncSession, url: str) -> None:
    incident_id = await _stored_incident(db)
    statement = text(
        "INSERT INTO incident_sources (incident_id, position, url) VALUES (:id, 0, :url)"
    )
    assert (
        await refused(db, statement, {"id": incident_id, "url": url}) == "ck_incident_sources_url"
    )


async def test_tags_are_lowercase_codes(db: AsyncSession) -> None:
    incident_id = await _stored_incident(db)
    statement = text("INSERT INTO incident_tags (incident_id, tag) VALUES (:id, :tag)")
    assert (
        await refused(db, statement, {"id": incident_id, "tag": "Mosque Attack"})
        == "ck_incident_tags_tag"
    )


async def test_revisions_are_consistent_with_their_operation(db: AsyncSession) -> None:
    incident_id = await _stored_incident(db)
    statement = text(
        "INSERT INTO incident_revisions (incident_id, version, seq, op, before, after)"
        " VALUES (:id, 1, 9000001, 'created', '{}', '{}')"
    )
    assert await refused(db, statement, {"id": incident_id}) == "ck_incident_revisions_before"
    statement = text(
        "INSERT INTO incident_revisions (incident_id, version, seq, op, after)"
        " VALUES (:id, 1, 9000002, 'created', '{}')"
    )
    await db.execute(statement, {"id": incident_id})
    assert await refused(db, statement, {"id": incident_id}) == "pk_incident_revisions"


async def test_history_cannot_be_orphaned(db: AsyncSession) -> None:
    incident_id = await _stored_incident(db)
    await db.execute(
        text(
            "INSERT INTO incident_revisions (incident_id, version, seq, op, after)"
            " VALUES (:id, 1, 9000003, 'created', '{}')"
        ),
        {"id": incident_id},
    )
    assert (
        await refused(db, text("DELETE FROM incidents WHERE id = :id"), {"id": incident_id})
        == "fk_incident_revisions_incident_id_incidents"
    )


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        (
            "INSERT INTO api_keys (name, role, prefix, key_hash)"
            " VALUES ('x', 'root', 'bw_12345678', sha256('a'))",
            "ck_api_keys_role",
        ),
        (
            "INSERT INTO api_keys (name, role, prefix, key_hash)"
            " VALUES ('x', 'admin', 'bw_12345678', 'short')",
            "ck_api_keys_key_hash",
        ),
        (
            "INSERT INTO districts (slug, name, province_code) VALUES ('Bad Slug', 'X', 'PK-KP')",
            "ck_districts_slug",
        ),
        (
            "INSERT INTO districts (slug, name, province_code) VALUES ('peshawar', 'X', 'PK-KP')",
            "pk_districts",
        ),
        ("INSERT INTO provinces (code, name) VALUES ('PK-kp', 'X')", "ck_provinces_code"),
        ("INSERT INTO actors (slug, name) VALUES ('ttp', 'again')", "pk_actors"),
        (
            "INSERT INTO crossing_status_events (crossing_slug, status, valid_from, valid_to)"
            " VALUES ('torkham', 'closed', '2024-02-01', '2024-01-01')",
            "ck_crossing_status_events_period",
        ),
        (
            "INSERT INTO crossing_status_events (crossing_slug, status, valid_from)"
            " VALUES ('torkham', 'half-open', '2024-02-01')",
            "ck_crossing_status_events_status",
        ),
        (
            "INSERT INTO crossing_points (slug, name, geom, province_code, afghan_province_code) VALUES"
            " ('x', 'X', ST_SetSRID(ST_MakePoint(70, 34), 4326), 'PK-KP', 'PK-BA')",
            "ck_crossing_points_afghan_province",
        ),
        (
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, response_status,"
            " response_body) SELECT id, 'k', sha256('b'), 99, '' FROM api_keys LIMIT 1",
            "ck_idempotency_keys_response_status",
        ),
        (
            "INSERT INTO fatality_rollup (day, province_code, perpetrator_slug, attack_type, kind,"
            " status, killed) VALUES ('2024-01-01', 'PK-KP', 'ttp', 'ied', 'attack', 'reported', -1)",
            "ck_fatality_rollup_killed",
        ),
    ],
)
async def test_reference_and_bookkeeping_rows_are_checked(
    db: AsyncSession, sql: str, constraint: str
) -> None:
    await db.execute(
        text(
            "INSERT INTO api_keys (name, role, prefix, key_hash)"
            " VALUES ('t', 'admin', 'bw_abcdefgh', sha256('t'))"
        )
    )
    assert await refused(db, text(sql), {}) == constraint


async def test_one_rollup_row_per_bucket_even_without_district(db: AsyncSession) -> None:
    sql = text(
        "INSERT INTO fatality_rollup (day, province_code, perpetrator_slug, attack_type,"
        " kind, status) VALUES ('2024-01-01', 'PK-KP', 'ttp', 'ied', 'attack', 'reported')"
    )
    await db.execute(sql)
    assert await refused(db, sql, {}) == "uq_fatality_rollup_bucket"
