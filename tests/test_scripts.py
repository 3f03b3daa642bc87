"""The README's first command, `scripts/serve.sh`, run as a user runs it: the port it is
given is the port it logs and serves on, locally and (with a stand-in engine) in Docker."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import httpx

from tests.support.dbutil import throwaway_database
from tests.support.net import free_port
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve.sh"


async def test_serve_sh_logs_and_serves_the_port_it_is_given(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    async with throwaway_database() as url:
        env = {**os.environ, "DATABASE_URL": url, "BW_NO_DOCKER": "1"}
        env.pop("BW_DATABASE_URL", None)
        env.pop("BW_PORT", None)
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(SERVE), "--port", str(port), "--workers", "1"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:

            def healthy() -> bool:
                assert server.poll() is None, log.read_text()
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=90, interval=0.25, what="serve.sh answering")
            text = log.read_text()
            assert f"serving on http://localhost:{port}" in text, text
            assert "localhost:8000" not in text, text
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def test_serve_sh_passes_its_arguments_to_docker_compose(tmp_path: Path) -> None:
    stub = tmp_path / "docker"
    record = tmp_path / "docker.txt"
    # A stand-in engine: `docker info` answers, `docker compose up` records what it was given.
    stub.write_text(
        "#!/usr/bin/env bash\n"
        '[ "$1" = info ] && exit 0\n'
        f'echo "args=$* port=$BW_PORT host=$BW_HOST serve=$BW_SERVE_ARGS" > {record}\n'
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    for name in ("DATABASE_URL", "BW_DATABASE_URL", "BW_NO_DOCKER", "BW_PORT", "BW_HOST"):
        env.pop(name, None)
    done = subprocess.run(
        [str(SERVE), "--port", "8099", "--workers", "3", "--log-level", "debug"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "http://localhost:8099" in done.stderr
    recorded = record.read_text()
    assert "args=compose up --build" in recorded
    assert "port=8099" in recorded
    assert "serve=--workers 3 --log-level debug" in recorded
