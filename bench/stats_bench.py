"""Stats benchmark: /v1/stats/fatalities (month x province since 2021-08-15) against /healthz,
measured with wrk in the same run, at growing numbers of synthetic incidents.

    .venv/bin/python bench/stats_bench.py [--sizes 10000,100000,1000000] [--duration 15]

Uses DATABASE_URL if set, else creates the database bw_bench from borderwatch_template
(what scripts/serve.sh provisions). Incidents are bulk-loaded by bench/load_synthetic.sql
(deterministic synthetic rows) and the rollups rebuilt with `borderwatch rebuild-rollups`;
"load s" is both. The server runs with 2 Uvicorn workers. Prints a Markdown
table and appends it, with the machine, to bench/RESULTS.md (--no-record to skip).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORT = 8091
STATS = "/v1/stats/fatalities?period=month&group_by=province"
BY_GROUP = "/v1/stats/fatalities?period=month&group_by=perpetrator"


def sh(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-X", "-q", "-c"]
    sh(*psql, "DROP DATABASE IF EXISTS bw_bench WITH (FORCE)")
    sh(*psql, "CREATE DATABASE bw_bench OWNER borderwatch TEMPLATE borderwatch_template")
    return "postgresql://borderwatch:borderwatch@127.0.0.1:5432/bw_bench"


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    pg = sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-X", "-tAc", "SHOW server_version")
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB RAM, "
        f"PostgreSQL {pg.strip()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def serve(env: dict[str, str], workers: int = 2) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            str(BIN / "borderwatch"),
            "serve",
            "--port",
            str(PORT),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/readyz") as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("server did not get ready")


def wrk(path: str, duration: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{PORT}{path}"
    for _ in range(50):  # warm both workers' caches and connection pools
        urllib.request.urlopen(url).read()
    out = sh("wrk", "-t1", "-c4", f"-d{duration}s", "--latency", url)

    def ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    # Anchored to the latency distribution's own lines: the thread stats above it end in a
    # percentage ("92.50%") that an unanchored "50%" would match.
    p50 = ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{path}: {non2xx.group(1)} failed responses")
    return {"p50": p50, "p99": p99, "rps": rps}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--query",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another request to measure uncached (printed with the results, not in the table)",
    )
    args = parser.parse_args()
    ensure_wrk()
    url = database_url()
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("BW_DATABASE_URL", None)
    sh(str(BIN / "borderwatch"), "migrate", env=env)
    rows = []
    loaded = 0
    psql_url = url.replace("postgresql+asyncpg://", "postgresql://")
    for size in [int(s) for s in args.sizes.split(",")]:
        started = time.monotonic()
        sh(
            "psql",
            psql_url,
            "-X",
            "-q",
            "-v",
            f"start={loaded + 1}",
            "-v",
            f"stop={size}",
            "-f",
            str(ROOT / "bench" / "load_synthetic.sql"),
        )
        sh(str(BIN / "borderwatch"), "rebuild-rollups", env=env)
        load_s = time.monotonic() - started
        loaded = size
        sh("psql", psql_url, "-X", "-q", "-c", "VACUUM ANALYZE")
        counts = (
            sh(
                "psql",
                psql_url,
                "-X",
                "-tAc",
                "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM "
                "fatality_rollup), (SELECT count(*) FROM fatality_daily), (SELECT count(*) "
                "FROM fatality_monthly)",
            )
            .strip()
            .split("|")
        )
        result = {
            "incidents": int(counts[0]),
            "fine": int(counts[1]),
            "daily": int(counts[2]),
            "monthly": int(counts[3]),
            "load_s": load_s,
        }
        for label, cache in (("cached", "true"), ("uncached", "false")):
            server = serve({**env, "BW_STATS_CACHE": cache})
            try:
                if label == "cached":
                    result["healthz"] = wrk("/healthz", args.duration)  # type: ignore[assignment]
                result[label] = wrk(STATS, args.duration)  # type: ignore[assignment]
                if label == "uncached":
                    result["by_group"] = wrk(BY_GROUP, args.duration)  # type: ignore[assignment]
                    for name, path in (q.split("=", 1) for q in args.query):
                        result[name] = wrk(path, args.duration)  # type: ignore[assignment]
            finally:
                server.terminate()
                server.wait(timeout=30)
        rows.append(result)
        print(result, flush=True)

    lines = [
        f"### Stats benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine()}. Server: `borderwatch serve --workers 2`; load: "
        f"`wrk -t1 -c4 -d{args.duration}s` on the same machine; request: `GET {STATS}` "
        "(since 2021-08-15, until today), and the same grouped by perpetrator. *Cached*: repeated requests answered from the "
        "per-process cache of the current data version (the normal case for polling "
        "dashboards); *uncached*: `BW_STATS_CACHE=false`, every request aggregates the rollup.",
        "",
        "| incidents | fine / daily / monthly rollup rows | `/healthz` p50 / p99 ms | "
        "stats cached p50 / p99 ms | "
        "cached ÷ healthz (p50) | stats uncached p50 / p99 ms | uncached ÷ healthz (p50) | "
        "uncached by perpetrator p50 / p99 ms | load s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        h, c, u, g = r["healthz"], r["cached"], r["uncached"], r["by_group"]  # type: ignore[index]
        lines.append(
            f"| {r['incidents']:,} | {r['fine']:,} / {r['daily']:,} / {r['monthly']:,} | "
            f"{h['p50']:.2f} / "
            f"{h['p99']:.2f} | {c['p50']:.2f} / {c['p99']:.2f} | {c['p50'] / h['p50']:.2f} | "
            f"{u['p50']:.2f} / {u['p99']:.2f} | {u['p50'] / h['p50']:.2f} | "
            f"{g['p50']:.2f} / {g['p99']:.2f} | {r['load_s']:.0f} |"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        lines += [
            "",
            f"Stats p50 at {last['incidents']:,} ÷ at {first['incidents']:,}: cached "
            f"{last['cached']['p50'] / first['cached']['p50']:.2f}, uncached "  # type: ignore[index]
            f"{last['uncached']['p50'] / first['uncached']['p50']:.2f}.",
        ]  # type: ignore[index]
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_record:
        results = ROOT / "bench" / "RESULTS.md"
        if not results.exists():
            results.write_text(
                "# Benchmark results\n\nRecorded by the scripts in bench/; "
                "newest last. Ratios are against baselines measured in the "
                "same run.\n\n"
            )
        with results.open("a") as f:
            f.write("\n" + table)


if __name__ == "__main__":
    main()
