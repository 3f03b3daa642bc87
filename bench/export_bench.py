"""Export and list benchmark at N incidents (default 1,000,000), against PostgreSQL itself.

    .venv/bin/python bench/export_bench.py [--size 1000000] [--no-record]

For each export format: rows/s of `GET /v1/exports/incidents?format=…` downloaded by curl,
against `psql -c "COPY (the same SELECT) TO STDOUT"` of the same rows in the same run, and
the server's peak RSS (all its processes) while it streams. For lists: wrk p50/p99 of page
1 and of the page at cursor depth 10,000. Uses the bw_bench database of stats_bench.py (or
DATABASE_URL), loading synthetic incidents when it holds fewer than N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.exports import service
from app.incidents.filters import IncidentFilters
from bench.stats_bench import BIN, PORT, ROOT, ensure_wrk, machine, serve, sh, wrk


def database_url() -> str:
    url = (
        os.environ.get("DATABASE_URL")
        or "postgresql://borderwatch:borderwatch@127.0.0.1:5432/bw_bench"
    )
    exists = sh(
        "psql",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-X",
        "-tAc",
        "SELECT 1 FROM pg_database WHERE datname = 'bw_bench'",
    ).strip()
    if not os.environ.get("DATABASE_URL") and not exists:
        sh(
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-X",
            "-q",
            "-c",
            "CREATE DATABASE bw_bench OWNER borderwatch TEMPLATE borderwatch_template",
        )
    return url


def rss(pid: int) -> dict[int, int]:
    """Resident bytes of a process and of each of its children (the Uvicorn workers)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    out = {}
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[p] = int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return out


class PeakRss:
    """Samples the RSS of a server's processes every 20 ms while active: the peak of the
    largest one (the worker streaming the export) and of their sum."""

    def __init__(self, pid: int) -> None:
        self.pid, self.worker, self.total, self.running = pid, 0, 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            sizes = rss(self.pid)
            self.worker = max(self.worker, max(sizes.values(), default=0))
            self.total = max(self.total, sum(sizes.values()))
            time.sleep(0.02)

    def stop(self) -> tuple[int, int]:
        self.running = False
        self.thread.join()
        return self.worker, self.total


def timed(args: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--lists-only", action="store_true", help="skip the exports")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Uvicorn workers (1: the server is one process, whose RSS is the server's)",
    )
    args = parser.parse_args()
    ensure_wrk()
    url = database_url()
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("BW_DATABASE_URL", None)
    sh(str(BIN / "borderwatch"), "migrate", env=env)
    count = int(sh("psql", url, "-X", "-tAc", "SELECT count(*) FROM incidents").strip())
    if count < args.size:
        sh(
            "psql",
            url,
            "-X",
            "-q",
            "-v",
            f"start={count + 1}",
            "-v",
            f"stop={args.size}",
            "-f",
            str(ROOT / "bench" / "load_synthetic.sql"),
        )
        sh(str(BIN / "borderwatch"), "rebuild-rollups", env=env)
        sh("psql", url, "-X", "-q", "-c", "VACUUM ANALYZE")
    rows = int(
        sh(
            "psql",
            url,
            "-X",
            "-tAc",
            "SELECT count(*) FROM incidents WHERE deleted_at IS NULL AND status <> 'retracted'",
        ).strip()
    )

    results = []
    server = serve(env, args.workers)
    try:
        time.sleep(1)
        idle = rss(server.pid)
        for fmt in () if args.lists_only else ("ndjson", "csv", "json", "geojson"):
            export = service.build(IncidentFilters(), fmt, None)
            options = export.copy_options
            copy_opts = "FORMAT csv" + (", HEADER" if options.get("header") else "")
            if "quote" in options:
                copy_opts += ", QUOTE E'\\x01', DELIMITER E'\\x02'"
            copy_s = timed(
                [
                    "psql",
                    url,
                    "-X",
                    "-q",
                    "-c",
                    "SET enable_sort = off",
                    "-c",
                    f"COPY ({export.query}) TO STDOUT WITH ({copy_opts})",
                ]
            )
            watcher = PeakRss(server.pid)
            api_s = timed(
                [
                    "curl",
                    "-sf",
                    "-o",
                    "/dev/null",
                    f"http://127.0.0.1:{PORT}/v1/exports/incidents?format={fmt}",
                ]
            )
            worker, total = watcher.stop()
            results.append(
                {
                    "format": fmt,
                    "copy_rps": rows / copy_s,
                    "api_rps": rows / api_s,
                    "copy_s": copy_s,
                    "api_s": api_s,
                    "worker_rss": worker,
                    "total_rss": total,
                }
            )
            print(results[-1], flush=True)

        cursor = None
        for _ in range(20):  # 20 pages of 500: the cursor at depth 10,000
            page = json.load(
                urllib.request.urlopen(
                    f"http://127.0.0.1:{PORT}/v1/incidents?limit=500"
                    + (f"&cursor={cursor}" if cursor else "")
                )
            )
            cursor = page["next_cursor"]
        # A cursor made for limit=500 pages is valid for any limit (same filters).
        first = wrk("/v1/incidents?limit=50", args.duration)
        deep = wrk(f"/v1/incidents?limit=50&cursor={cursor}", args.duration)
    finally:
        server.terminate()
        server.wait(timeout=30)

    lines = [
        f"### Export and list benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine()}. {rows:,} incidents (bench/load_synthetic.sql). Server: "
        f"`borderwatch serve --workers {args.workers}`; exports downloaded with curl on the same machine; "
        'baseline: `psql -c "COPY (the same SELECT) TO STDOUT"` of the same rows in the '
        f"same run. Server RSS idle: largest process {max(idle.values()) / 2**20:.0f} MB, all "
        f"{len(idle)} processes {sum(idle.values()) / 2**20:.0f} MB.",
        "",
        "| format | COPY rows/s | API rows/s | API ÷ COPY | COPY s | API s | "
        "peak RSS MB, exporting worker / all processes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    if not results:
        lines = lines[:3]  # lists only: no export table
    for r in results:
        lines.append(
            f"| {r['format']} | {r['copy_rps']:,.0f} | {r['api_rps']:,.0f} | "
            f"{r['api_rps'] / r['copy_rps']:.2f} | {r['copy_s']:.1f} | "
            f"{r['api_s']:.1f} | {r['worker_rss'] / 2**20:.0f} / "
            f"{r['total_rss'] / 2**20:.0f} |"
        )
    lines += [
        "",
        f"List (`GET /v1/incidents?limit=50`, wrk -t1 -c4 -d{args.duration}s): page 1 p50 "
        f"{first['p50']:.2f} ms / p99 {first['p99']:.2f} ms; at cursor depth 10,000 p50 "
        f"{deep['p50']:.2f} ms / p99 {deep['p99']:.2f} ms; depth ÷ page 1 (p50) "
        f"{deep['p50'] / first['p50']:.2f}.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_record:
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write("\n" + table)


if __name__ == "__main__":
    main()
