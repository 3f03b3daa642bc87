"""Incident writes and reads: the rules that span rows or need the database, atomic versioned
updates, soft deletes, revisions. Knows nothing of HTTP beyond raising Problem."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Caller
from app.core import dataversion
from app.core.errors import Problem, field_errors, validation_problem
from app.incidents.models import Casualty, Incident, IncidentRevision, IncidentSource, IncidentTag
from app.incidents.schemas import IncidentIn
from app.reference.service import References, load_references
from app.stats import rollup


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): new rows land at the right of the index."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64
    value |= 0b10 << 62 | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


@dataclass
class Source:
    """A published source of an incident."""

    url: str
    publisher: str | None = None
    published_on: date | None = None
    title: str | None = None


@dataclass
class NewIncident:
    """A validated incident ready to store; totals are derived from `casualties`."""

    occurred_on: date
    lon: float
    lat: float
    province: str
    attack_type: str
    target_type: str
    sources: list[Source]
    casualties: dict[str, tuple[int, int]] = field(default_factory=dict)  # category → (k, i)
    id: uuid.UUID = field(default_factory=uuid7)
    date_precision: str = "day"
    geo_precision: str = "exact"
    place_name: str | None = None
    district: str | None = None
    kind: str = "attack"
    perpetrator: str = "unknown"
    attribution: str = "unattributed"
    fatality_range: tuple[int, int] | None = None
    crossing: str | None = None
    description: str | None = None
    status: str = "reported"
    tags: list[str] = field(default_factory=list)
    is_synthetic: bool = False

    @classmethod
    def from_input(cls, item: IncidentIn, id_: uuid.UUID | None = None) -> NewIncident:
        """The storable form of a validated input."""
        fr = item.fatality_range
        return cls(
            id=id_ or uuid7(),
            occurred_on=item.occurred_on,
            lon=item.location.coordinates[0],
            lat=item.location.coordinates[1],
            province=item.province,
            attack_type=item.attack_type,
            target_type=item.target_type,
            sources=[Source(s.url, s.publisher, s.published_on, s.title) for s in item.sources],
            casualties={c.category: (c.killed, c.injured) for c in item.casualties},
            date_precision=item.date_precision,
            geo_precision=item.geo_precision,
            place_name=item.place_name,
            district=item.district,
            kind=item.kind,
            perpetrator=item.perpetrator,
            attribution=item.attribution,
            fatality_range=(fr.low, fr.high) if fr else None,
            crossing=item.crossing,
            description=item.description,
            status=item.status,
            tags=list(item.tags),
        )

    @property
    def killed_total(self) -> int:
        """Sum of killed over the casualty rows."""
        return sum(k for k, _ in self.casualties.values())

    @property
    def injured_total(self) -> int:
        """Sum of injured over the casualty rows."""
        return sum(i for _, i in self.casualties.values())

    def columns(self) -> dict[str, Any]:
        """Values of the incidents row by column (without id and bookkeeping; the point as
        `lon` and `lat`, which the writes turn into `geom`)."""
        return {
            "occurred_on": self.occurred_on,
            "date_precision": self.date_precision,
            "lon": self.lon,
            "lat": self.lat,
            "geo_precision": self.geo_precision,
            "place_name": self.place_name,
            "province_code": self.province,
            "district_slug": self.district,
            "kind": self.kind,
            "attack_type": self.attack_type,
            "target_type": self.target_type,
            "perpetrator_slug": self.perpetrator,
            "attribution": self.attribution,
            "killed_total": self.killed_total,
            "injured_total": self.injured_total,
            "fatality_low": self.fatality_range[0] if self.fatality_range else None,
            "fatality_high": self.fatality_range[1] if self.fatality_range else None,
            "crossing_slug": self.crossing,
            "description": self.description,
            "status": self.status,
        }


# ---- rules that need the database -------------------------------------------------------


def rule_errors(item: IncidentIn, refs: References, prefix: str = "") -> list[dict[str, str]]:
    """The rules of SPEC "Incident" that span fields or rows, each error naming its field."""
    errors = []
    seen: dict[str, int] = {}
    for i, c in enumerate(item.casualties):
        if c.category in seen:
            errors.append(
                {
                    "field": f"{prefix}casualties.{i}.category",
                    "message": f"one row per category: {c.category} is already row "
                    f"{seen[c.category]}",
                }
            )
        seen.setdefault(c.category, i)
    fr = item.fatality_range
    if fr is not None and not fr.low <= item.killed_total <= fr.high:
        errors.append(
            {
                "field": f"{prefix}fatality_range",
                "message": f"low ≤ killed_total ≤ high must hold; killed_total is "
                f"{item.killed_total}",
            }
        )
    if item.province not in refs.provinces:
        errors.append(
            {"field": f"{prefix}province", "message": f"unknown province {item.province!r}"}
        )
    if item.district is not None:
        home = refs.districts.get(item.district)
        if home is None:
            errors.append(
                {"field": f"{prefix}district", "message": f"unknown district {item.district!r}"}
            )
        elif home != item.province:
            errors.append(
                {
                    "field": f"{prefix}district",
                    "message": f"{item.district} is in {home}, not {item.province}",
                }
            )
    if item.perpetrator not in refs.actors:
        errors.append(
            {
                "field": f"{prefix}perpetrator",
                "message": f"unknown group {item.perpetrator!r} (see /v1/groups)",
            }
        )
    if item.crossing is not None and item.crossing not in refs.crossings:
        errors.append(
            {"field": f"{prefix}crossing", "message": f"unknown crossing {item.crossing!r}"}
        )
    return errors


def check_status_role(item: IncidentIn, caller: Caller, current: str = "reported") -> None:
    """Only editors set a status other than the one an incident has (new ones: `reported`)."""
    if item.status != current and not caller.has("editor"):
        raise Problem(403, "Only editors change an incident's status.", type_="forbidden")


def parse_batch(rows: Sequence[Any], refs: References) -> list[IncidentIn]:
    """Validate every row; one 422 listing every bad row by index and field."""
    from pydantic import ValidationError

    items: list[IncidentIn] = []
    errors: list[dict[str, str]] = []
    for n, row in enumerate(rows):
        prefix = f"incidents.{n}."
        if not isinstance(row, dict):
            errors.append({"field": f"incidents.{n}", "message": "must be an incident object"})
            continue
        try:
            item = IncidentIn.model_validate(row)
        except ValidationError as exc:
            errors += field_errors(exc.errors(), prefix)
            continue
        errors += rule_errors(item, refs, prefix)
        items.append(item)
    if errors:
        bad = len({e["field"].split(".")[1] for e in errors})
        raise validation_problem(
            errors, f"{bad} of {len(rows)} incidents are invalid; nothing was stored."
        )
    return items


# ---- writes -----------------------------------------------------------------------------

# Bulk writes send one array per column and let PostgreSQL unnest them: one statement per
# table whatever the batch size.
# Columns of NewIncident.columns() (plus id and is_synthetic) with their SQL types.
_INCIDENT_TYPES = {
    "id": "uuid",
    "occurred_on": "date",
    "date_precision": "text",
    "lon": "float8",
    "lat": "float8",
    "geo_precision": "text",
    "place_name": "text",
    "province_code": "text",
    "district_slug": "text",
    "kind": "text",
    "attack_type": "text",
    "target_type": "text",
    "perpetrator_slug": "text",
    "attribution": "text",
    "killed_total": "int",
    "injured_total": "int",
    "fatality_low": "int",
    "fatality_high": "int",
    "crossing_slug": "text",
    "description": "text",
    "status": "text",
    "is_synthetic": "bool",
}
_STORED = [c for c in _INCIDENT_TYPES if c not in ("lon", "lat")]
_INSERT_INCIDENTS = text(f"""
    INSERT INTO incidents ({", ".join(_STORED)}, geom, created_by)
    SELECT {", ".join(f"u.{c}" for c in _STORED)},
           ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326), :actor
      FROM unnest({", ".join(f"CAST(:{c} AS {t}[])" for c, t in _INCIDENT_TYPES.items())})
        AS u({", ".join(_INCIDENT_TYPES)})
