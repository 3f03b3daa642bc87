"""The benchmark of issue 9 and docs/SPEC.md "Performance", in one run, every measure against
a baseline measured in the same run:

    make bench                                     # 10,000 then 1,000,000 incidents
    make bench BENCH_ARGS="--size 10000 --small 2000 --quick --no-record"  # smoke run

1. Exports (ndjson, csv, json, geojson): rows/s of `GET /v1/exports/incidents?format=F`
   read by curl into /dev/null, against PostgreSQL COPYing the very same bytes out of a
   plain one-column table (`COPY bench_copy_F TO STDOUT` read by psql into /dev/null; both
   clients read a TCP socket on 127.0.0.1). The table is filled, in this run, from the API's
   own export (one row per line); the COPY output is checked to be those bytes (SHA-256).
   Server RSS is sampled every 20 ms during the timed export.
2. `/v1/stats/fatalities` uncached (BW_STATS_CACHE=false) p50 for every grouping, at the
   small size and at the full size, and against /healthz of the same server; cached p50;
   requests/s with and without a reader key's `Authorization` header.
3. Lists: a filtered page against /healthz; page 1 against cursor depth 10,000.
4. Writes: one client's `POST /v1/incidents` p50 against its /healthz p50; 16 concurrent
   writers (incidents/s, errors); afterwards the rollups against a recount in SQL.
5. `POST /v1/incidents:batch`, 5,000 incidents a request: incidents/s, errors.
6. OGC API – Features (issue 10): `/ogc/collections/incidents/items?bbox=…&limit=100` against
   tipg (TIPG_VERSION from PyPI, in a virtualenv of its own under .bw/, not a project
   dependency) serving the same incidents table of the same database, same machine, same
   run, for a box around all of Pakistan and a small one around Torkham. Alone:
   `bench/run.py --section ogc --size 100000`.

The database is bw_bench_run (--database), cloned from the provisioned `<db>_template`, on the
server of DATABASE_URL (else the README's local default); it is dropped at the end unless
--keep-db. Servers run `borderwatch serve --workers 2` on a free port, each in a process
group of its own that is ended when the run ends or fails (then its log is printed).
"""

# A benchmark runs fixed local tools (psql, curl, wrk) against URLs it builds itself:
# ruff: noqa: S603, S607, S310, S608
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "RESULTS.md"
DEFAULT_URL = "postgresql://borderwatch:borderwatch@127.0.0.1:5432/borderwatch"
FORMATS = ("ndjson", "csv", "json", "geojson")
# A CSV dialect whose quote and delimiter never occur in the exports: each line is one value,
# copied in and out unchanged.
DIALECT = "FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02'"
STATS = [
    ("month × province", "period=month&group_by=province"),
    ("month × district", "period=month&group_by=district"),
    ("month × perpetrator", "period=month&group_by=perpetrator"),
    ("month × category", "period=month&group_by=category"),
    ("month × attack_type", "period=month&group_by=attack_type"),
    ("month × kind", "period=month&group_by=kind"),
    ("month × none", "period=month&group_by=none"),
    ("week × district, province=PK-KP", "period=week&group_by=district&province=PK-KP"),
    ("day × none", "period=day&group_by=none"),
]
# The largest statistics answers, whose bytes bench/floor.py also sends from memory.
FLOOR_STATS = ("month × district", "week × district, province=PK-KP")
FLOOR_TABLE = "bench_floor_writes"
FLOOR_APP = "bench.floor:app"
FILTERED_LIST = "/v1/incidents?province=PK-KP&perpetrator=ttp&limit=50"
READ_CONNECTIONS = 4  # wrk -t1 -c4 for reads, as the earlier benches
# tipg, the baseline of the OGC items (developmentseed/tipg), pinned; installed by this script.
TIPG_VERSION = "1.6.1"
TIPG_VENV = ROOT / ".bw" / f"tipg-{TIPG_VERSION}"
# (label, box, target): the two boxes, and one holding about half of the synthetic
# incidents, whose numberMatched both count (no rollup short cut), for information.
OGC_BOXES = [
    ("all of Pakistan", "60.8,23.6,77.9,37.1", 1.0),
    ("around Torkham", "70.99,34.01,71.19,34.21", 1.0),
    ("half of the incidents", "68.5,32.0,74.5,35.5", None),
]
OGC_LIMIT = 100
# The incident columns tipg serves as properties: the table's own, less the stored texts
# (document, csv_row, feature) that are the incident again as JSON, CSV and GeoJSON.
TIPG_PROPERTIES = (
    "id,occurred_on,date_precision,geo_precision,place_name,province_code,district_slug,kind,"
    "attack_type,target_type,perpetrator_slug,attribution,killed_total,injured_total,"
    "fatality_low,fatality_high,crossing_slug,description,status,is_synthetic,version,"
    "created_by,created_at,updated_at,deleted_at"
)
WRITERS = 16


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 3600,
    stdin: Any = None,
) -> str:
    """Run a command; on failure raise with its output."""
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=timeout, stdin=stdin
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(args)} exited {done.returncode}\n{done.stdout[-2000:]}\n"
            f"{done.stderr[-4000:]}"
        )
    return done.stdout


# ---------------------------------------------------------------------------- set-up


