"""README.md's "Using the API" examples, pasted into bash as a new user would, against a real
server (`borderwatch serve`, one Uvicorn worker) on a database at head with the demo data."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.core import migrations as schema
from tests.support.dbutil import throwaway_database
from tests.support.net import free_port
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # the running interpreter's bin dir: .venv/bin under test.sh
README_PORT = "localhost:8000"


def readme_examples() -> list[str]:
    """The ```sh blocks from "## Using the API" up to "## The `borderwatch` command"."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Using the API")
    end = text.index("## The `borderwatch` command", start)
    return re.findall(r"^```sh\n(.*?)^```$", text[start:end], flags=re.S | re.M)


def environment(database_url: str) -> dict[str, str]:
    """This process's environment without any Borderwatch setting, on `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_") and k != "DATABASE_URL"}
    return {**env, "DATABASE_URL": database_url}


@dataclass
class Server:
    port: int
    url: str
    env: dict[str, str]
    log: Path


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """`borderwatch serve` on a free port, on a throwaway database at head with the demo data."""
    borderwatch = BIN / "borderwatch"
    assert borderwatch.exists(), f"{borderwatch} is missing: install the project (scripts/test.sh)"
    async with throwaway_database() as url:
        env = environment(url)
        seeded = await asyncio.to_thread(
            subprocess.run,
            [str(borderwatch), "seed-demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert seeded.returncode == 0, seeded.stderr
        assert "9 incidents added" in seeded.stdout

        port = free_port()
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(borderwatch),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:

            def healthy() -> bool:
                if proc.poll() is not None:  # not an AssertionError: eventually() stops at once
                    raise RuntimeError(f"the server exited:\n{log_tail(log)}")
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/healthz", timeout=1
                    ) as answer:
                        return bool(answer.status == 200)
                except OSError:
                    return False

            await eventually(
                lambda: asyncio.to_thread(healthy),
                timeout=30,
                interval=0.2,
                what=f"server answering /healthz on port {port}",
            )
            yield Server(port, url, env, log)
        finally:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 10)


def test_the_readme_has_the_examples() -> None:
    blocks = readme_examples()
    assert len(blocks) >= 4, "README.md lost its ```sh examples under 'Using the API'"
    assert all(README_PORT in block for block in blocks)


# Before every command of the examples (not those in $(...) or functions), a line naming it,
# so that each command's output can be told apart: set on bash's DEBUG trap.
MARKER = re.compile(r"\n@@@ (.*?) @@@\n", flags=re.S)
PRELUDE = """trap 'printf "\\n@@@ %s @@@\\n" "$BASH_COMMAND"' DEBUG\n"""


@dataclass
class Run:
    """What the examples printed, command by command."""

    outputs: list[tuple[str, str]]
    report: str

    def of(self, pattern: str) -> list[str]:
        """Outputs of the commands `pattern` finds (a regular expression; one at least)."""
        found = [out for command, out in self.outputs if re.search(pattern, command)]
        assert found, f"no command of the README matches {pattern!r}\n{self.report}"
        return found

    def one(self, pattern: str) -> str:
        found = self.of(pattern)
        assert len(found) == 1, f"{len(found)} commands match {pattern!r}"
        return found[0]

    def json(self, pattern: str) -> Any:
        out = self.one(pattern)
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError(f"not JSON from {pattern!r}: {out[:500]!r}") from None