""")  # noqa: S608 - formatted from the constant column list; values are bound
_INSERT_CASUALTIES = text("""
    INSERT INTO casualties (incident_id, category, killed, injured)
    SELECT * FROM unnest(CAST(:incident_id AS uuid[]), CAST(:category AS text[]),
                         CAST(:killed AS int[]), CAST(:injured AS int[]))
""")
_INSERT_SOURCES = text("""
    INSERT INTO incident_sources (incident_id, position, url, publisher, published_on, title)
    SELECT * FROM unnest(CAST(:incident_id AS uuid[]), CAST(:position AS smallint[]),
                         CAST(:url AS text[]), CAST(:publisher AS text[]),
                         CAST(:published_on AS date[]), CAST(:title AS text[]))
""")
_INSERT_TAGS = text("""
    INSERT INTO incident_tags (incident_id, tag)
    SELECT * FROM unnest(CAST(:incident_id AS uuid[]), CAST(:tag AS text[]))
""")
# The created revisions store each document; the same documents are the response, built once.
_REVISIONS_CREATED = text("""
    WITH docs AS MATERIALIZED (
        SELECT i.id, i.version, u.seq, u.n, incident_document(i) AS doc
          FROM incidents i
          JOIN unnest(CAST(:ids AS uuid[]), CAST(:seqs AS bigint[])) WITH ORDINALITY
               AS u(id, seq, n) ON u.id = i.id
    ), stored AS (
        INSERT INTO incident_revisions (incident_id, version, seq, op, actor_key_id, after)
        SELECT id, version, seq, 'created', :actor, doc::jsonb FROM docs
    )
    SELECT doc::text FROM docs ORDER BY n