def as_root(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return args
    if shutil.which("sudo"):
        return ["sudo", *args]
    raise RuntimeError(f"need root to run {shlex.join(args)}")


def ensure_tool(command: str, package: str) -> None:
    """Install a tool from the distribution's packages when missing (apt-get update once)."""
    if shutil.which(command):
        return
    log(f"{command} missing: apt-get install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = as_root(["apt-get", "install", "-y", "-qq", package])
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        run(as_root(["apt-get", "update", "-qq"]), env=env, timeout=600)
        run(install, env=env, timeout=600)


def ensure_tipg() -> Path:
    """tipg TIPG_VERSION and Uvicorn in a virtualenv of their own under .bw/ (the baseline
    of the OGC items, not a dependency of the project); its `uvicorn`."""
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    marker = TIPG_VENV / ".installed"
    if not marker.exists():
        log(f"installing tipg {TIPG_VERSION} into {TIPG_VENV}")
        run([sys.executable, "-m", "venv", "--clear", str(TIPG_VENV)], timeout=600)
        pip = [str(TIPG_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        run([*pip, f"tipg=={TIPG_VERSION}", "uvicorn[standard]"], timeout=1800)
        marker.write_text(TIPG_VERSION + "\n")
    return uvicorn


def libpq_url(url: str) -> str:
    """The URL as psql takes it (no SQLAlchemy driver suffix)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def psql(url: str, sql: str, *, timeout: float = 3600) -> str:
    return run(
        ["psql", url, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=timeout
    )


def superuser_psql(sql: str, url: str) -> str:
    """psql as the local cluster's superuser (the postgres OS user, else the postgres role
    over TCP), as scripts/lib.sh does: for servers where the role may not clone databases."""
    port = str(urllib.parse.urlsplit(url).port or 5432)
    if os.geteuid() == 0 and shutil.which("runuser"):
        args = ["runuser", "-u", "postgres", "--", "psql", "-p", port]
    else:
        args = ["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres"]
    return run([*args, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql])


def create_database(base: str, name: str) -> str:
    """A fresh database `name` cloned from the provisioned template (PostGIS in it). Retries
    while the template is in use (the test suite clones it too)."""
    dbname = urllib.parse.urlsplit(base).path.lstrip("/") or "borderwatch"
    template = f"{dbname}_template"
    admin = with_database(base, "postgres")
    owner = urllib.parse.urlsplit(base).username or "borderwatch"
    statements = [
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE "{template}"',
    ]
    last: Exception | None = None
    for attempt in range(40):
        try:
            for sql in statements:
                try:
                    psql(admin, sql, timeout=120)
                except RuntimeError as own_role_failed:
                    if "being accessed by other users" in str(own_role_failed):
                        raise
                    superuser_psql(sql, base)
            return with_database(base, name)
        except RuntimeError as exc:
            last = exc
            if "being accessed by other users" not in str(exc):
                raise
            if attempt % 5 == 0:
                log(f"template {template} in use by another session; retrying")
            time.sleep(3)
    raise RuntimeError(f"could not clone {template}: {last}")


def drop_database(base: str, name: str) -> None:
    sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    try:
        psql(with_database(base, "postgres"), sql, timeout=120)
    except RuntimeError:
        superuser_psql(sql, base)


def machine(url: str) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    pg = psql(url, "SHOW server_version").strip()
    autovacuum = psql(url, "SHOW autovacuum").strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kb / 2**20:.0f} GiB RAM, PostgreSQL {pg} "
        f"(autovacuum {autovacuum}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def load(url: str, env: dict[str, str], start: int, stop: int) -> float:
    """Synthetic incidents start..stop, the rollups rebuilt, statistics refreshed: seconds."""
    began = time.monotonic()
    run(
        [
            "psql",
            url,
            "-X",
            "-q",
            "-v",
            f"start={start}",
            "-v",
            f"stop={stop}",
            "-f",
            str(ROOT / "bench" / "load_synthetic.sql"),
        ],
        timeout=6 * 3600,
    )
    run([str(BIN / "borderwatch"), "rebuild-rollups"], env=env, timeout=6 * 3600)
    psql(url, "VACUUM ANALYZE", timeout=6 * 3600)
    return time.monotonic() - began


def live_incidents(url: str) -> int:
    return int(
        psql(
            url,
            "SELECT count(*) FROM incidents WHERE deleted_at IS NULL AND status <> 'retracted'",
        ).strip()
    )


def create_key(env: dict[str, str], role: str) -> str:
    out = run(
        [str(BIN / "borderwatch"), "keys", "create", "--name", f"bench-{role}", "--role", role],
        env=env,
        timeout=120,
    )
    return out.strip().splitlines()[-1].strip()


# ---------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`borderwatch serve --workers 2` in a process group of its own, its output in a log."""

    def __init__(
        self,
        env: dict[str, str],
        name: str,
        logdir: Path,
        workers: int,
        app: str | None = None,
        uvicorn: Path = BIN / "uvicorn",
    ) -> None:
        """`app`: an ASGI app path for plain `uvicorn` (the floor of bench/floor.py, or tipg
        with the `uvicorn` of its own virtualenv) instead of the project's server."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.log_path = logdir / f"server-{name}.log"
        self._log = self.log_path.open("wb")
        where = ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        command = [str(BIN / "borderwatch"), "serve"] if app is None else [str(uvicorn), app]
        ready = "/readyz" if app is None else "/healthz"
        self.process = subprocess.Popen(
            [*command, *where, "--log-level", "warning"],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server {name} exited at start\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}{ready}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.25)
        else:
            self.stop()
            raise RuntimeError(f"server {name} not ready in 90 s\n{self.tail()}")
        # Every worker up: /readyz answers when one is; wait until the tree is complete.
        for _ in range(100):
            if len(self.pids()) >= workers + 1:
                break
            time.sleep(0.1)

    def pids(self) -> list[int]:
        """The server's process and all its descendants (the Uvicorn workers)."""
        out, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(p) for p in (task / "children").read_text().split()]
        return out

    def tail(self, lines: int = 60) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- last lines of {self.log_path}:\n" + "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log.close()


def rss(pids: list[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1]) * 1024
    return out


class PeakRss:
    """Samples the server's processes every 20 ms: the peak of the largest one (the worker
    streaming the export) and of their sum."""

    def __init__(self, server: Server) -> None:
        self.server, self.worker, self.total, self.running = server, 0, 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            sizes = rss(self.server.pids())
            self.worker = max(self.worker, max(sizes.values(), default=0))
            self.total = max(self.total, sum(sizes.values()))
            time.sleep(0.02)

    def stop(self) -> tuple[int, int]:
        self.running = False
        self.thread.join()
        return self.worker, self.total


# ---------------------------------------------------------------------------- wrk


@dataclass
class Load:
    """One wrk run."""

    label: str
    p50: float
    p99: float
    rps: float
    requests: int
    errors: int
    params: str
    detail: str = ""


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise ValueError(f"wrk latency {value!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    server: Server,
    label: str,
    path: str,
    duration: int,
    *,
    connections: int = READ_CONNECTIONS,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    warm: bool = True,
) -> Load:
    """wrk against the server; p50/p99 from its latency distribution. Errors (non-2xx/3xx
    answers, socket errors) are counted, not raised: a long run keeps its other measures."""
    url = server.base + path
    headers = headers or {}
    if warm:  # both workers' caches and connection pools: 20 requests, at most 3 s
        until = time.monotonic() + 3
        for _ in range(20):
            if time.monotonic() > until:
                break
            request = urllib.request.Request(url, headers=headers)
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=60).read()
    params = f"wrk -t{threads} -c{connections} -d{duration}s"
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s"]
    args += ["--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script is not None:
        args += ["-s", str(script)]
    out = run([*args, url], timeout=duration + 120)
    # Anchored to the latency distribution's own lines: the thread stats above it end in a
    # percentage ("92.50%") that an unanchored "50%" would match.
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not (p50 and p99 and rps and total):
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(n) for n in sock.groups())
    result = Load(
        label,
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        float(rps.group(1)),
        int(total.group(1)),
        errors,
        params,
    )
    if errors:
        log(f"{label}: {errors} errors\n{out}\n{server.tail(20)}")
    log(
        f"{label}: p50 {result.p50:.2f} ms, p99 {result.p99:.2f} ms, {result.rps:,.0f} req/s, "
        f"{errors} errors"
    )
    return result


# ---------------------------------------------------------------------------- bodies


def incident_body(n: int) -> dict[str, Any]:
    """A valid incident (tests/support/payloads.py's shape), distinct for every n: the day,
    the place and the counts vary, inside Khyber Pakhtunkhwa."""
    span = (date.today() - timedelta(days=1) - date(2021, 8, 15)).days
    killed, injured = n % 7, n % 11
    return {
        "occurred_on": (date(2021, 8, 15) + timedelta(days=n % span)).isoformat(),
        "date_precision": "day",
        "location": {
            "type": "Point",
            "coordinates": [70.5 + (n * 7 % 200) / 100, 33.0 + (n * 13 % 200) / 100],
        },
        "geo_precision": "exact",
        "place_name": f"Bench place {n}",
        "province": "PK-KP",
        "district": "peshawar",
        "kind": "attack",
        "attack_type": "ied",
        "target_type": "police",
        "perpetrator": "ttp",
        "attribution": "suspected",
        "casualties": [
            {"category": "police", "killed": killed, "injured": injured},
            {"category": "civilians", "killed": 1, "injured": 2},
        ],
        "fatality_range": {"low": killed + 1, "high": killed + 5},
        "sources": [{"url": "https://example.org/bench", "publisher": "Bench"}],
        "description": f"Benchmark write {n}; not a real event.",
        "tags": ["bench"],
    }


POST_LUA = """-- Generated by bench/run.py: every request POSTs a different valid incident.
local template = [==[TEMPLATE]==]
local offset = OFFSET
local span = SPAN
local base = os.time({year = 2021, month = 8, day = 15, hour = 12})
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local n = offset + tid * 10000000 + counter
  local day = os.date("!%Y-%m-%d", base + (n % span) * 86400)
  local lon = string.format("%.2f", 70.5 + (n * 7 % 200) / 100)
  local lat = string.format("%.2f", 33.0 + (n * 13 % 200) / 100)
  local killed = n % 7
  local body = template:gsub("@DAY@", day):gsub("@LON@", lon):gsub("@LAT@", lat)
                       :gsub("@N@", tostring(n)):gsub("@K@", tostring(killed))
                       :gsub("@LOW@", tostring(killed + 1)):gsub("@HIGH@", tostring(killed + 5))
  return wrk.format("POST", "PATH", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer KEY",
  }, body)
end
"""


def post_script(directory: Path, key: str, offset: int, path: str = "/v1/incidents") -> Path:
    body = incident_body(0)
    body["occurred_on"] = "@DAY@"
    body["location"]["coordinates"] = ["@LON@", "@LAT@"]
    body["place_name"] = "Bench place @N@"
    body["description"] = "Benchmark write @N@; not a real event."
    body["casualties"][0]["killed"] = "@K@"
    body["fatality_range"] = {"low": "@LOW@", "high": "@HIGH@"}
    template = json.dumps(body, separators=(",", ":"))
    for name in ("LON", "LAT", "K", "LOW", "HIGH"):  # numbers, not strings
        template = template.replace(f'"@{name}@"', f"@{name}@")
    span = (date.today() - timedelta(days=1) - date(2021, 8, 15)).days
    script = directory / f"post-{offset}.lua"
    script.write_text(
        POST_LUA.replace("TEMPLATE", template)
        .replace("OFFSET", str(offset))
        .replace("SPAN", str(span))
        .replace("PATH", path)
        .replace("KEY", key)
    )
    return script


# ---------------------------------------------------------------------------- measures


@dataclass
class Row:
    measure: str
    value: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "—"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    loads: list[Load] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: str, **kwargs: str) -> None:
        self.rows.append(Row(*args, **kwargs))


