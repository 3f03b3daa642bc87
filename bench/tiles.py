"""Latency and size of incident vector tiles from a running server: a few tiles over Pakistan
at low zoom (grid cells once over the point cap) and deep ones near Torkham.

    python -m bench.tiles http://127.0.0.1:8000 [repeats]

Each tile is fetched once to warm up, then `repeats` times in a row (no If-None-Match, so
every request renders the tile); prints p50 and max in ms, bytes, and features.
"""

from __future__ import annotations

import statistics
import sys
import time
import urllib.request

# z/x/y: the slippy-map tiles of Pakistan's border regions (69-74 E, 29-35 N, where
# bench/load_synthetic.sql puts its incidents) and of Torkham (71.09 E, 34.107 N).
TILES = {
    "z4 Pakistan": "4/11/6",
    "z5 Pakistan": "5/22/12",
    "z6 Khyber Pakhtunkhwa": "6/44/25",
    "z8 Peshawar-Torkham": "8/178/102",
    "z10 Torkham": "10/714/408",
    "z12 Torkham": "12/2856/1634",
    "z14 Torkham": "14/11427/6539",
}
FILTERED = "?perpetrator=iskp&since=2024-01-01"


def fetch(url: str) -> tuple[float, int, str]:
    """Milliseconds, bytes and status of one GET."""
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 (a local URL)
        body = r.read()
        status = r.status
    return (time.perf_counter() - began) * 1000, len(body), str(status)


def wait_ready(base: str, seconds: float = 60) -> None:
    """Until the server answers /healthz (it may still be starting)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5):  # noqa: S310 (local)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> None:
    """Measure every tile of TILES, plain and filtered."""
    base = sys.argv[1].rstrip("/")
    wait_ready(base)
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    print(f"{'tile':28} {'query':36} {'p50 ms':>8} {'max ms':>8} {'bytes':>8} status")
    for name, zxy in TILES.items():
        for query in ("", FILTERED):
            url = f"{base}/v1/tiles/incidents/{zxy}.pbf{query}"
            fetch(url)
            runs = [fetch(url) for _ in range(repeats)]
            ms = [r[0] for r in runs]
            size, status = runs[-1][1], runs[-1][2]
            print(
                f"{name:28} {query or '-':36} {statistics.median(ms):8.1f} {max(ms):8.1f} "
                f"{size:8d} {status}"
            )


if __name__ == "__main__":
    main()