async def test_the_readme_examples_work_when_pasted(server: Server, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is not installed: the README examples need it (apt install curl)"

    examples = readme_examples()
    script = "\n".join(examples).replace(README_PORT, f"localhost:{server.port}")
    assert README_PORT not in script
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").mkdir()
    (work / ".venv" / "bin").symlink_to(BIN, target_is_directory=True)
    # -s hides curl's own errors: show them (and bound every request) without touching the
    # examples. curl reads $CURL_HOME/.curlrc.
    (work / ".curlrc").write_text("show-error\nmax-time = 30\n")
    (work / "examples.sh").write_text(PRELUDE + script)

    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "examples.sh"],
        cwd=work,
        env=server.env | {"CURL_HOME": str(work)},
        capture_output=True,
        timeout=300,
        check=False,
    )
    # Bytes, decoded as they are: HTTP headers keep their \r\n.
    out, err = done.stdout.decode(), done.stderr.decode(errors="replace")
    parts = MARKER.split(out)
    run = Run(
        list(zip(parts[1::2], parts[2::2], strict=True)),
        f"stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}\nserver log:\n{log_tail(server.log)}",
    )
    report = run.report

    assert done.returncode == 0, f"the README examples failed (exit {done.returncode})\n{report}"
    assert not re.search(r"curl: \(\d+\)", err), report
    assert not re.search(r'"status"\s*:\s*5\d\d', out + err), report

    # Every request succeeded but the one meant to show an error.
    access = re.findall(
        r'"(GET|POST|PATCH|DELETE|PUT|HEAD) (\S+) HTTP/[\d.]+" (\d{3})',
        server.log.read_text(errors="replace"),
    )
    assert access, f"no access log in the server's output\n{report}"
    failed = [(method, path, code) for method, path, code in access if int(code) >= 400]
    assert failed == [("GET", "/v1/districts?province=PK-XX", "422")], (
        f"HTTP errors other than the README's one 422: {failed}\n{report}"
    )

    # Whatever looks like JSON is JSON.
    for command, output in run.outputs:
        if output.startswith("{"):
            try:
                json.loads(output)
            except ValueError:
                raise AssertionError(f"{command}: not JSON: {output[:300]!r}") from None

    # What the README says the examples print.
    assert run.json(r"/healthz$") == {"status": "ok"}
    assert run.json(r"/readyz$") == {
        "status": "ready",
        "database": "ok",
        "migration": schema.head_revision(),
    }
    problem = run.json(r"districts\?province=PK-XX")
    assert (problem["status"], problem["instance"]) == (422, "/v1/districts"), problem
    assert problem["errors"] == [{"field": "province", "message": "unknown value 'PK-XX'"}]
    assert {item["slug"] for item in run.json(r"/v1/crossings$")["items"]} >= {"torkham", "chaman"}

    created = run.one(r"Idempotency-Key")
    assert created.startswith("HTTP/1.1 201 Created\r\n"), created[:300]
    assert re.search(r'^etag: "1"\r$', created, flags=re.M | re.I), created[:300]
    body = json.loads(created.split("\r\n\r\n", 1)[1])
    assert (body["kind"], body["killed_total"], body["version"]) == ("border_clash", 0, 1)

    patched = run.json(r"incidents/\$ID -X PATCH")
    assert (patched["id"], patched["tags"], patched["version"]) == (
        body["id"],
        ["border-closure"],
        2,
    )
    history = run.json(r"/history$")
    assert [(i["version"], i["op"]) for i in history["items"]] == [(1, "created"), (2, "updated")]
    assert history["items"][1]["changed_fields"] == ["description", "tags"]
    assert history["items"][0]["actor"]["name"] == "Jane (analyst)"

    # Each conditional GET prints 304, as the README says under it.
    promised = sum(line == "# 304" for block in examples for line in block.splitlines())
    assert promised >= 2
    assert run.of("If-None-Match") == ["304\n"] * promised, report

    stats = run.json(r"/v1/stats/fatalities$")
    assert stats["totals"]["killed"] > 0, stats["totals"]
    csv_header = run.one(r"format=csv'$").splitlines()[0]
    assert csv_header == "key,label,period,start,end,killed,injured,incidents"
    assert run.json(r"/v1/stats/summary$")["totals"] == stats["totals"]

    tile = run.one(r"/v1/tiles/incidents/8/178/102.pbf\?kind=attack'$")
    assert tile == "200 application/vnd.mapbox-vector-tile\n", report
    tilejson = run.json(r"/v1/tiles/incidents.json\?kind=attack'$")
    base = f"http://localhost:{server.port}/v1/tiles/incidents"
    assert tilejson["tiles"] == [base + "/{z}/{x}/{y}.pbf?kind=attack"], tilejson

    crossing = run.json(r"/v1/stats/crossings\?")
    assert [s["key"] for s in crossing["series"]] == ["torkham"]
    torkham = crossing["series"][0]
    assert torkham["totals"] == {
        "days_closed": 91,
        "days_restricted": 638,
        "incidents": 3,
        "killed": 101,
        "injured": 222,
    }
    assert torkham["points"][0] == {
        "period": "2023",
        "start": "2023-01-01",
        "end": "2023-12-31",
        "days_closed": 10,
        "days_restricted": 0,
        "incidents": 2,
        "killed": 85,
        "injured": 217,
    }

    headers = run.one(r"^grep -i")
    version = re.search(r"^x-data-version: (\d+)\r$", headers, flags=re.M | re.I)
    assert version, headers
    assert f'filename="borderwatch-incidents-v{version[1]}.csv"' in headers, headers
    assert run.one(r"^echo identical$") == "identical\n"
    assert (work / "incidents.csv").read_bytes() == (work / "again.csv").read_bytes()
    assert b"Peshawar" in (work / "incidents.csv").read_bytes()

    event = run.json(r"torkham-2025-12-01")
    assert (event["status"], event["from"], event["to"], event["version"]) == (
        "restricted",
        "2025-12-01",
        None,
        1,
    )
    torkham = run.json(r"crossings/torkham/status$")["items"]
    assert torkham[0]["id"] == event["id"]
    closure = next(e for e in torkham if e["from"] == "2025-10-12")
    assert (closure["status"], closure["to"]) == ("closed", "2025-11-30")
    corrected = run.json(r"EVENT\" -X PATCH")
    assert (corrected["id"], corrected["to"], corrected["version"]) == (
        event["id"],
        "2025-12-31",
        2,
    )

    changes = run.json(r"/v1/changes\?")
    assert changes["next_after"] is None
    assert [c["op"] for c in changes["items"]][-2:] == ["created", "updated"]

    # GDAL copied every live incident into the GeoPackage.
    copied = re.search(r"^Feature Count: (\d+)$", out, flags=re.M)
    items = f"http://127.0.0.1:{server.port}/ogc/collections/incidents/items?limit=1"
    with urllib.request.urlopen(items, timeout=30) as answer:
        matched = json.load(answer)["numberMatched"]
    assert copied and int(copied[1]) == matched > 0, report
