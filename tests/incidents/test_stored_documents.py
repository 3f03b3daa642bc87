"""The stored document and CSV line of each incident (migration 0003_stored_documents) stay
what incident_document() builds from its rows, through every kind of write, and are what
reads, lists and revisions hand out."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.keys import Keys
from tests.support.payloads import incident

PATCH = {"Content-Type": "application/merge-patch+json"}

# Rows whose stored columns or CSV line differ from a rebuild from their own rows, now: a
# live incident has exactly its line in incident_csv_lines, a deleted or retracted one none.
_STALE = text("""
    SELECT i.id FROM incidents i LEFT JOIN incident_csv_lines l ON l.id = i.id
     WHERE i.document IS DISTINCT FROM incident_document(i)::jsonb::text
        OR i.feature IS DISTINCT FROM incident_feature(incident_document(i)::jsonb)
        OR l.line IS DISTINCT FROM CASE WHEN i.deleted_at IS NULL AND i.status <> 'retracted'
                                        THEN incident_csv(incident_document(i)::jsonb) END
""")


async def test_every_write_keeps_the_stored_document_exact(
    client: AsyncClient, keys: Keys, db: AsyncSession
) -> None:
    batch = {"incidents": [incident(place_name=f"row {n}", tags=[f"t{n}"]) for n in range(3)]}
    r = await client.post("/v1/incidents:batch", json=batch, headers=keys.analyst)
    assert r.status_code == 201, r.text
    first, second, third = (item["id"] for item in r.json()["items"])
    r = await client.patch(
        f"/v1/incidents/{first}",
        json={
            "casualties": [{"category": "police", "killed": 2, "injured": 1}],
            "sources": [{"url": "https://example.org/new"}],
            "tags": ["changed"],
            "fatality_range": None,
        },
        headers={**keys.analyst, **PATCH, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["killed_total"] == 2 and r.json()["tags"] == ["changed"]
    r = await client.delete(f"/v1/incidents/{second}", headers={**keys.editor, "If-Match": '"1"'})
    assert r.status_code == 204
    assert (await db.execute(_STALE)).all() == []
    # Retracted, the CSV line goes; restored, it comes back with the new version.
    lines = text("SELECT count(*) FROM incident_csv_lines WHERE id = :id")
    for version, status, count in ((1, "retracted", 0), (2, "verified", 1)):
        r = await client.patch(
            f"/v1/incidents/{third}",
            json={"status": status},
            headers={**keys.editor, **PATCH, "If-Match": f'"{version}"'},
        )
        assert r.status_code == 200, r.text
        assert (await db.execute(lines, {"id": third})).scalar_one() == count
        assert (await db.execute(_STALE)).all() == []


async def test_a_code_in_use_cannot_be_renamed(
    client: AsyncClient, keys: Keys, db: AsyncSession
) -> None:
    """Documents, revisions and rollup buckets all name the code: renaming it in one place
    would leave the others behind (stale statistics, undeletable incidents)."""
    await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    rename = text("UPDATE districts SET slug = 'peshawar-city' WHERE slug = 'peshawar'")
    with pytest.raises(IntegrityError, match="fk_incidents_district_province_districts"):
        async with db.begin_nested():
            await db.execute(rename)
    unused = text("UPDATE districts SET slug = 'bajaur-agency' WHERE slug = 'bajaur'")
    async with db.begin_nested():
        assert (await db.execute(unused)).rowcount == 1


async def test_rollups_that_would_drift_refuse_the_write_as_a_server_error(
    client: AsyncClient, keys: Keys, db: AsyncSession
) -> None:
    r = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    incident_id = r.json()["id"]
    await db.execute(text("UPDATE fatality_daily SET killed = 0"))  # a defect, simulated
    r = await client.delete(
        f"/v1/incidents/{incident_id}", headers={**keys.editor, "If-Match": '"1"'}
    )
    assert r.status_code == 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/v1/incidents/{incident_id}")).status_code == 200


async def test_reads_lists_and_revisions_serve_the_stored_bytes(
    client: AsyncClient, keys: Keys, db: AsyncSession
) -> None:
    r = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    incident_id = r.json()["id"]
    stored, after = (
        await db.execute(
            text(
                "SELECT i.document, r.after::text AS after FROM incidents i "
                "JOIN incident_revisions r ON r.incident_id = i.id WHERE i.id = :id"
            ),
            {"id": incident_id},
        )
    ).one()
    assert stored == after  # an export now and one of this version later agree
    assert r.text == stored
    assert (await client.get(f"/v1/incidents/{incident_id}")).text == stored
    listed = (await client.get("/v1/incidents", params={"limit": 500})).text
    assert stored in listed
