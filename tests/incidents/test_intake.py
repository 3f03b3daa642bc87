"""The quick way in (app/incidents/intake.py) against IncidentIn's: whatever the quick way
takes, IncidentIn takes too, and the rows it makes are the ones IncidentIn's would store;
every invalid case of the validation tests is left to IncidentIn (which words its 422)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Caller
from app.core.clock import today_karachi
from app.core.errors import Forbidden
from app.incidents import intake, rules
from app.incidents.writes import NewIncident
from app.reference.service import References, load_references
from bench.run import incident_body
from tests.incidents.test_incidents_roundtrip import incidents
from tests.incidents.test_incidents_validation import CASES
from tests.support.keys import Keys
from tests.support.payloads import PESHAWAR, incident

EDITOR = Caller(key_id=1, name="editor", role="editor")
ANALYST = Caller(key_id=2, name="analyst", role="analyst")
Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]


@pytest.fixture
async def refs(db: AsyncSession) -> References:
    return await load_references(db)


def _anonymous(rows: list[tuple[Any, ...]], ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    """Rows with their incident's id replaced by its index, to compare two ways' rows."""
    index = {id_: n for n, id_ in enumerate(ids)}
    return [(index[r[0]], *r[1:]) for r in rows]


def quick_rows(body: bytes, refs: References, batch: bool = False) -> Rows | None:
    """The rows the quick way makes of a body, None when it leaves the body to IncidentIn."""
    items = intake.incidents_of(body, batch)
    if items is None:
        return None
    try:
        intake.check_references(items, refs)
        made = intake.columns(items, EDITOR)
    except (intake.Unknown, intake.Refused):
        return None
    ids = made.ids
    incidents = list(zip(*(made.incidents[c] for c in intake.INCIDENT_COLUMNS), strict=True))
    owned = []
    for table, names in intake.OWNED_COLUMNS.items():
        columns = [made.owned[f"{table}_{name}"] for name in names]
        owned.append(_anonymous(list(zip(*columns, strict=True)), ids))
    return _anonymous(incidents, ids), owned[0], owned[1], owned[2]


def incidentin_rows(body: bytes, refs: References, batch: bool = False) -> Rows | None:
    """The rows IncidentIn's way stores for a body (as writes.py makes them), None when it
    refuses the body."""
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    if batch:
        try:
            items = rules.parse_batch(raw["incidents"], refs)
        except Exception:
            return None
    else:
        item, errors = rules.validate(raw, refs)
        if errors or item is None:
            return None
        items = [item]
    new = [NewIncident.from_input(i) for i in items]
    ids = [n.id for n in new]
    incidents = [
        tuple(
            {"id": n.id, **n.columns(), "is_synthetic": n.is_synthetic}[c]
            for c in intake.INCIDENT_COLUMNS
        )
        for n in new
    ]
    casualties = [(n.id, c, k, i) for n in new for c, (k, i) in n.casualties.items()]
    sources = [
        (n.id, p, s.url, s.publisher, s.published_on, s.title)
        for n in new
        for p, s in enumerate(n.sources)
    ]
    tags = [(n.id, t) for n in new for t in sorted(set(n.tags))]
    return (
        _anonymous(incidents, ids),
        _anonymous(casualties, ids),
        _anonymous(sources, ids),
        _anonymous(tags, ids),
    )


def assert_never_more(body: bytes, refs: References, batch: bool = False) -> Rows | None:
    """The quick way takes nothing IncidentIn refuses, and stores what IncidentIn would."""
    quick = quick_rows(body, refs, batch)
    if quick is not None:
        assert incidentin_rows(body, refs, batch) == quick, body[:300]
    return quick


def test_valid_incidents_take_the_quick_way_with_the_same_rows(refs: References) -> None:
    bodies = [json.dumps(PESHAWAR).encode()]
    bodies += [json.dumps(incident_body(n)).encode() for n in range(0, 400, 7)]
    for body in bodies:
        assert assert_never_more(body, refs) is not None
    batch = json.dumps({"incidents": [incident_body(n) for n in range(50)]}).encode()
    assert assert_never_more(batch, refs, batch=True) is not None


@pytest.mark.parametrize(("override", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_invalid_case_is_left_to_incidentin(
    refs: References, override: dict[str, Any], field: str
) -> None:
    body = json.dumps(incident(**override)).encode()
    assert quick_rows(body, refs) is None, field
    batch = json.dumps({"incidents": [incident(), incident(**override)]}).encode()
    assert quick_rows(batch, refs, batch=True) is None, field


# Values that one way or the other might read differently: types JSON confuses, Unicode
# digits and spaces, escapes, bounds, dates that are not dates.
TRICKY: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.0,
    1.5,
    10_000,
    10_001,
    50_001,
    "",
    " ",
    "x",
    "5",
    "PK-KP",
    "PK-KP ",
    "PK-KP\n",
    "pk-kp",
    "peshawar",
    "peshawar\n",
    "quetta",
    "ttp",
    "torkham",
    "police",
    "civilians",
    "reported",
    "verified",
    "Point",
    "2023-01-30",
    "2023-02-30",
    "2023-01-30T00:00:00",
    "20230130",
    "2023-W05-1",
    "٢٠٢٣-٠١-٣٠",
    "0000-01-01",
    "2000-12-31",
    "2001-01-01",
    (today_karachi() + timedelta(days=1)).isoformat(),
    today_karachi().isoformat(),
    "https://example.org/x",
    "HTTPS://EXAMPLE.ORG",
    "https://example.org/\u00a0",
    "https://exa mple.org",
    "https://example.org/\x1c",
    "https://\u0661.org",
    "https://",
    "http:///x",
    "ftp://example.org",
    "\x00",
    "a\ud800",
    "ق" * 501,
    "x" * 2049,
    [],
    {},
    [71.5, 34.0],
    [71, 34],
    [71.5, 34.0, 1],
    ["71.5", "34"],
    [True, 34],
    {"low": 0, "high": 0},
    {"low": 5, "high": 1},
    [{"category": "police"}],
    [{"category": "police", "killed": 1}, {"category": "police", "killed": 2}],
    [{"url": "https://example.org"}],
    ["mosque", "mosque"],
    ["Mosque"],
    float("inf"),
    float("nan"),
    1e300,
    -0.0,
    60,
    78,
    23.0,
    38.0000001,
]
PATHS: list[tuple[str | int, ...]] = [
    ("occurred_on",),
    ("date_precision",),
    ("location",),
    ("location", "type"),
    ("location", "coordinates"),
    ("location", "coordinates", 0),
    ("location", "coordinates", 1),
    ("location", "extra"),
    ("geo_precision",),
    ("place_name",),
    ("province",),
    ("district",),
    ("kind",),
    ("attack_type",),
    ("target_type",),
    ("perpetrator",),
    ("attribution",),
    ("casualties",),
    ("casualties", 0),
    ("casualties", 0, "category"),
    ("casualties", 0, "killed"),
    ("casualties", 0, "injured"),
    ("casualties", 0, "dead"),
    ("fatality_range",),
    ("fatality_range", "low"),
    ("fatality_range", "high"),
    ("sources",),
    ("sources", 0),
    ("sources", 0, "url"),
    ("sources", 0, "publisher"),
    ("sources", 0, "published_on"),
    ("sources", 0, "title"),
    ("sources", 0, "lang"),
    ("crossing",),
    ("description",),
    ("status",),
    ("tags",),
    ("tags", 0),
    ("killed_total",),
    ("id",),
    ("severity",),
]


def _set(body: Any, path: tuple[str | int, ...], value: Any) -> None:
    """Set (or add) the member at path when its parents exist; remove it when value is
    the Ellipsis."""
    for part in path[:-1]:
        if (isinstance(body, dict) and isinstance(part, str) and part in body) or (
            isinstance(body, list) and isinstance(part, int) and part < len(body)
        ):
            body = body[part]
        else:
            return
    last = path[-1]
    if isinstance(body, dict) and isinstance(last, str):
        if value is ...:
            body.pop(last, None)
        else:
            body[last] = value
    elif isinstance(body, list) and isinstance(last, int) and last < len(body):
        if value is ...:
            del body[last]
        else:
            body[last] = value


def test_every_tricky_value_anywhere_is_never_taken_beyond_incidentin(refs: References) -> None:
    taken = 0
    for path in PATHS:
        for value in [*TRICKY, ...]:
            sent = incident()
            _set(sent, path, value)
            taken += assert_never_more(json.dumps(sent).encode(), refs) is not None
    assert taken > 0  # and the valid ones among them did take the quick way


mutation = st.tuples(
    st.sampled_from(PATHS),
    st.one_of(
        st.sampled_from([*TRICKY, ...]),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.text(max_size=12),
    ),
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=incidents(), mutations=st.lists(mutation, max_size=3))
def test_the_quick_way_never_takes_more_than_incidentin(
    refs: References, sent: dict[str, Any], mutations: list[tuple[Any, Any]]
) -> None:
    for path, value in mutations:
        _set(sent, path, value)
    body = json.dumps(sent).encode()  # NaN and infinities as JSON's extensions
    assert_never_more(body, refs)
    assert_never_more(json.dumps({"incidents": [sent, incident()]}).encode(), refs, batch=True)


@pytest.mark.parametrize(
    "number",
    ["71", "71.0", "71.5594", "7.15594e1", "71.55940000000000000000001", "71.559399999999999999"],
)
def test_numbers_are_read_as_json_loads_reads_them(refs: References, number: str) -> None:
    body = json.dumps(incident()).replace("71.5594", number).encode()
    rows = assert_never_more(body, refs)
    assert rows is not None


def test_batch_shapes_the_quick_way_leaves_to_incidentin(refs: References) -> None:
    for wrapper in [
        {"incidents": []},
        {"incidents": [incident()] * 5001},
        {"incidents": [incident()], "extra": 1},
        {"items": [incident()]},
        {"incidents": [incident(), 5]},
        {"incidents": [incident(), None]},
    ]:
        assert quick_rows(json.dumps(wrapper).encode(), refs, batch=True) is None


def test_a_status_is_checked_after_every_rule_as_incidentin_does(refs: References) -> None:
    rows = [incident(status="verified"), incident(occurred_on="1999-01-01")]
    items = intake.incidents_of(json.dumps({"incidents": rows}).encode(), batch=True)
    assert items is not None
    with pytest.raises(intake.Refused):  # the 422 first, as IncidentIn's way gives it
        intake.columns(items, ANALYST)
    items = intake.incidents_of(json.dumps({"incidents": rows[:1]}).encode(), batch=True)
    assert items is not None
    with pytest.raises(Forbidden):
        intake.columns(items, ANALYST)


async def test_a_code_added_since_the_copy_was_read_is_taken(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    assert (await client.post("/v1/incidents", json=incident(), headers=keys.analyst)).is_success
    await db.execute(
        text("INSERT INTO actors (slug, name) VALUES ('intake-new-group', 'Intake new group')")
    )
    r = await client.post(
        "/v1/incidents", json=incident(perpetrator="intake-new-group"), headers=keys.analyst
    )
    assert r.status_code == 201, r.text
    assert r.json()["perpetrator"] == "intake-new-group"


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
async def test_a_code_removed_since_the_copy_was_read_is_a_422_naming_it(
    client: AsyncClient, db: AsyncSession, keys: Keys, batch: bool
) -> None:
    await db.execute(
        text("INSERT INTO actors (slug, name) VALUES ('intake-gone-group', 'Intake gone group')")
    )
    body = incident(perpetrator="intake-gone-group")
    # An unknown code makes the process read the codes again (and learn this one); the
    # range that does not hold the toll then leaves the incident to IncidentIn's 422.
    bad = {**body, "fatality_range": {"low": 0, "high": 0}}
    r = await client.post("/v1/incidents", json=bad, headers=keys.analyst)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["fatality_range"]
    await db.execute(text("DELETE FROM actors WHERE slug = 'intake-gone-group'"))
    if batch:
        r = await client.post(
            "/v1/incidents:batch", json={"incidents": [incident(), body]}, headers=keys.analyst
        )
    else:
        r = await client.post("/v1/incidents", json=body, headers=keys.analyst)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [
        {"field": "perpetrator", "message": "references a resource that does not exist"}
    ]
    await db.rollback()  # the refused INSERT ended the request's transaction
    assert await db.scalar(text("SELECT count(*) FROM pending_revisions")) == 0
