"""The `borderwatch` command, run as a user runs it, against a database of its own."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from app.auth.service import hash_secret
from tests.support.dbutil import throwaway_database


def borderwatch(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("BW_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = await asyncio.to_thread(borderwatch, url, *args)
    assert done.returncode == 0, done.stderr
    return done


def sample_killed() -> int:
    """Killed over every category of the shipped sample incidents, summed here, not by the app."""
    path = Path(__file__).resolve().parent.parent / "app/incidents/data/sample_incidents.csv"
    with path.open(encoding="utf-8") as f:
        return sum(
            int(v) for row in csv.DictReader(f) for k, v in row.items() if k.startswith("killed_")
        )


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_migrate_seed_and_create_a_key_from_an_empty_database() -> None:
    async with throwaway_database(migrate_to=None) as url:
        await run(url, "migrate")
        first = await run(url, "seed-demo")
        assert "9 incidents added" in first.stdout
        again = await run(url, "seed-demo", "--synthetic", "25")
        assert "25 incidents added" in again.stdout  # the 9 real ones are not stored twice

        rebuilt = await run(url, "rebuild-rollups")
        assert "rollups rebuilt" in rebuilt.stdout

        created = await run(url, "keys", "create", "--name", "ci analyst", "--role", "analyst")
        secret = created.stdout.strip().splitlines()[-1]
        assert secret.startswith("bw_") and len(secret) > 40

        conn = await asyncpg.connect(dsn(url))
        try:
            totals = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE NOT is_synthetic) AS real,"
                " count(*) FILTER (WHERE is_synthetic) AS synthetic,"
                " sum(killed_total) FILTER (WHERE NOT is_synthetic) AS killed FROM incidents"
            )
            assert (totals["real"], totals["synthetic"]) == (9, 25)
            assert totals["killed"] == sample_killed()
            assert await conn.fetchval("SELECT count(*) FROM incident_revisions") == 34
            # After seeding and a rebuild the rollups agree with the incidents.
            assert await conn.fetchval(
                "SELECT sum(killed) FROM fatality_daily WHERE category = ''"
            ) == await conn.fetchval(
                "SELECT sum(killed_total) FROM incidents WHERE deleted_at IS NULL"
            )
            assert await conn.fetchval("SELECT seq FROM data_version") == 34
            key = await conn.fetchrow("SELECT role, key_hash, prefix FROM api_keys")
            assert key["role"] == "analyst"
            assert bytes(key["key_hash"]) == hash_secret(secret)  # stored hashed, never plain
            assert secret.startswith(key["prefix"])
            assert not await conn.fetchval(
                "SELECT count(*) FROM api_keys WHERE key_hash = convert_to($1, 'UTF8')", secret
            )
        finally:
            await conn.close()


async def test_unknown_role_is_refused_with_a_usage_error() -> None:
    done = await asyncio.to_thread(
        borderwatch,
        "postgresql://nobody@127.0.0.1:1/none",
        "keys",
        "create",
        "--name",
        "x",
        "--role",
        "root",
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
