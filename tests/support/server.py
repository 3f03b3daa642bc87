"""A real `borderwatch serve` on a free port, for tests that drive it with outside clients
(GDAL's ogr2ogr and ogrinfo): started in a process group of its own, ended after."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.net import free_port
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # .venv/bin under scripts/test.sh


ONE = ("--workers", "1")


@dataclass
class Server:
    url: str  # http://127.0.0.1:<port>
    env: dict[str, str]
    log: Path


def environment(database_url: str) -> dict[str, str]:
    """This process's environment without any Borderwatch setting, on `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_") and k != "DATABASE_URL"}
    return {**env, "DATABASE_URL": database_url}


def borderwatch(env: dict[str, str], *args: str) -> str:
    """Run the `borderwatch` command; its standard output (fails the test on an error)."""
    done = subprocess.run(
        [str(BIN / "borderwatch"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"borderwatch {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


@asynccontextmanager
async def serving(database_url: str, log: Path) -> AsyncIterator[Server]:
    """`borderwatch serve` (one worker) on `database_url` until the block ends."""
    env = environment(database_url)
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "borderwatch"), "serve", "--host", "127.0.0.1", "--port", str(port), *ONE],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                    return bool(answer.status == 200)
            except OSError:
                return False

        await eventually(
            lambda: asyncio.to_thread(healthy), timeout=30, interval=0.2, what=f"{url}/healthz"
        )
        yield Server(url, env, log)
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)
