"""Connections killed under concurrent reads are a 503 with Retry-After at worst, never a 500:
asyncpg reports a connection ended in the middle of an operation in ways that are not all
`PostgresError` or `InterfaceError` (an `InternalClientError`, "cannot switch to state 12"),
and every read path — the statistics cache's version probe, the list lane, the routes'
read connections — must take them for what they are, a database that cannot answer now."""

from __future__ import annotations

import asyncio
import random
import time

import asyncpg
from sqlalchemy.engine import make_url

from tests.support.dbutil import committed_site

PATHS = [
    "/v1/stats/crossings?period=year",
    "/v1/stats/fatalities?period=month",
    "/v1/stats/summary",
    "/v1/incidents?limit=20",
    "/v1/incidents?province=PK-KP&limit=5",
    "/v1/crossings",
    "/v1/crossings/torkham/incidents?radius_km=100",
]


async def test_reads_while_connections_are_killed_never_answer_500() -> None:
    async with committed_site(stats_cache=True) as site:
        url = make_url(site.url).set(drivername="postgresql")
        killer = await asyncpg.connect(url.render_as_string(hide_password=False))
        statuses: list[int] = []
        problems: list[str] = []
        stop = time.monotonic() + 6.0
        rng = random.Random(7)

        async def reader() -> None:
            while time.monotonic() < stop:
                response = await site.client.get(rng.choice(PATHS))
                statuses.append(response.status_code)
                if response.status_code not in (200, 304):
                    problems.append(f"{response.status_code} {response.text[:200]}")
                if response.status_code == 503:
                    assert response.headers["retry-after"].isdigit()

        async def kill() -> int:
            killed = 0
            while time.monotonic() < stop:
                killed += len(
                    await killer.fetch(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                await asyncio.sleep(rng.uniform(0.02, 0.15))
            return killed

        try:
            *_, killed = await asyncio.gather(*(reader() for _ in range(6)), kill())
        finally:
            await killer.close()
        assert killed > 0 and len(statuses) > 50
        assert all(status in (200, 304, 503) for status in statuses), problems
        # And it is whole again once the killing stops: no restart, no stale connection.
        for path in PATHS:
            response = await site.client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