""")


def _stored(new: NewIncident) -> dict[str, Any]:
    """The incidents row's values for an UPDATE: the point as geom."""
    values = new.columns()
    lon, lat = values.pop("lon"), values.pop("lat")
    return {**values, "geom": func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)}


def _columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows of dicts as one list per column, for the unnest inserts."""
    return {name: [row[name] for row in rows] for name in rows[0]}


async def _insert_rows(session: AsyncSession, items: Sequence[NewIncident]) -> None:
    casualties = [
        {"incident_id": n.id, "category": c, "killed": k, "injured": i}
        for n in items
        for c, (k, i) in n.casualties.items()
    ]
    if casualties:
        await session.execute(_INSERT_CASUALTIES, _columns(casualties))
    sources = [
        {
            "incident_id": n.id,
            "position": p,
            "url": s.url,
            "publisher": s.publisher,
            "published_on": s.published_on,
            "title": s.title,
        }
        for n in items
        for p, s in enumerate(n.sources)
    ]
    if sources:
        await session.execute(_INSERT_SOURCES, _columns(sources))
    tags = [{"incident_id": n.id, "tag": t} for n in items for t in sorted(set(n.tags))]
    if tags:
        await session.execute(_INSERT_TAGS, _columns(tags))


async def insert_incidents(
    session: AsyncSession, items: Sequence[NewIncident], actor_key_id: int | None = None
) -> list[str]:
    """Insert incidents, their rows and a `created` revision each, in the caller's
    transaction; the stored documents' JSON text, in order."""
    if not items:
        return []
    rows = [{"id": n.id, **n.columns(), "is_synthetic": n.is_synthetic} for n in items]
    await session.execute(_INSERT_INCIDENTS, {"actor": actor_key_id, **_columns(rows)})
    await _insert_rows(session, items)
    ids = [n.id for n in items]
    seqs = await dataversion.allocate(session, len(ids))
    docs = list(
        (
            await session.scalars(
                _REVISIONS_CREATED, {"actor": actor_key_id, "ids": ids, "seqs": seqs}
            )
        ).all()
    )
    await rollup.apply(session, ids)
    return docs


async def create(session: AsyncSession, items: Sequence[IncidentIn], caller: Caller) -> list[str]:
    """Store validated incidents (already rule-checked) for the caller; their documents."""
    for item in items:
        check_status_role(item, caller)
    new = [NewIncident.from_input(item) for item in items]
    return await insert_incidents(session, new, caller.key_id)


