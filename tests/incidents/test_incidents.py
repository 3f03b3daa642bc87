"""Creating, reading, correcting and deleting incidents through HTTP, with roles and history."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.models import Incident, IncidentRevision
from tests.support.keys import Keys
from tests.support.payloads import PESHAWAR, incident


async def count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Incident)) or 0)


async def create(client: AsyncClient, headers: dict[str, str], **over: Any) -> Response:
    r = await client.post("/v1/incidents", json=incident(**over), headers=headers)
    assert r.status_code == 201, r.text
    return r


async def test_create_returns_201_location_etag_and_the_stored_incident(
    client: AsyncClient,
    keys: Keys,
) -> None:
    r = await create(client, keys.analyst)
    body = r.json()
    assert r.headers["location"] == f"/v1/incidents/{body['id']}"
    assert r.headers["etag"] == '"1"'
    assert body["killed_total"] == 84 and body["injured_total"] == 217
    assert body["version"] == 1 and body["status"] == "reported"
    assert body["created_by"] == keys.ids["analyst"]
    for name, value in PESHAWAR.items():
        assert body[name] == value, name

    got = await client.get(r.headers["location"])
    assert got.status_code == 200
    assert got.json() == body
    assert got.headers["etag"] == '"1"'


RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_documents_give_timestamps_in_rfc3339_utc_with_z(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    created = (await create(client, keys.analyst)).json()
    # PostgreSQL builds the document; the session's time zone must not show in it.
    await db.execute(text("SET LOCAL TimeZone = 'Asia/Karachi'"))
    doc = json.loads(
        await db.scalar(
            text("SELECT incident_document(i)::text FROM incidents i WHERE i.id = :id"),
            {"id": created["id"]},
        )
    )
    listed = (await client.get("/v1/incidents")).json()["items"]
    (item,) = [i for i in listed if i["id"] == created["id"]]
    for name in ("created_at", "updated_at"):
        assert RFC3339_UTC.match(doc[name]), doc[name]
        assert item[name] == doc[name]
        assert datetime.fromisoformat(doc[name]) == datetime.fromisoformat(created[name])


async def test_unicode_place_names_round_trip_unchanged(client: AsyncClient, keys: Keys) -> None:
    urdu = "پولیس لائنز مسجد، پشاور"
    pashto = "د پېښور پولیسو لاینونو جومات — ځانمرګی برید"
    r = await create(client, keys.analyst, place_name=urdu, description=pashto)
    got = (await client.get(r.headers["location"])).json()
    assert got["place_name"] == urdu and got["description"] == pashto


async def test_unknown_and_malformed_ids_are_404_problems(client: AsyncClient) -> None:
    for path in ("/v1/incidents/0190f1d2-0000-7000-8000-000000000000", "/v1/incidents/not-an-id"):
        r = await client.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"


async def test_writes_need_a_key_of_the_right_role(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await count(db)
    missing = await client.post("/v1/incidents", json=incident())
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = await client.post(
        "/v1/incidents", json=incident(), headers={"Authorization": "Bearer bw_forged"}
    )
    assert bad.status_code == 401
    reader = await client.post("/v1/incidents", json=incident(), headers=keys.reader)
    assert reader.status_code == 403
    assert reader.headers["content-type"] == "application/problem+json"
    assert await count(db) == before


async def test_a_revoked_key_cannot_write(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    await db.execute(
        text("UPDATE api_keys SET revoked_at = now() WHERE id = :id"), {"id": keys.ids["analyst"]}
    )
    r = await client.post("/v1/incidents", json=incident(), headers=keys.analyst)
    assert r.status_code == 401


async def test_only_editors_set_a_status(client: AsyncClient, keys: Keys) -> None:
    r = await client.post("/v1/incidents", json=incident(status="verified"), headers=keys.analyst)
    assert r.status_code == 403
    assert (await create(client, keys.editor, status="verified")).json()["status"] == "verified"


async def patch(
    client: AsyncClient,
    location: str,
    body: dict[str, Any],
    headers: dict[str, str],
    etag: str | None = '"1"',
) -> Response:
    h = {**headers, "Content-Type": "application/merge-patch+json"}
    if etag is not None:
        h["If-Match"] = etag
    return await client.patch(location, json=body, headers=h)


async def test_patch_is_a_merge_patch_that_bumps_the_version(
    client: AsyncClient, keys: Keys
) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    r = await patch(
        client,
        location,
        {
            "casualties": [
                {"category": "police", "killed": 84, "injured": 200},
                {"category": "civilians", "killed": 16, "injured": 21},
            ],
            "fatality_range": {"low": 95, "high": 101},
            "place_name": None,
        },
        keys.analyst,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["etag"] == '"2"' and body["version"] == 2
    assert (body["killed_total"], body["injured_total"]) == (100, 221)
    assert body["place_name"] is None  # null removes the member
    assert body["district"] == "peshawar"  # untouched members stay
    assert body["created_at"] < body["updated_at"] or body["created_at"] == body["updated_at"]
    assert (await client.get(location)).json() == body


async def test_patch_without_if_match_is_428(client: AsyncClient, keys: Keys) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    r = await patch(client, location, {"place_name": "x"}, keys.analyst, etag=None)
    assert r.status_code == 428
    assert r.headers["content-type"] == "application/problem+json"


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: AsyncClient,
    keys: Keys,
) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    assert (await patch(client, location, {"place_name": "first"}, keys.analyst)).is_success
    r = await patch(client, location, {"place_name": "second"}, keys.analyst, etag='"1"')
    assert r.status_code == 412
    assert r.headers["etag"] == '"2"'
    assert (await client.get(location)).json()["place_name"] == "first"


async def test_malformed_if_match_is_400(client: AsyncClient, keys: Keys) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    for etag in ("1", "*", "", "W/1", '"1'):
        r = await patch(client, location, {"place_name": "x"}, keys.analyst, etag=etag)
        assert r.status_code == 400, etag
        assert r.headers["content-type"] == "application/problem+json"


async def test_if_match_uses_strong_comparison_over_a_list(client: AsyncClient, keys: Keys) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    for etag in ('W/"1"', '"01"', '"one"', '"2", "3"'):
        r = await patch(client, location, {"place_name": "x"}, keys.analyst, etag=etag)
        assert r.status_code == 412, etag
    r = await patch(client, location, {"place_name": "x"}, keys.analyst, etag='"7", "1"')
    assert r.status_code == 200 and r.headers["etag"] == '"2"'


async def test_a_patch_that_changes_nothing_keeps_the_version(
    client: AsyncClient, keys: Keys
) -> None:
    created = await create(client, keys.analyst)
    location = created.headers["location"]
    for body in (
        {},
        {"district": "peshawar"},
        {"tags": ["mosque", "mosque"], "casualties": list(reversed(created.json()["casualties"]))},
    ):
        r = await patch(client, location, body, keys.analyst)
        assert r.status_code == 200 and r.headers["etag"] == '"1"', body
        assert r.json() == created.json()
    history = (await client.get(f"{location}/history")).json()["items"]
    assert [h["op"] for h in history] == ["created"]


async def test_malformed_json_patch_is_400(client: AsyncClient, keys: Keys) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    r = await client.patch(
        location,
        content=b"{nope",
        headers={**keys.analyst, "If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 400


async def test_a_patch_that_breaks_a_rule_is_422_and_changes_nothing(
    client: AsyncClient,
    keys: Keys,
) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    for body, field in [
        ({"district": "quetta"}, "district"),
        ({"casualties": [{"category": "police", "killed": -3}]}, "casualties.0.killed"),
        ({"killed_total": 3}, "killed_total"),
        ({"id": "other"}, "id"),
        ({"occurred_on": None}, "occurred_on"),
    ]:
        r = await patch(client, location, body, keys.analyst)
        assert r.status_code == 422, body
        assert field in [e["field"] for e in r.json()["errors"]]
    got = await client.get(location)
    assert got.json()["version"] == 1 and got.json()["district"] == "peshawar"


async def test_an_analyst_edits_only_their_own_incidents(client: AsyncClient, keys: Keys) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    other = await patch(client, location, {"place_name": "hijacked"}, keys.analyst2)
    assert other.status_code == 403
    reader = await patch(client, location, {"place_name": "x"}, keys.reader)
    assert reader.status_code == 403
    editor = await patch(client, location, {"place_name": "fixed by editor"}, keys.editor)
    assert editor.status_code == 200
    own = await patch(client, location, {"place_name": "own"}, keys.analyst, etag='"2"')
    assert own.status_code == 200


async def test_only_editors_change_status(client: AsyncClient, keys: Keys) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    r = await patch(client, location, {"status": "verified"}, keys.analyst)
    assert r.status_code == 403
    for version, status in enumerate(("verified", "disputed", "retracted"), start=1):
        r = await patch(client, location, {"status": status}, keys.editor, etag=f'"{version}"')
        assert r.status_code == 200 and r.json()["status"] == status


async def test_delete_is_soft_editor_only_and_keeps_history(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    location = (await create(client, keys.analyst)).headers["location"]
    assert (await client.delete(location, headers=keys.analyst)).status_code == 403
    assert (
        await client.delete(location, headers={**keys.editor, "If-Match": '"7"'})
    ).status_code == 412
    missing = await client.delete(location, headers=keys.editor)
    assert missing.status_code == 428
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.get(location)).status_code == 200  # a refused delete changes nothing
    r = await client.delete(location, headers={**keys.editor, "If-Match": '"1"'})
    assert r.status_code == 204
    assert (await client.get(location)).status_code == 404
    again = await client.delete(location, headers={**keys.editor, "If-Match": '"2"'})
    assert again.status_code == 404
    assert (
        await patch(client, location, {"place_name": "x"}, keys.editor, etag='"2"')
    ).status_code == 404
    incident_id = location.rsplit("/", 1)[1]
    assert await db.scalar(
        text("SELECT deleted_at IS NOT NULL FROM incidents WHERE id = :id"), {"id": incident_id}
    )
    history = (await client.get(f"{location}/history")).json()["items"]
    assert [h["op"] for h in history] == ["created", "deleted"]
    assert history[1]["actor"]["name"] == "editor"


async def test_history_after_three_edits(client: AsyncClient, keys: Keys) -> None:
    created = await create(client, keys.analyst)
    location = created.headers["location"]
    edits = [
        (keys.analyst, {"place_name": "Police Lines, Peshawar"}),
        (
            keys.analyst,
            {
                "casualties": [
                    {"category": "police", "killed": 84, "injured": 200},
                    {"category": "civilians", "killed": 16, "injured": 21},
                ],
                "fatality_range": None,
            },
        ),
        (keys.editor, {"status": "verified", "tags": ["mosque", "police-lines"]}),
    ]
    for n, (headers, body) in enumerate(edits, start=1):
        r = await patch(client, location, body, headers, etag=f'"{n}"')
        assert r.status_code == 200, r.text

    r = await client.get(f"{location}/history")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(h["version"], h["op"]) for h in items] == [
        (1, "created"),
        (2, "updated"),
        (3, "updated"),
        (4, "updated"),
    ]
    seqs = [h["seq"] for h in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert [h["actor"]["name"] for h in items] == ["analyst", "analyst", "analyst", "editor"]
    assert items[0]["before"] is None and items[0]["after"] == created.json()
    assert items[1]["changed_fields"] == ["place_name"]
    assert items[1]["before"] == {"place_name": "Police Lines mosque, Peshawar"}
    assert items[1]["after"] == {"place_name": "Police Lines, Peshawar"}
    assert items[2]["changed_fields"] == [
        "casualties",
        "fatality_range",
        "injured_total",
        "killed_total",
    ]
    assert (items[2]["before"]["killed_total"], items[2]["after"]["killed_total"]) == (84, 100)
    assert items[2]["after"]["fatality_range"] is None
    assert items[3]["changed_fields"] == ["status", "tags"]
    assert items[3]["after"] == {"status": "verified", "tags": ["mosque", "police-lines"]}


async def test_every_write_appends_to_the_change_feed_in_its_transaction(
    client: AsyncClient,
    db: AsyncSession,
    keys: Keys,
) -> None:
    start = await db.scalar(select(func.coalesce(func.max(IncidentRevision.seq), 0)))
    location = (await create(client, keys.analyst)).headers["location"]
    await patch(client, location, {"place_name": "x"}, keys.analyst)
    await client.delete(location, headers={**keys.editor, "If-Match": '"2"'})
    rows = (
        await db.execute(
            select(
                IncidentRevision.seq,
                IncidentRevision.op,
                IncidentRevision.incident_id,
                IncidentRevision.actor_key_id,
            )
            .where(IncidentRevision.seq > start)
            .order_by(IncidentRevision.seq)
        )
    ).all()
    assert [r.op for r in rows] == ["created", "updated", "deleted"]
    assert {str(r.incident_id) for r in rows} == {location.rsplit("/", 1)[1]}
    assert [r.actor_key_id for r in rows] == [
        keys.ids["analyst"],
        keys.ids["analyst"],
        keys.ids["editor"],
    ]


async def test_a_write_that_fails_leaves_no_revision(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    before = await db.scalar(select(func.count()).select_from(IncidentRevision))
    await client.post("/v1/incidents", json=incident(district="quetta"), headers=keys.analyst)
    assert await db.scalar(select(func.count()).select_from(IncidentRevision)) == before
