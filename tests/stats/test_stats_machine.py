"""Hypothesis state machine: creates, edits (date, place, casualties, status, kind), deletes
and batches in any order; after every step each aggregate the endpoint returns equals the
same aggregate computed straight from the incidents, and both rollups equal a recount.

Runs on a database of its own where every request commits (as in production); the app and
its client live on an event loop in a helper thread, since Hypothesis drives the steps
synchronously."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from datetime import date
from typing import Any, TypeVar

import pytest
from httpx import ASGITransport, AsyncClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from app.auth.service import create_key
from app.core.clock import BASELINE, today_karachi
from app.core.config import Settings
from app.main import create_app
from tests.support.dbutil import throwaway_database
from tests.support.stats_oracle import expected, live_incidents, rollup_drift, served

T = TypeVar("T")
PLACES = [
    ("PK-KP", "peshawar"),
    ("PK-KP", None),
    ("PK-KP", "north-waziristan"),
    ("PK-BA", "quetta"),
    ("AF-NAN", None),
]
CATEGORIES = ["security_forces", "police", "civilians", "militants", "unknown"]
QUESTIONS: list[dict[str, str]] = [
    {},
    {"period": "week", "group_by": "district"},
    {"period": "quarter", "group_by": "category", "category": "police,civilians"},
    {"period": "year", "group_by": "perpetrator", "kind": "attack,border_clash"},
    {
        "period": "day",
        "group_by": "none",
        "category": "militants",
        "since": "2023-01-01",
        "until": "2023-03-31",
    },
    {"group_by": "kind", "status": "verified,disputed", "province": "PK-KP"},
    # fatality_dim by week with a pair of fine dimensions, the first week clipped
    {"period": "week", "group_by": "district", "perpetrator": "ttp", "since": "2022-02-17"},
    {"period": "month", "group_by": "attack_type", "district": "peshawar,quetta"},
    {"period": "day", "group_by": "perpetrator", "since": "2023-01-01", "until": "2023-01-31"},
]

dates = st.dates(BASELINE, today_karachi())
places = st.sampled_from(PLACES)
casualties = (
    st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=3)
    .flatmap(
        lambda cats: st.tuples(
            *[st.tuples(st.just(c), st.integers(0, 40), st.integers(0, 40)) for c in cats]
        )
    )
    .map(lambda rows: [{"category": c, "killed": k, "injured": i} for c, k, i in rows])
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    province, district = draw(places)
    return {
        "occurred_on": draw(dates).isoformat(),
        "location": {"type": "Point", "coordinates": [70.5, 33.5]},
        "province": province,
        "district": district,
        "kind": draw(st.sampled_from(["attack", "border_clash", "security_operation"])),
        "attack_type": draw(st.sampled_from(["ied", "suicide_bombing", "ambush"])),
        "target_type": "police",
        "perpetrator": draw(st.sampled_from(["ttp", "iskp", "bla"])),
        "casualties": draw(casualties),
        "sources": [{"url": "https://www.dawn.com/news/1"}],
    }


class Harness:
    """An app on a committed database, driven from a loop in a helper thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    async def start(self) -> None:
        self._database = throwaway_database()
        url = await self._database.__aenter__()
        self.app = create_app(Settings(database_url=url, pool_size=4, max_overflow=0))
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self.client = AsyncClient(transport=ASGITransport(app=self.app), base_url="http://t")
        async with self.app.state.sessionmaker() as session:
            _, secret = await create_key(session, "machine editor", "editor")
            await session.commit()
        self.auth = {"Authorization": f"Bearer {secret}"}

    async def stop(self) -> None:
        await self.client.aclose()
        await self._lifespan.__aexit__(None, None, None)
        await self._database.__aexit__(None, None, None)

    async def reset(self) -> None:
        async with self.app.state.engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE incident_revisions, casualties, incident_sources, incident_tags,"
                    " incidents, incident_csv_lines, fatality_rollup, fatality_daily,"
                    " fatality_monthly, fatality_monthly_dim, fatality_dim, fatality_series,"
                    " idempotency_keys"
                )
            )
            # A change of data is a new version, or cached answers would outlive it.
            await conn.execute(text("UPDATE data_version SET seq = seq + 1"))


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    h.run(h.start())
    yield h
    h.run(h.stop())
    h.loop.call_soon_threadsafe(h.loop.stop)


class RollupMachine(RuleBasedStateMachine):
    """Random sequences of writes, checked against the incidents after each one."""

    harness: Harness
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.h = type(self).harness
        self.h.run(self.h.reset())

    def call(self, method: str, url: str, **kw: Any) -> Any:
        response = self.h.run(self.h.client.request(method, url, **kw))
        assert response.status_code < 300, response.text
        return response

    @rule(target=ids, body=bodies())
    def create(self, body: dict[str, Any]) -> str:
        return str(self.call("POST", "/v1/incidents", json=body, headers=self.h.auth).json()["id"])

    @rule(target=ids, batch=st.lists(bodies(), min_size=1, max_size=4))
    def create_batch(self, batch: list[dict[str, Any]]) -> Any:
        items = self.call(
            "POST", "/v1/incidents:batch", json={"incidents": batch}, headers=self.h.auth
        ).json()["items"]
        return multiple(*[i["id"] for i in items])

    def patch(self, incident_id: str, change: dict[str, Any]) -> None:
        url = f"/v1/incidents/{incident_id}"
        etag = self.call("GET", url).headers["etag"]
        self.call(
            "PATCH",
            url,
            json=change,
            headers={
                **self.h.auth,
                "If-Match": etag,
                "Content-Type": "application/merge-patch+json",
            },
        )

    @rule(incident_id=ids, day=dates)
    def move_date(self, incident_id: str, day: date) -> None:
        self.patch(incident_id, {"occurred_on": day.isoformat()})

    @rule(incident_id=ids, place=places)
    def move_place(self, incident_id: str, place: tuple[str, str | None]) -> None:
        self.patch(incident_id, {"province": place[0], "district": place[1]})

    @rule(incident_id=ids, rows=casualties)
    def recount(self, incident_id: str, rows: list[dict[str, Any]]) -> None:
        self.patch(incident_id, {"casualties": rows})

    @rule(
        incident_id=ids, status=st.sampled_from(["reported", "verified", "disputed", "retracted"])
    )
    def set_status(self, incident_id: str, status: str) -> None:
        self.patch(incident_id, {"status": status})

    @rule(incident_id=ids, kind=st.sampled_from(["attack", "border_clash"]))
    def set_kind(self, incident_id: str, kind: str) -> None:
        self.patch(incident_id, {"kind": kind})

    @rule(incident_id=consumes(ids))
    def delete(self, incident_id: str) -> None:
        url = f"/v1/incidents/{incident_id}"
        etag = self.call("GET", url).headers["etag"]
        self.call("DELETE", url, headers={**self.h.auth, "If-Match": etag})

    @invariant()
    def aggregates_equal_the_incidents(self) -> None:
        async def check() -> None:
            async with self.h.app.state.engine.connect() as conn:
                incidents = await live_incidents(conn)
                assert await rollup_drift(conn) == 0
            today = today_karachi()
            for params in QUESTIONS:
                r = await self.h.client.get("/v1/stats/fatalities", params=params)
                assert r.status_code == 200, r.text
                assert served(r.json()) == expected(incidents, params, today), params

        self.h.run(check())


def test_rollups_stay_exact_through_any_sequence_of_writes(harness: Harness) -> None:
    RollupMachine.harness = harness
    run_state_machine_as_test(
        RollupMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
