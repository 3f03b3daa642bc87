"""Incidents spread over the map and the calendar, for the /ogc tests."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from tests.support.payloads import incident


def spread(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """n incidents at points of a 0.01° grid (never on a .005 box edge) and on days
    from 2023-12-20 to 2024-03-10 (across month and year boundaries)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        lon = round(69.0 + rng.randrange(500) / 100, 2)
        lat = round(30.0 + rng.randrange(500) / 100, 2)
        day = date(2023, 12, 20) + timedelta(days=rng.randrange(82))
        out.append(
            incident(
                occurred_on=day.isoformat(),
                location={"type": "Point", "coordinates": [lon, lat]},
                district=None,
                perpetrator=rng.choice(["ttp", "iskp", "unknown"]),
                casualties=[{"category": "police", "killed": k % 5, "injured": 1}],
                fatality_range=None,
                description=f"OGC test incident {k}",
            )
        )
    return out
