"""A crossing's status events follow SPEC "Crossing point" when written: the current status,
inverted and overlapping periods refused, open-ended ones ended by the next, edits and
deletions with If-Match, audit entries; and the seeded closures obey the same rules."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import today_karachi
from tests.core.test_errors import assert_problem
from tests.crossings.test_crossing_writes import MERGE, audit_rows, new_crossing
from tests.support.keys import Keys

URL = "/v1/crossings/shaheedano-dand/status"


@pytest.fixture
async def crossing(client: AsyncClient, keys: Keys) -> str:
    """A new crossing without events."""
    r = await client.post("/v1/crossings", json=new_crossing(), headers=keys.editor)
    assert r.status_code == 201, r.text
    return "/v1/crossings/shaheedano-dand"


def event(status: str, start: str, end: str | None = None, **more: Any) -> dict[str, Any]:
    return {"status": status, "from": start, "to": end, "reason": f"{status} from {start}"} | more


async def post(client: AsyncClient, keys: Keys, body: dict[str, Any]) -> Any:
    return await client.post(URL, json=body, headers=keys.editor)


async def history(client: AsyncClient) -> list[dict[str, Any]]:
    r = await client.get(URL)
    assert r.status_code == 200
    return r.json()["items"]  # type: ignore[no-any-return]


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def covered(items: list[dict[str, Any]], until: date) -> Counter[date]:
    """How many events cover each day (an open-ended one up to `until`)."""
    count: Counter[date] = Counter()
    for e in items:
        end = date.fromisoformat(e["to"]) if e["to"] else until
        count.update(days(date.fromisoformat(e["from"]), end))
    return count


async def test_an_event_posted_is_stored_and_makes_the_current_status(
    client: AsyncClient, keys: Keys, crossing: str
) -> None:
    today = today_karachi()
    since = (today - timedelta(days=3)).isoformat()
    r = await post(client, keys, event("closed", since, source_url="https://example.org/a"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"{URL}/{created['id']}"
    assert r.headers["etag"] == '"1"'
    assert created | {"id": 0} == {
        "id": 0,
        "status": "closed",
        "from": since,
        "to": None,
        "reason": f"closed from {since}",
        "source_url": "https://example.org/a",
        "version": 1,
    }
    got = await client.get(r.headers["location"])
    assert got.json() == created and got.headers["etag"] == '"1"'
    detail = (await client.get(crossing)).json()
    assert detail["current_status"] == {
        "status": "closed",
        "since": since,
        "reason": f"closed from {since}",
    }
    assert detail["version"] == 2  # the crossing's ETag moves with its events
    assert detail["status_history"] == [created]


async def test_only_editors_post_events(client: AsyncClient, keys: Keys, crossing: str) -> None:
    body = event("closed", "2025-01-01")
    assert_problem(await client.post(URL, json=body), 401)
    for role in ("reader", "analyst"):
        assert_problem(await client.post(URL, json=body, headers=keys.headers[role]), 403)
    assert await history(client) == []
    assert_problem(
        await client.post("/v1/crossings/nowhere/status", json=body, headers=keys.editor), 404
    )


async def test_an_inverted_period_is_a_422_on_to(
    client: AsyncClient, keys: Keys, crossing: str
) -> None:
    body = assert_problem(
        await post(client, keys, event("closed", "2025-10-12", "2025-10-11")), 422
    )
    assert [e["field"] for e in body["errors"]] == ["to"]
    for bad, field in (
        (event("shut", "2025-10-12"), "status"),
        (event("closed", "12/10/2025"), "from"),
        (event("closed", "2025-10-12", source_url="ftp://x"), "source_url"),
        (event("closed", "2025-10-12", colour="red"), "colour"),
        ({"status": "closed"}, "from"),
    ):
        body = assert_problem(await post(client, keys, bad), 422)
        assert [e["field"] for e in body["errors"]] == [field], body
    assert await history(client) == []


async def test_a_closure_ends_the_restriction_in_force_the_day_before(
    client: AsyncClient, db: AsyncSession, keys: Keys, crossing: str
) -> None:
    restricted = (await post(client, keys, event("restricted", "2023-11-01"))).json()
    closed = await post(client, keys, event("closed", "2025-10-12"))
    assert closed.status_code == 201, closed.text
    items = await history(client)
    assert [(e["status"], e["from"], e["to"]) for e in items] == [
        ("closed", "2025-10-12", None),
        ("restricted", "2023-11-01", "2025-10-11"),
    ]
    # The end is stored, as a new version of the restriction.
    assert items[1]["version"] == 2
    assert (
        await db.scalar(
            text("SELECT valid_to FROM crossing_status_events WHERE id = :i"),
            {"i": restricted["id"]},
        )
    ) == date(2025, 10, 11)
    rows = await audit_rows(db, "crossing_status_event", str(closed.json()["id"]))
    assert [r.action for r in rows] == ["crossing_status.created"]
    assert rows[0].detail["ended"] == [{"id": restricted["id"], "to": "2025-10-11"}]
    assert rows[0].actor_key_id == keys.ids["editor"]


async def test_an_open_ended_event_before_a_later_one_ends_the_day_before_it(
    client: AsyncClient, keys: Keys, crossing: str
) -> None:
    await post(client, keys, event("closed", "2025-10-12", "2025-10-19"))
    r = await post(client, keys, event("restricted", "2024-01-13"))
    assert r.status_code == 201 and r.json()["to"] == "2025-10-11"
    # A bounded period in the gap after the closure is fine; so is an open-ended one after it.
    assert (await post(client, keys, event("restricted", "2025-10-20"))).status_code == 201
    items = await history(client)
    assert max(covered(items, date(2026, 12, 31)).values()) == 1


@pytest.mark.parametrize(
    ("new", "overlapped"),
    [
        (event("restricted", "2025-10-15"), 0),  # starts inside a bounded closure
        (event("restricted", "2025-10-01", "2025-10-12"), 0),  # ends on its first day
        (event("open", "2025-10-19", "2025-10-19"), 0),  # its last day
        (event("restricted", "2025-10-12", "2025-10-12"), 0),
        (event("closed", "2026-03-01"), 1),  # starts the same day as the open-ended one
        (event("closed", "2025-11-01", "2026-03-05"), 1),  # a bounded one reaching into it
    ],
)
async def test_an_overlap_with_a_bounded_period_is_a_409_naming_it(
    client: AsyncClient, keys: Keys, crossing: str, new: dict[str, Any], overlapped: int
) -> None:
    stored = [
        (await post(client, keys, event("closed", "2025-10-12", "2025-10-19"))).json(),
        (await post(client, keys, event("restricted", "2026-03-01"))).json(),
    ]
    before = await history(client)
    body = assert_problem(await post(client, keys, new), 409)
    named = stored[overlapped]
    assert f"status event {named['id']} " in body["detail"]
    assert named["from"] in body["detail"]
    assert body["type"].endswith("/conflict")
    assert await history(client) == before


async def test_events_are_patched_and_deleted_with_if_match(
    client: AsyncClient, db: AsyncSession, keys: Keys, crossing: str
) -> None:
    first = (await post(client, keys, event("restricted", "2023-11-01"))).json()
    second = (await post(client, keys, event("closed", "2025-10-12", "2025-10-19"))).json()
    url = f"{URL}/{second['id']}"
    headers = keys.editor | MERGE
    assert_problem(await client.patch(url, json={"to": "2025-10-20"}, headers=headers), 428)
    for role in ("reader", "analyst"):
        assert_problem(
            await client.patch(
                url, json={"to": "x"}, headers=keys.headers[role] | MERGE | {"If-Match": '"1"'}
            ),
            403,
        )
    r = await client.patch(url, json={"to": "2025-10-25"}, headers=headers | {"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["to"] == "2025-10-25" and r.headers["etag"] == '"2"'
    assert_problem(
        await client.patch(url, json={"to": "2025-10-26"}, headers=headers | {"If-Match": '"1"'}),
        412,
    )
    inverted = assert_problem(
        await client.patch(url, json={"to": "2025-10-01"}, headers=headers | {"If-Match": '"2"'}),
        422,
    )
    assert [e["field"] for e in inverted["errors"]] == ["to"]
    # Moving it onto the ended restriction is refused, naming the restriction.
    moved = assert_problem(
        await client.patch(url, json={"from": "2025-10-01"}, headers=headers | {"If-Match": '"2"'}),
        409,
    )
    assert f"status event {first['id']} " in moved["detail"]
    nothing = await client.patch(
        url, json={"reason": second["reason"]}, headers=headers | {"If-Match": '"2"'}
    )
    assert nothing.status_code == 200 and nothing.json()["version"] == 2
    assert_problem(await client.delete(url, headers=keys.editor), 428)
    assert_problem(await client.delete(url, headers=keys.editor | {"If-Match": '"1"'}), 412)
    assert_problem(await client.delete(url, headers=keys.analyst | {"If-Match": '"2"'}), 403)
    assert (await client.delete(url, headers=keys.editor | {"If-Match": '"2"'})).status_code == 204
    assert_problem(await client.get(url), 404)
    # The restriction keeps its stored end: the days the closure covered are open now.
    (left,) = await history(client)
    assert left["id"] == first["id"] and left["to"] == "2025-10-11"
    assert (await client.get(crossing)).json()["current_status"]["status"] == "open"
    actions = [r.action for r in await audit_rows(db, "crossing_status_event", str(second["id"]))]
    assert actions == [
        "crossing_status.created",
        "crossing_status.updated",
        "crossing_status.deleted",
    ]
    # Another crossing's event is not found under this one.
    torkham = (await client.get("/v1/crossings/torkham/status")).json()["items"][0]
    assert_problem(await client.get(f"{URL}/{torkham['id']}"), 404)


async def test_patching_an_open_ended_event_after_another_ends_that_one(
    client: AsyncClient, keys: Keys, crossing: str
) -> None:
    earlier = (await post(client, keys, event("restricted", "2023-11-01"))).json()
    bounded = (await post(client, keys, event("closed", "2022-01-01", "2022-01-31"))).json()
    url = f"{URL}/{bounded['id']}"
    r = await client.patch(
        url,
        json={"from": "2025-10-12", "to": None},
        headers=keys.editor | MERGE | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["to"] is None
    items = {e["id"]: e for e in await history(client)}
    assert items[earlier["id"]]["to"] == "2025-10-11"


async def test_the_database_refuses_overlapping_periods_whoever_writes(
    db: AsyncSession,
) -> None:
    """The EXCLUDE of migration 0009 holds without the service, and maps to a 409."""
    from sqlalchemy import exc

    from app.core.errors import database_problem

    statement = text(
        "INSERT INTO crossing_status_events (crossing_slug, status, valid_from, valid_to)"
        " VALUES ('torkham', 'open', '2025-11-01', '2025-11-02')"
    )
    with pytest.raises(exc.IntegrityError) as caught:
        async with db.begin_nested():
            await db.execute(statement)  # inside the open-ended closure of 2025-10-12
    problem = database_problem(caught.value, 5)
    assert problem.status == 409 and problem.type.endswith("/conflict")


async def test_the_seeded_closures_obey_the_rules(client: AsyncClient) -> None:
    crossings = (await client.get("/v1/crossings")).json()["items"]
    until = max(today_karachi(), date(2026, 12, 31))
    for c in crossings:
        items = (await client.get(f"/v1/crossings/{c['slug']}/status")).json()["items"]
        count = covered(items, until)
        assert not count or max(count.values()) == 1, c["slug"]
        assert sum(e["to"] is None for e in items) <= 1, c["slug"]
    ghulam_khan = (await client.get("/v1/crossings/ghulam-khan/status")).json()["items"]
    assert [(e["status"], e["from"], e["to"]) for e in ghulam_khan] == [
        ("closed", "2025-10-12", None),
        ("closed", "2025-06-28", "2025-10-11"),
    ]
    torkham = (await client.get("/v1/crossings/torkham/status")).json()["items"]
    assert next(e for e in torkham if e["from"] == "2024-01-13")["to"] == "2025-10-11"
    chaman = (await client.get("/v1/crossings/chaman/status")).json()["items"]
    assert next(e for e in chaman if e["from"] == "2023-11-01")["to"] == "2025-10-11"


async def test_a_patch_never_moves_the_patched_events_own_end_unless_it_names_to(
    client: AsyncClient, keys: Keys, crossing: str
) -> None:
    """A PATCH that moves an open-ended event before a later one is a 409 naming that one:
    ending it silently the day before would make the crossing's present closure vanish."""
    a = (await post(client, keys, event("closed", "2020-01-01", "2020-01-10"))).json()
    b = (await post(client, keys, event("restricted", "2020-02-01"))).json()
    url = f"{URL}/{a['id']}"
    r = await client.patch(
        url,
        json={"from": "2020-03-01", "to": None},
        headers=keys.editor | MERGE | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    items = {e["id"]: e for e in await history(client)}
    assert (items[a["id"]]["from"], items[a["id"]]["to"]) == ("2020-03-01", None)
    assert items[b["id"]]["to"] == "2020-02-29"  # a patched period ends the one it starts inside
    assert (await client.get(crossing)).json()["current_status"]["status"] == "closed"
    before = await history(client)

    moved = assert_problem(
        await client.patch(
            url, json={"from": "2019-01-01"}, headers=keys.editor | MERGE | {"If-Match": '"2"'}
        ),
        409,
    )
    assert f"status event {b['id']} " in moved["detail"]
    assert await history(client) == before
    assert (await client.get(crossing)).json()["current_status"]["status"] == "closed"
    # Naming `to` places it before B as asked.
    r = await client.patch(
        url,
        json={"from": "2019-01-01", "to": "2020-01-31"},
        headers=keys.editor | MERGE | {"If-Match": '"2"'},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["from"], r.json()["to"]) == ("2019-01-01", "2020-01-31")


async def test_event_dates_more_than_a_year_ahead_are_refused(
    client: AsyncClient, keys: Keys, crossing: str
) -> None:
    """A date in 9999 would block every later correction; a closure announced for the
    coming months is still recorded."""
    today = today_karachi()
    latest = date(today.year + 1, today.month, min(today.day, 28 if today.month == 2 else 31))
    after = (latest + timedelta(days=1)).isoformat()
    far = assert_problem(await post(client, keys, event("closed", "9999-12-31", "9999-12-31")), 422)
    assert sorted(e["field"] for e in far["errors"]) == ["from", "to"]
    assert latest.isoformat() in far["errors"][0]["message"]
    late_to = assert_problem(
        await post(client, keys, event("closed", today.isoformat(), after)), 422
    )
    assert [e["field"] for e in late_to["errors"]] == ["to"]
    assert await history(client) == []

    announced = await post(client, keys, event("closed", latest.isoformat(), latest.isoformat()))
    assert announced.status_code == 201, announced.text
    url = f"{URL}/{announced.json()['id']}"
    patched = assert_problem(
        await client.patch(
            url, json={"to": "9999-12-31"}, headers=keys.editor | MERGE | {"If-Match": '"1"'}
        ),
        422,
    )
    assert [e["field"] for e in patched["errors"]] == ["to"]
    r = await client.patch(
        url,
        json={"from": today.isoformat(), "to": None},
        headers=keys.editor | MERGE | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
