"""A valid incident payload to start each test from (the Peshawar Police Lines bombing)."""

from __future__ import annotations

import copy
from typing import Any

PESHAWAR: dict[str, Any] = {
    "occurred_on": "2023-01-30",
    "date_precision": "day",
    "location": {"type": "Point", "coordinates": [71.5594, 34.0131]},
    "geo_precision": "exact",
    "place_name": "Police Lines mosque, Peshawar",
    "province": "PK-KP",
    "district": "peshawar",
    "kind": "attack",
    "attack_type": "suicide_bombing",
    "target_type": "police",
    "perpetrator": "jamaat-ul-ahrar",
    "attribution": "suspected",
    "casualties": [
        {"category": "police", "killed": 80, "injured": 200},
        {"category": "civilians", "killed": 4, "injured": 17},
    ],
    "fatality_range": {"low": 84, "high": 101},
    "sources": [
        {
            "url": "https://en.wikipedia.org/wiki/2023_Peshawar_mosque_bombing",
            "publisher": "Wikipedia",
            "published_on": "2023-01-31",
            "title": None,
        }
    ],
    "crossing": None,
    "description": "Suicide bombing during prayers in the police compound mosque.",
    "status": "reported",
    "tags": ["mosque"],
}


def incident(**over: Any) -> dict[str, Any]:
    """A deep copy of PESHAWAR with top-level fields replaced."""
    body = copy.deepcopy(PESHAWAR)
    body.update(over)
    return body
