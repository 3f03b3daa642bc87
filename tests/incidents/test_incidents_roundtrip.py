"""Property: any valid incident posted is read back identical (up to the documented canonical
order of casualties and tags)."""

from __future__ import annotations

from datetime import date
from typing import Any

from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.clock import today_karachi
from app.reference.vocab import VOCABULARIES
from tests.support.keys import Keys

CATEGORIES = VOCABULARIES["casualty_category"]
PLACES = [
    ("PK-KP", "peshawar"),
    ("PK-KP", "north-waziristan"),
    ("PK-KP", None),
    ("PK-BA", "quetta"),
    ("PK-BA", "chaman"),
    ("PK-IS", "islamabad"),
    ("PK-SD", None),
    ("AF-NAN", None),
    ("AF-KHO", None),
]
ACTORS = ["ttp", "iskp", "hafiz-gul-bahadur", "bla", "unknown", "pakistan-armed-forces"]
CROSSINGS = [None, "torkham", "chaman", "ghulam-khan"]
free_text = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=60
)
count = st.integers(0, 10_000)


@st.composite
def incidents(draw: st.DrawFn) -> dict[str, Any]:
    province, district = draw(st.sampled_from(PLACES))
    categories = draw(st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=5))
    casualties = [
        {"category": c, "killed": draw(count), "injured": draw(count)} for c in categories
    ]
    killed = sum(c["killed"] for c in casualties)
    fatality_range = draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda lo, hi: {"low": max(0, killed - lo), "high": killed + hi},
                st.integers(0, 50),
                st.integers(0, 50),
            ),
        )
    )
    sources = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "url": st.builds(
                        lambda h, p: f"https://{h}/{p}",
                        st.sampled_from(["www.dawn.com", "tribune.com.pk", "ur.wikipedia.org"]),
                        st.from_regex(r"[a-z0-9/_%-]{0,40}", fullmatch=True),
                    ),
                    "publisher": st.one_of(st.none(), free_text),
                    "published_on": st.one_of(
                        st.none(), st.dates(date(2001, 1, 1), today_karachi()).map(date.isoformat)
                    ),
                    "title": st.one_of(st.none(), free_text),
                }
            ),
            min_size=1,
            max_size=3,
        )
    )
    return {
        "occurred_on": draw(st.dates(date(2001, 1, 1), today_karachi())).isoformat(),
        "date_precision": draw(st.sampled_from(VOCABULARIES["date_precision"])),
        "location": {
            "type": "Point",
            "coordinates": [
                draw(st.floats(60, 78, allow_nan=False)),
                draw(st.floats(23, 38, allow_nan=False)),
            ],
        },
        "geo_precision": draw(st.sampled_from(VOCABULARIES["geo_precision"])),
        "place_name": draw(st.one_of(st.none(), free_text)),
        "province": province,
        "district": district,
        "kind": draw(st.sampled_from(VOCABULARIES["kind"])),
        "attack_type": draw(st.sampled_from(VOCABULARIES["attack_type"])),
        "target_type": draw(st.sampled_from(VOCABULARIES["target_type"])),
        "perpetrator": draw(st.sampled_from(ACTORS)),
        "attribution": draw(st.sampled_from(VOCABULARIES["attribution"])),
        "casualties": casualties,
        "fatality_range": fatality_range,
        "sources": sources,
        "crossing": draw(st.sampled_from(CROSSINGS)),
        "description": draw(st.one_of(st.none(), free_text)),
        "status": "reported",
        "tags": draw(
            st.lists(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True), max_size=4)
        ),
    }


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """What the API promises to return: casualties in vocabulary order, tags sorted once."""
    out = dict(body)
    out["casualties"] = sorted(body["casualties"], key=lambda c: CATEGORIES.index(c["category"]))
    out["tags"] = sorted(set(body["tags"]))
    return out


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=incidents())
async def test_posted_incidents_read_back_identical(
    client: AsyncClient, keys: Keys, sent: dict[str, Any]
) -> None:
    r = await client.post("/v1/incidents", json=sent, headers=keys.analyst)
    assert r.status_code == 201, r.text
    got = await client.get(r.headers["location"])
    assert got.json() == r.json()
    stored = got.json()
    assert {k: stored[k] for k in sent} == canonical(sent)
    assert stored["killed_total"] == sum(c["killed"] for c in sent["casualties"])
    assert stored["injured_total"] == sum(c["injured"] for c in sent["casualties"])