def fetch(server: Server, path: str) -> bytes:
    with urllib.request.urlopen(server.base + path, timeout=120) as response:
        return bytes(response.read())


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def stream_hash(args: list[str], sink: Any = None) -> tuple[str, int]:
    """Run a command, hash its stdout (and pass it on to sink.write): SHA-256 and size."""
    digest, size = hashlib.sha256(), 0
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        assert p.stdout is not None
        while chunk := p.stdout.read(1 << 20):
            for bad in (b"\x01", b"\x02", b"\r"):
                if sink is not None and bad in chunk:
                    p.kill()
                    raise RuntimeError(f"{args[-1]}: the export holds {bad!r}; cannot load it")
            digest.update(chunk)
            size += len(chunk)
            if sink is not None:
                sink.write(chunk)
        err = p.stderr.read().decode(errors="replace") if p.stderr else ""
        if p.wait() != 0:
            raise RuntimeError(f"{shlex.join(args)} exited {p.returncode}: {err[-2000:]}")
    return digest.hexdigest(), size


def timed(args: list[str], timeout: float = 6 * 3600) -> float:
    began = time.monotonic()
    done = subprocess.run(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return time.monotonic() - began


def measure_exports(
    server: Server, url: str, rows: int, report: Report, formats: list[str]
) -> None:
    time.sleep(1)
    idle = rss(server.pids())
    idle_worker, idle_total = max(idle.values()), sum(idle.values())
    for fmt in formats:
        api = f"{server.base}/v1/exports/incidents?format={fmt}"
        table = f"bench_copy_{fmt}"
        # Load: the API's own bytes, one row per line. The table is created in the COPY's
        # transaction, so COPY skips the free space map and the heap keeps the lines' order
        # (else a short line may land in an earlier page's gap, and COPY TO reorders them).
        began = time.monotonic()
        with subprocess.Popen(
            [
                "psql",
                url,
                "-X",
                "-q",
                "-1",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f"DROP TABLE IF EXISTS {table}",
                "-c",
                f"CREATE UNLOGGED TABLE {table} (line text)",
                "-c",
                f"COPY {table} FROM STDIN WITH ({DIALECT})",
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as loader:
            assert loader.stdin is not None
            api_sha, api_size = stream_hash(
                ["curl", "-sSf", "-N", "--max-time", "21600", api], loader.stdin
            )
            loader.stdin.close()
            if loader.wait() != 0:
                raise RuntimeError(f"loading {table}: {loader.stderr.read().decode()}")  # type: ignore[union-attr]
        psql(url, f"VACUUM ANALYZE {table}")
        load_s = time.monotonic() - began
        copy_out = [
            "psql",
            url,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SET synchronize_seqscans = off",
            "-c",
            f"COPY {table} TO STDOUT WITH ({DIALECT})",
        ]
        copy_sha, copy_size = stream_hash(copy_out)  # the bytes check, untimed
        # Timed: both read a TCP socket on 127.0.0.1 and write to /dev/null.
        copy_s = timed(copy_out)
        watcher = PeakRss(server)
        began = time.monotonic()
        size = run(
            [
                "curl",
                "-sSf",
                "--max-time",
                "21600",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
                api,
            ],
            timeout=21700,
        )
        api_s = time.monotonic() - began
        worker, total = watcher.stop()
        same = api_sha == copy_sha and api_size == copy_size == int(size)
        lines = int(psql(url, f"SELECT count(*) FROM {table}").strip())
        psql(url, f"DROP TABLE {table}")
        api_rps, copy_rps = rows / api_s, rows / copy_s
        report.add(
            f"export {fmt}: API rows/s (baseline: COPY of the same bytes from a plain table)",
            f"{api_rps:,.0f}",
            f"{copy_rps:,.0f}",
            f"{api_rps / copy_rps:.2f}",
            "≥ 0.5",
            verdict(api_rps / copy_rps >= 0.5 and same)
            + ("" if same else " (COPY bytes differ from the API's)"),
        )
        report.add(
            f"export {fmt}: peak RSS of the exporting worker (baseline: idle)",
            f"{worker / 2**20:.0f} MB",
            f"{idle_worker / 2**20:.0f} MB",
            f"{worker / idle_worker:.2f}",
            "< 200 MB",
            verdict(worker < 200 * 2**20),
        )
        report.add(
            f"export {fmt}: peak RSS of all {len(idle)} server processes (baseline: idle)",
            f"{total / 2**20:.0f} MB",
            f"{idle_total / 2**20:.0f} MB",
            f"{total / idle_total:.2f}",
        )
        report.notes.append(
            f"export {fmt}: {rows:,} incidents, {api_size:,} bytes in {lines:,} lines; API "
            f"{api_s:.2f} s, COPY {copy_s:.2f} s; COPY output "
            f"{'identical to' if same else 'DIFFERENT from'} the API's (SHA-256 {api_sha[:12]}…, "
            f"{copy_size:,} bytes; timed download {int(size):,} bytes); table loaded in "
            f"{load_s:.1f} s."
        )
        log(report.notes[-1])


def measure_stats(server: Server, duration: int) -> dict[str, Load]:
    out = {"healthz": wrk(server, "/healthz", "/healthz", duration)}
    for label, query in STATS:
        out[label] = wrk(server, f"stats {label}", f"/v1/stats/fatalities?{query}", duration)
    return out


def deep_cursor(server: Server, rows: int) -> tuple[str, int]:
    """The cursor at depth 10,000 of the unfiltered list (less when the data is smaller),
    reached by pages of up to 500, and its depth."""
    depth, cursor = min(10_000, rows - 100), None
    done = 0
    while done < depth:
        limit = min(500, depth - done)
        page_url = f"{server.base}/v1/incidents?limit={limit}" + (
            f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""
        )
        with urllib.request.urlopen(page_url, timeout=120) as r:
            page = json.load(r)
        cursor = page["next_cursor"]
        done += len(page["items"])
        if cursor is None:
            raise RuntimeError(f"no cursor after {done:,} incidents of the list")
    assert cursor is not None
    return cursor, done


def rollup_check(url: str) -> tuple[int, list[str]]:
    """Rows where the rollups differ from a recount of the incidents: the fine rollup
    against incident_contributions() summed again, and the daily and monthly rollups per
    province against a plain aggregate of incidents and casualties."""
    checks = {
        "fine rollup vs incident_contributions(NULL)": """
            WITH recount AS (
                SELECT day, province_code, district_slug, perpetrator_slug, attack_type, kind,
                       status, category, categories, sum(killed) AS killed,
                       sum(injured) AS injured, sum(incidents) AS incidents
                  FROM incident_contributions(NULL) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9),
            kept AS (
                SELECT day, province_code, district_slug, perpetrator_slug, attack_type, kind,
                       status, category, categories, killed, injured, incidents
                  FROM fatality_rollup WHERE killed <> 0 OR injured <> 0 OR incidents <> 0)
            SELECT count(*) FROM ((TABLE recount EXCEPT ALL TABLE kept)
                                  UNION ALL (TABLE kept EXCEPT ALL TABLE recount)) d""",
        "daily and monthly per province vs incidents": """
            WITH recount AS (
                SELECT province_code, sum(killed_total) AS killed,
                       sum(injured_total) AS injured, count(*) AS incidents
                  FROM incidents WHERE deleted_at IS NULL AND status <> 'retracted'
                 GROUP BY 1),
            daily AS (
                SELECT province_code, sum(killed) AS killed, sum(injured) AS injured,
                       sum(incidents) AS incidents
                  FROM fatality_daily WHERE category = '' GROUP BY 1 HAVING sum(incidents) > 0),
            monthly AS (
                SELECT province_code, sum(killed) AS killed, sum(injured) AS injured,
                       sum(incidents) AS incidents
                  FROM fatality_monthly WHERE category = '' GROUP BY 1
                HAVING sum(incidents) > 0)
            SELECT count(*) FROM ((TABLE recount EXCEPT ALL TABLE daily)
                                  UNION ALL (TABLE daily EXCEPT ALL TABLE recount)
                                  UNION ALL (TABLE recount EXCEPT ALL TABLE monthly)
                                  UNION ALL (TABLE monthly EXCEPT ALL TABLE recount)) d""",
        "daily per province and category vs casualties": """
            WITH recount AS (
                SELECT i.province_code, c.category, sum(c.killed) AS killed,
                       sum(c.injured) AS injured, count(*) AS incidents
                  FROM incidents i JOIN casualties c ON c.incident_id = i.id
                 WHERE i.deleted_at IS NULL AND i.status <> 'retracted' GROUP BY 1, 2),
            daily AS (
                SELECT province_code, category, sum(killed) AS killed,
                       sum(injured) AS injured, sum(incidents) AS incidents
                  FROM fatality_daily WHERE category <> '' GROUP BY 1, 2
                HAVING sum(incidents) > 0)
            SELECT count(*) FROM ((TABLE recount EXCEPT ALL TABLE daily)
                                  UNION ALL (TABLE daily EXCEPT ALL TABLE recount)) d""",
    }
    total, notes = 0, []
    for label, sql in checks.items():
        wrong = int(psql(url, sql, timeout=6 * 3600).strip())
        total += wrong
        notes.append(f"{label}: {wrong} differing rows")
    return total, notes


def measure_batches(
    server: Server, key: str, batches: int, size: int, offset: int
) -> tuple[float, int, str]:
    """Sequential batches on one connection: incidents/s, failed requests, first failure."""
    bodies = [
        json.dumps(
            {"incidents": [incident_body(offset + b * size + i) for i in range(size)]}
        ).encode()
        for b in range(batches)
    ]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    errors, first_error, stored = 0, "", 0
    began = time.monotonic()
    for body in bodies:
        request = urllib.request.Request(
            f"{server.base}/v1/incidents:batch", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as r:
                stored += len(json.load(r)["items"])
        except urllib.error.HTTPError as exc:
            errors += 1
            first_error = first_error or f"{exc.code}: {exc.read()[:500]!r}"
    elapsed = time.monotonic() - began
    if stored != batches * size - errors * size:
        first_error = first_error or f"{stored} incidents stored of {batches * size}"
    return stored / elapsed, errors, first_error


# PostgreSQL alone storing a batch: the incidents rows and their casualties, sources and tags
# as the batch endpoint stores them (every index, the keys checked at the end), but with
# stored lines of the same size as constants instead of built by the trigger, and no history,
# no rollups and no totals check; rolled back. What the batch endpoint cannot beat.
BATCH_FLOOR = """
BEGIN;
ALTER TABLE incidents DISABLE TRIGGER tr_incidents_stored, DISABLE TRIGGER tr_incidents_totals,
                      DISABLE TRIGGER tr_incidents_csv_line;
ALTER TABLE casualties DISABLE TRIGGER tr_casualties_totals;
CREATE TEMP TABLE floor_batch ON COMMIT DROP AS
SELECT n, md5('bench-floor-' || n)::uuid AS id, n % 7 AS killed, n % 11 AS injured
  FROM generate_series({start}, {stop}) AS n;
WITH c AS (
    INSERT INTO casualties (incident_id, category, killed, injured)
    SELECT id, 'police', killed, injured FROM floor_batch
    UNION ALL SELECT id, 'civilians', 1, 2 FROM floor_batch
), s AS (
    INSERT INTO incident_sources (incident_id, position, url, publisher)
    SELECT id, 0, 'https://example.org/bench', 'Bench' FROM floor_batch
)
INSERT INTO incident_tags (incident_id, tag) SELECT id, 'bench' FROM floor_batch;
INSERT INTO incidents (id, occurred_on, geom, place_name, province_code, district_slug,
                       attack_type, target_type, perpetrator_slug, attribution, killed_total,
                       injured_total, fatality_low, fatality_high, description, document,
                       feature)
SELECT id, DATE '2021-08-15' + n % {span},
       ST_SetSRID(ST_MakePoint(70.5 + (n * 7 % 200) / 100.0, 33.0 + (n * 13 % 200) / 100.0),
                  4326),
       'Bench place ' || n, 'PK-KP', 'peshawar', 'ied', 'police', 'ttp', 'suspected',
       killed + 1, injured + 2, killed + 1, killed + 5, 'Benchmark write ' || n,
       repeat('d', {document}), repeat('f', {feature})
  FROM floor_batch;
INSERT INTO incident_csv_lines (id, line) SELECT id, repeat('c', {csv}) FROM floor_batch;
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK;
"""


def batch_floor(url: str, batches: int, size: int, lengths: dict[str, int]) -> float:
    """Incidents/s of BATCH_FLOOR run `batches` times for `size` incidents each."""
    span = (date.today() - timedelta(days=1) - date(2021, 8, 15)).days
    began = time.monotonic()
    for b in range(batches):
        sql = BATCH_FLOOR.format(
            start=b * size + 1,
            stop=(b + 1) * size,
            span=span,
            **lengths,
        )
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
            script.write(sql)
            script.flush()
            run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", script.name], timeout=600)
    return batches * size / (time.monotonic() - began)


# ---------------------------------------------------------------------------- the run


def ratio_row(
    report: Report, measure: str, value: Load, base: Load, target: float | None, unit: str = "ms"
) -> None:
    r = value.p50 / base.p50
    ok = target is None or (r <= target and value.errors == 0 and base.errors == 0)
    report.add(
        measure,
        f"{value.p50:.2f} {unit}",
        f"{base.p50:.2f} {unit}",
        f"{r:.2f}",
        "—" if target is None else f"≤ {target:g}",
        "—" if target is None else verdict(ok) + ("" if value.errors == 0 else " (errors)"),
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="incidents (full size)")
    parser.add_argument(
        "--small", type=int, default=10_000, help="incidents of the stats' small column"
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--batches", type=int, default=6, help="batch requests")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--workers", type=int, default=2)
    # Not bw_bench: the earlier stats_bench.py (still in other branches) drops that one.
    parser.add_argument("--database", default="bw_bench_run")
    parser.add_argument("--quick", action="store_true", help="3 s runs and 2 batches")
    parser.add_argument(
        "--section",
        choices=("all", "ogc"),
        default="all",
        help="ogc: only the OGC API items against tipg, at --size",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.batches = 3, 2
    args.small = min(args.small, args.size)
    return args


class Bench:
    """One run: its database, its servers (ended whatever happens), its report."""

    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args, self.url = args, url
        self.env = {**os.environ, "DATABASE_URL": url}
        self.env.pop("BW_DATABASE_URL", None)
        self.env.pop("BW_DATABASE_URL_READ", None)
        self.logdir = Path(tempfile.mkdtemp(prefix="bw-bench-"))
        self.servers: list[Server] = []
        self.report = Report()
        self.rows = self.final = 0

    @contextlib.contextmanager
    def serving(
        self,
        name: str,
        app: str | None = None,
        uvicorn: Path = BIN / "uvicorn",
        env: dict[str, str] | None = None,
        **extra: str,
    ) -> Iterator[Server]:
        """The project's server (or `app` on plain Uvicorn) with extra environment, ended
        whatever happens."""
        server = Server(
            {**(self.env if env is None else env), **extra},
            name,
            self.logdir,
            self.args.workers,
            app=app,
            uvicorn=uvicorn,
        )
        self.servers.append(server)
        try:
            yield server
        except BaseException:
            log(server.tail())
            raise
        finally:
            server.stop()
            self.servers.remove(server)

    def stop_servers(self) -> None:
        for server in list(self.servers):
            server.stop()

    def grow(self, start: int, stop: int) -> None:
        log(f"loading incidents {start:,}–{stop:,}")
        seconds = load(self.url, self.env, start, stop)
        self.report.add(
            f"load incidents {start:,}–{stop:,} (SQL + rebuild-rollups + VACUUM ANALYZE)",
            f"{seconds:.1f} s",
        )

    def stats(self, size: int) -> dict[str, Load]:
        """Uncached statistics at the current size, with /healthz of the same server."""
        with self.serving(f"stats-{size}", BW_STATS_CACHE="false") as server:
            out = measure_stats(server, self.args.duration)
        for result in out.values():
            result.label = f"{result.label} at {size:,}, uncached"
            self.report.loads.append(result)
        return out

    def stats_rows(self, small: dict[str, Load], full: dict[str, Load]) -> None:
        a = self.args
        for label, _ in STATS:
            if a.size > a.small:
                ratio_row(
                    self.report,
                    f"stats uncached {label}: p50 at {a.size:,} ÷ at {a.small:,}",
                    full[label],
                    small[label],
                    1.5,
                )
            ratio_row(
                self.report,
                f"stats uncached {label}: p50 ÷ /healthz p50",
                full[label],
                full["healthz"],
                5,
            )

    def reads(self, server: Server, reader: str) -> Load:
        """Cached stats with and without a key, and the lists; returns /healthz."""
        report, duration = self.report, self.args.duration
        stats = f"/v1/stats/fatalities?{STATS[0][1]}"
        health = wrk(server, "/healthz", "/healthz", duration)
        cached = wrk(server, "stats month × province, cached", stats, duration)
        keyed = wrk(
            server,
            "stats month × province, cached server, reader key",
            stats,
            duration,
            headers={"Authorization": f"Bearer {reader}"},
        )
        report.loads += [health, cached, keyed]
        ratio_row(report, "stats cached month × province: p50 ÷ /healthz p50", cached, health, None)
        report.add(
            "stats month × province with a reader key: req/s (baseline: without)",
            f"{keyed.rps:,.0f}",
            f"{cached.rps:,.0f}",
            f"{keyed.rps / cached.rps:.2f}",
            "≥ 0.8 (cache shared)",
            verdict(keyed.rps / cached.rps >= 0.8 and keyed.errors == 0),
        )
        cursor, depth = deep_cursor(server, self.rows)
        filtered = wrk(server, "list filtered", FILTERED_LIST, duration)
        first = wrk(server, "list page 1", "/v1/incidents?limit=50", duration)
        deep = wrk(
            server,
            f"list at cursor depth {depth:,}",
            f"/v1/incidents?limit=50&cursor={urllib.parse.quote(cursor)}",
            duration,
        )
        report.loads += [filtered, first, deep]
        ratio_row(report, f"list `{FILTERED_LIST}`: p50 ÷ /healthz p50", filtered, health, 3)
        ratio_row(
            report,
            f"list unfiltered limit=50: p50 at cursor depth {depth:,} ÷ page 1",
            deep,
            first,
            1.5,
        )
        return health

    def writes(self, server: Server, analyst: str) -> Load:
        """One writer, then 16; /healthz measured the same way for the ratio; batches.
        Returns /healthz with one connection."""
        report, duration = self.report, self.args.duration
        before = live_incidents(self.url)
        health1 = wrk(server, "/healthz, 1 connection", "/healthz", duration, connections=1)
        single = wrk(
            server,
            "POST /v1/incidents, 1 connection",
            "/v1/incidents",
            duration,
            connections=1,
            script=post_script(self.logdir, analyst, 100_000_000),
            warm=False,
        )
        many = wrk(
            server,
            f"POST /v1/incidents, {WRITERS} connections",
            "/v1/incidents",
            duration,
            connections=WRITERS,
            threads=2,
            script=post_script(self.logdir, analyst, 200_000_000),
            warm=False,
        )
        report.loads += [health1, single, many]
        after = live_incidents(self.url)
        ratio_row(
            report, "single POST /v1/incidents (1 client): p50 ÷ /healthz p50", single, health1, 5
        )
        stored = many.rps * (many.requests - many.errors) / max(many.requests, 1)
        report.add(
            f"POST /v1/incidents, {WRITERS} writers: incidents/s (201s only)",
            f"{stored:,.0f}",
            target="≥ 500",
            met=verdict(stored >= 500),
        )
        errors = many.errors + single.errors
        report.add(
            f"POST /v1/incidents, 1 then {WRITERS} writers: errors (non-2xx + socket)",
            str(errors),
            target="0",
            met=verdict(errors == 0),
        )
        report.notes.append(
            f"writes: {after - before:,} incidents stored; wrk counted "
            f"{single.requests + many.requests:,} completed POSTs ({errors} failed); wrk "
            "ends its run with requests in flight, which the server may still store."
        )
        a = self.args
        log(f"batches: {a.batches} × {a.batch_size:,}")
        rps, failed, why = measure_batches(server, analyst, a.batches, a.batch_size, 300_000_000)
        report.add(
            f"POST /v1/incidents:batch ({a.batches} × {a.batch_size:,}): incidents/s",
            f"{rps:,.0f}",
            target="≥ 10,000",
            met=verdict(rps >= 10_000),
        )
        lengths = dict(
            zip(
                ("document", "csv", "feature"),
                (
                    int(n)
                    for n in psql(
                        self.url,
                        "SELECT avg(length(document))::int, "
                        "(SELECT avg(length(line))::int FROM incident_csv_lines), "
                        "avg(length(feature))::int FROM incidents",
                    ).split("|")
                ),
                strict=True,
            )
        )
        floor = batch_floor(self.url, a.batches, a.batch_size, lengths)
        report.add(
            "floor for the batch: PostgreSQL alone storing the same rows (every index and key; "
            "stored lines as constants of the same length; no history, rollups or totals "
            "check; rolled back): incidents/s",
            f"{floor:,.0f}",
        )
        report.add(
            "POST /v1/incidents:batch: failed requests",
            str(failed),
            target="0",
            met=verdict(failed == 0) + (f" ({why})" if why else ""),
        )
        return health1

    def floors(self, health: Load, health1: Load, answers: dict[str, bytes], analyst: str) -> None:
        """bench/floor.py beside the server's figures: the same bytes of the largest
        statistics answers sent from memory, and a durable one-row write of the same POST
        body, by a bare ASGI app on the same Uvicorn. Where the floor is above a target's
        bound, no implementation on this stack and machine meets that target."""
        report, duration = self.report, self.args.duration
        psql(
            self.url,
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} "
            "(id bigserial PRIMARY KEY, body text NOT NULL)",
        )
        for label, body in answers.items():
            path = self.logdir / f"answer-{len(body)}.json"
            path.write_bytes(body)
            with self.serving(
                f"floor-{len(body)}", FLOOR_APP, FLOOR_DSN=self.url, FLOOR_BYTES=str(path)
            ) as floor:
                sent = wrk(
                    floor,
                    f"floor: {label} answer ({len(body):,} bytes) from memory",
                    "/bytes",
                    duration,
                )
            report.loads.append(sent)
            ratio_row(
                report,
                f"floor for stats {label}: its {len(body):,} bytes sent from memory by a bare "
                "ASGI app, p50 ÷ /healthz p50",
                sent,
                health,
                None,
            )
        with self.serving("floor-writes", FLOOR_APP, FLOOR_DSN=self.url) as floor:
            one = wrk(
                floor,
                "floor: durable one-row write of the POST body, 1 connection",
                "/write",
                duration,
                connections=1,
                script=post_script(self.logdir, analyst, 400_000_000, path="/write"),
                warm=False,
            )
            many = wrk(
                floor,
                f"floor: durable one-row write of the POST body, {WRITERS} connections",
                "/write",
                duration,
                connections=WRITERS,
                threads=2,
                script=post_script(self.logdir, analyst, 500_000_000, path="/write"),
                warm=False,
            )
        report.loads += [one, many]
        ratio_row(
            report,
            "floor for single POST: a durable one-row write of the same body by a bare ASGI "
            "app (1 client), p50 ÷ /healthz p50",
            one,
            health1,
            None,
        )
        report.add(
            f"floor for {WRITERS} writers: durable one-row writes/s by a bare ASGI app",
            f"{many.rps:,.0f}",
        )
        psql(self.url, f"DROP TABLE {FLOOR_TABLE}")

    def ogc(self, ours: Server) -> None:
        """/ogc items against tipg on the same table, both with numberMatched."""
        report, duration = self.report, self.args.duration
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "DATABASE_URL": self.url,
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_DB_TABLES": '["public.incidents"]',
            "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        }
        uvicorn = ensure_tipg()
        with self.serving("tipg", "tipg.main:app", uvicorn=uvicorn, env=env) as tipg:
            for label, box, target in OGC_BOXES:
                path = f"/ogc/collections/incidents/items?bbox={box}&limit={OGC_LIMIT}"
                base_path = (
                    f"/collections/public.incidents/items?bbox={box}&limit={OGC_LIMIT}"
                    f"&properties={TIPG_PROPERTIES}"
                )
                mine, theirs = fetch(ours, path), fetch(tipg, base_path)
                a, b = json.loads(mine), json.loads(theirs)
                same = (a["numberMatched"], a["numberReturned"]) == (
                    b["numberMatched"],
                    b["numberReturned"],
                )
                if not same:
                    raise RuntimeError(
                        f"/ogc and tipg differ on {label}: numberMatched "
                        f"{a['numberMatched']} vs {b['numberMatched']}, numberReturned "
                        f"{a['numberReturned']} vs {b['numberReturned']}"
                    )
                fast = wrk(ours, f"/ogc items, bbox {label}, limit={OGC_LIMIT}", path, duration)
                slow = wrk(
                    tipg, f"tipg items, bbox {label}, limit={OGC_LIMIT}", base_path, duration
                )
                report.loads += [fast, slow]
                ratio_row(
                    report,
                    f"OGC items bbox {label} (`{box}`), limit={OGC_LIMIT}: /ogc p50 ÷ tipg p50",
                    fast,
                    slow,
                    target,
                )
                report.add(
                    f"OGC items bbox {label}: /ogc p99 ÷ tipg p99",
                    f"{fast.p99:.2f} ms",
                    f"{slow.p99:.2f} ms",
                    f"{fast.p99 / slow.p99:.2f}",
                )
                report.notes.append(
                    f"OGC bbox {label}: both numberMatched {a['numberMatched']:,}, "
                    f"numberReturned {a['numberReturned']}; body /ogc {len(mine):,} bytes, "
                    f"tipg {len(theirs):,} bytes."
                )
        report.notes.append(
            f"OGC: tipg {TIPG_VERSION} (`uvicorn tipg.main:app --workers {self.args.workers}`, "
            "TIPG_DB_TABLES=public.incidents) on the same database. Both answer with "
            "numberMatched: tipg runs COUNT(*) with the filter on every request; /ogc counts "
            "too, reading the statistics rollups instead when the box holds the incidents' "
            "whole extent (exact, the same number). Properties: /ogc gives the stored incident "
            "document (with casualties, sources, tags); tipg the table's columns without the "
            "stored texts (`properties=`), no casualties, sources or tags. Order: /ogc newest "
            "day first, keyset `next`; tipg by id, OFFSET `next`."
        )

    def ogc_only(self) -> None:
        """--section ogc: load --size incidents, then the OGC items against tipg."""
        run([str(BIN / "borderwatch"), "migrate"], env=self.env, timeout=600)
        self.grow(1, self.args.size)
        self.rows = self.final = live_incidents(self.url)
        with self.serving("main") as server:
            self.ogc(server)

    def run(self) -> None:
        a = self.args
        if a.section == "ogc":
            self.ogc_only()
            return
        run([str(BIN / "borderwatch"), "migrate"], env=self.env, timeout=600)
        reader, analyst = create_key(self.env, "reader"), create_key(self.env, "analyst")
        self.grow(1, a.small)
        small = self.stats(a.small)
        if a.size > a.small:
            self.grow(a.small + 1, a.size)
            full = self.stats(a.size)
        else:
            full = small
            self.report.notes.append(
                f"--size {a.size:,} is not above --small {a.small:,}: no 'full ÷ small' "
                "ratios in this run."
            )
        self.rows = live_incidents(self.url)
        self.stats_rows(small, full)
        formats = [f for f in a.formats.split(",") if f]
        with self.serving("main") as server:
            # Exports first: the writes add rows.
            measure_exports(server, self.url, self.rows, self.report, formats)
            health = self.reads(server, reader)
            self.ogc(server)
            answers = {
                label: fetch(server, f"/v1/stats/fatalities?{query}")
                for label, query in STATS
                if label in FLOOR_STATS
            }
            health1 = self.writes(server, analyst)
        self.floors(health, health1, answers, analyst)
        log("checking the rollups against a recount")
        wrong, notes = rollup_check(self.url)
        self.report.notes += notes
        self.report.add(
            "rollups after the writes vs a recount in SQL: differing rows",
            str(wrong),
            target="0",
            met=verdict(wrong == 0),
        )
        self.final = live_incidents(self.url)


def main() -> int:
    args = parse_args()
    for tool, package in (("wrk", "wrk"), ("curl", "curl"), ("psql", "postgresql-client")):
        ensure_tool(tool, package)
    base = libpq_url(
        os.environ.get("DATABASE_URL") or os.environ.get("BW_DATABASE_URL") or DEFAULT_URL
    )

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    started = datetime.now(UTC)
    log(f"creating database {args.database}")
    url = create_database(base, args.database)
    bench = Bench(args, url)
    try:
        box = machine(url)
        bench.run()
    except BaseException:
        for server in bench.servers:
            log(server.tail())
        log(f"server logs and wrk scripts kept in {bench.logdir}")
        raise
    finally:
        bench.stop_servers()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                drop_database(base, args.database)
                log(f"dropped database {args.database}")

    section = render(args, bench.report, box, started, bench.rows, bench.final, args.small)
    print(section)
    if not args.no_record:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nRecorded by bench/run.py; newest last.\n")
        with RESULTS.open("a") as f:
            f.write("\n" + section)
        log(f"appended to {RESULTS}")
    shutil.rmtree(bench.logdir, ignore_errors=True)
    return 0


def render(
    args: argparse.Namespace,
    report: Report,
    box: str,
    started: datetime,
    rows: int,
    final: int,
    small: int,
) -> str:
    if args.section == "ogc":
        lines = [
            f"### OGC API – Features against tipg (bench/run.py --section ogc), "
            f"{started:%Y-%m-%d %H:%M} UTC, {args.size:,} incidents",
            "",
            f"Machine: {box}.",
            "",
            f"Method: `bench/run.py {shlex.join(sys.argv[1:])}`. Data: "
            f"bench/load_synthetic.sql then `borderwatch rebuild-rollups` and VACUUM ANALYZE, "
            f"{rows:,} live incidents. Servers: `borderwatch serve --workers {args.workers}` "
            f"and tipg {TIPG_VERSION} on `uvicorn --workers {args.workers}`, both on the same "
            "database and machine as the client, measured in turn: `wrk -t1 "
            f"-c{READ_CONNECTIONS} -d{args.duration}s` after 20 warm-up requests each. "
            "Target (issue 10): /ogc p50 ≤ tipg p50 on the same query.",
            "",
            "| measure | value | baseline | ratio | target | met? |",
            "|---|---:|---:|---:|---|---|",
        ]
    else:
        lines = _header(args, box, started, rows, final, small)
    return _table(report, lines)


def _header(
    args: argparse.Namespace, box: str, started: datetime, rows: int, final: int, small: int
) -> list[str]:
    return [
        f"### Benchmark (bench/run.py), {started:%Y-%m-%d %H:%M} UTC, {args.size:,} incidents",
        "",
        f"Machine: {box}.",
        "",
        f"Method: `bench/run.py {shlex.join(sys.argv[1:])}`. Data: "
        f"bench/load_synthetic.sql then `borderwatch rebuild-rollups`, {small:,} incidents "
        f"then grown to {args.size:,} ({rows:,} live when measured; {final:,} after the "
        f"writes). Server: `borderwatch serve --workers {args.workers}`, on the same machine "
        f"as every client. Reads: `wrk -t1 -c{READ_CONNECTIONS} -d{args.duration}s` after 20 "
        "warm-up requests, /healthz measured on the same server the same way; stats "
        "uncached with `BW_STATS_CACHE=false`, cached on the default server. Exports: curl "
        'into /dev/null against `psql -c "COPY bench_copy_<fmt> TO STDOUT WITH (FORMAT csv, '
        "QUOTE e'\\x01', DELIMITER e'\\x02')\"` into /dev/null (both read TCP on 127.0.0.1), "
        "the table loaded from the API's export in this run and its COPY output checked to "
        "be the same bytes; RSS sampled every 20 ms. Writes: wrk with a Lua script POSTing a "
        f"different valid incident each time, `-t1 -c1` (and /healthz `-t1 -c1`) and `-t2 "
        f"-c{WRITERS}`, {args.duration} s each, analyst key; batches: {args.batches} "
        f"sequential requests of {args.batch_size:,} on one connection (urllib). Targets: "
        'docs/SPEC.md "Performance" (the 5× of /healthz for every grouping); two are this '
        'script\'s reading: cursor depth ÷ page 1 ≤ 1.5 (SPEC "as fast", with the 1.5 it '
        'allows for "no slower"), and req/s with a key ≥ 0.8 × without (the cache shared).',
        "",
        "| measure | value | baseline | ratio | target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]


def _table(report: Report, lines: list[str]) -> str:
    lines += [
        f"| {r.measure} | {r.value} | {r.baseline} | {r.ratio} | {r.target} | {r.met} |"
        for r in report.rows
    ]
    lines += [
        "",
        "Raw latencies:",
        "",
        "| request | p50 ms | p99 ms | req/s | requests | errors | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {x.label} | {x.p50:.2f} | {x.p99:.2f} | {x.rps:,.0f} | {x.requests:,} | "
        f"{x.errors} | {x.params} |"
        for x in report.loads
    ]
    if report.notes:
        lines += ["", *[f"- {note}" for note in report.notes]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