_DOCS = text("""
    SELECT incident_document(i)::text
      FROM incidents i JOIN unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS u(id, n) ON u.id = i.id
     WHERE i.deleted_at IS NULL
     ORDER BY u.n
""")


async def documents(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[str]:
    """JSON text of live incidents, in the order of ids."""
    return list((await session.scalars(_DOCS, {"ids": list(ids)})).all())


def parse_id(value: str) -> uuid.UUID | None:
    """The incident id in a path, or None when it cannot be one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Current:
    """An incident as stored now."""

    text: str  # the JSON document as PostgreSQL built it
    document: dict[str, Any]
    version: int
    created_by: int | None


async def current(session: AsyncSession, incident_id: uuid.UUID) -> Current:
    """The live incident, or 404."""
    row = (
        await session.execute(
            select(
                text("incident_document(incidents)::text"), Incident.version, Incident.created_by
            )
            .select_from(Incident)
            .where(Incident.id == incident_id, Incident.deleted_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        raise Problem(404, f"No incident {incident_id}.", type_="not-found")
    return Current(row[0], json.loads(row[0]), row.version, row.created_by)


INPUT_FIELDS = tuple(IncidentIn.model_fields)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def as_input(document: dict[str, Any]) -> dict[str, Any]:
    """The writable fields of a stored incident, in input shape (nulls left out)."""
    return {k: v for k, v in document.items() if k in INPUT_FIELDS and v is not None}


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    ignored = {"version", "updated_at"}
    return sorted(
        k
        for k in before.keys() | after.keys()
        if k not in ignored and before.get(k) != after.get(k)
    )


def _owner_or_editor(state: Current, caller: Caller) -> None:
    if not caller.has("editor") and state.created_by != caller.key_id:
        raise Problem(
            403, "Analysts change only the incidents created with their own key.", type_="forbidden"
        )


async def _conflict(session: AsyncSession, incident_id: uuid.UUID) -> Problem:
    """The answer when a versioned UPDATE matched no row: 404 if the incident is gone by
    now, else 412 with the version it is at."""
    row = (
        await session.execute(
            select(Incident.version, Incident.deleted_at).where(Incident.id == incident_id)
        )
    ).one_or_none()
    if row is None or row.deleted_at is not None:
        return Problem(404, f"No incident {incident_id}.", type_="not-found")
    return _stale(incident_id, row.version)


def _stale(incident_id: uuid.UUID, actual: int) -> Problem:
    return Problem(
        412,
        f"Incident {incident_id} is at version {actual}, which If-Match does not name: fetch "
        "it again and reapply your change.",
        type_="precondition-failed",
        headers={"ETag": f'"{actual}"'},
    )


def _canonical(fields: dict[str, Any]) -> dict[str, Any]:
    """Input fields in the order the database keeps them, to tell a no-op patch."""
    out = {k: fields.get(k) for k in INPUT_FIELDS}
    out["casualties"] = sorted(out["casualties"] or [], key=lambda c: c["category"])
    out["tags"] = sorted(set(out["tags"] or []))
    return out


async def update_incident(
    session: AsyncSession,
    incident_id: uuid.UUID,
    etags: frozenset[str],
    patch: dict[str, Any],
    caller: Caller,
) -> tuple[str, int]:
    """Apply a merge patch to the version If-Match names; the document's JSON and version.

    The write is one `UPDATE … WHERE version = <the version read>`: of concurrent editors
    holding the same ETag exactly one wins, the others get 412. A patch that changes
    nothing writes nothing and keeps the version.
    """
    from pydantic import ValidationError

    state = await current(session, incident_id)
    _owner_or_editor(state, caller)
    if f'"{state.version}"' not in etags:
        raise _stale(incident_id, state.version)
    unwritable = sorted(k for k in patch if k not in INPUT_FIELDS)
    if unwritable:
        raise validation_problem(
            field_errors({"loc": (k,), "type": "extra_forbidden", "msg": ""} for k in unwritable)
        )
    try:
        item = IncidentIn.model_validate(merge_patch(as_input(state.document), patch))
    except ValidationError as exc:
        raise validation_problem(field_errors(exc.errors())) from None
    errors = rule_errors(item, await load_references(session))
    if errors:
        raise validation_problem(errors)
    check_status_role(item, caller, current=state.document["status"])
    if _canonical(item.model_dump(mode="json")) == _canonical(state.document):
        return state.text, state.version

    new = NewIncident.from_input(item, incident_id)
    before = await rollup.contributions(session, [incident_id])
    version = await session.scalar(
        update(Incident)
        .where(
            Incident.id == incident_id,
            Incident.version == state.version,
            Incident.deleted_at.is_(None),
        )
        .values(**_stored(new), version=Incident.version + 1, updated_at=text("now()"))
        .returning(Incident.version)
    )
    if version is None:  # another write committed since we read it
        raise await _conflict(session, incident_id)
    for model in (Casualty, IncidentSource, IncidentTag):
        await session.execute(delete(model).where(model.incident_id == incident_id))
    await _insert_rows(session, [new])
    after_text = (await documents(session, [incident_id]))[0]
    after = json.loads(after_text)
    await _record(
        session,
        incident_id,
        version,
        "updated",
        caller,
        _changed(state.document, after),
        state.document,
        after,
        before,
    )
    return after_text, version


async def delete_incident(
    session: AsyncSession,
    incident_id: uuid.UUID,
    caller: Caller,
    etags: frozenset[str] | None = None,
) -> None:
    """Soft-delete: the incident leaves lists, exports and statistics; its history stays."""
    state = await current(session, incident_id)
    if etags is not None and f'"{state.version}"' not in etags:
        raise _stale(incident_id, state.version)
    before = await rollup.contributions(session, [incident_id])
    version = await session.scalar(
        update(Incident)
        .where(
            Incident.id == incident_id,
            Incident.version == state.version,
            Incident.deleted_at.is_(None),
        )
        .values(deleted_at=text("now()"), updated_at=text("now()"), version=Incident.version + 1)
        .returning(Incident.version)
    )
    if version is None:
        raise await _conflict(session, incident_id)
    await _record(
        session, incident_id, version, "deleted", caller, ["deleted"], state.document, None, before
    )


async def _record(
    session: AsyncSession,
    incident_id: uuid.UUID,
    version: int,
    op: str,
    caller: Caller,
    changed: list[str],
    before_doc: dict[str, Any],
    after_doc: dict[str, Any] | None,
    before: rollup.Contributions,
) -> None:
    """The bookkeeping of an update or delete: its revision (numbered in commit order) and
    the rollups moved from what the incident contributed before to what it does now."""
    (seq,) = await dataversion.allocate(session, 1)
    await session.execute(
        insert(IncidentRevision).values(
            incident_id=incident_id,
            version=version,
            seq=seq,
            op=op,
            actor_key_id=caller.key_id,
            changed_fields=changed,
            before=before_doc,
            after=after_doc,
        )
    )
    await rollup.apply(session, [incident_id], before)


async def history(session: AsyncSession, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every revision, oldest first: actor, time, changed fields, their values before/after."""
    rows = (
        await session.execute(
            text("""
            SELECT r.version, r.seq, r.op, r.at, r.actor_key_id, k.name AS actor_name,
                   r.changed_fields, r.before, r.after
              FROM incident_revisions r LEFT JOIN api_keys k ON k.id = r.actor_key_id
             WHERE r.incident_id = :id
             ORDER BY r.version
        """).bindparams(bindparam("id", incident_id))
        )
    ).all()
    if not rows:
        raise Problem(404, f"No incident {incident_id}.", type_="not-found")
    out = []
    for r in rows:
        before, after = r.before, r.after
        if r.op == "updated":
            before = {k: before.get(k) for k in r.changed_fields}
            after = {k: after.get(k) for k in r.changed_fields}
        out.append(
            {
                "version": r.version,
                "seq": r.seq,
                "op": r.op,
                "at": r.at,
                "actor": {"key_id": r.actor_key_id, "name": r.actor_name},
                "changed_fields": list(r.changed_fields),
                "before": before,
                "after": after,
            }
        )
    return out


async def existing_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these incident ids are already stored."""
    if not ids:
        return set()
    return set((await session.scalars(select(Incident.id).where(Incident.id.in_(ids)))).all())
