"""Incident writes: create (one or a batch), merge-patch and soft-delete, each in the
caller's transaction with its revision numbered in commit order and the rollups moved."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Caller
from app.core.errors import (
    Invalid,
    NotFound,
    StaleVersion,
    field_errors,
    pg_error,
    register_constraint_fields,
)
from app.core.ids import uuid7
from app.incidents import intake, reads, rules
from app.incidents.history import changed_fields
from app.incidents.models import Casualty, Incident, IncidentSource, IncidentTag
from app.incidents.schemas import IncidentIn
from app.reference.names import Names
from app.reference.service import References, load_references, province_misfits

# The incidents' trigger of migration 0010_boundaries refuses a location more than 10 km
# outside its province's loaded boundary under this name; its message says by how much.
BOUNDARY = "ck_incidents_province_boundary"
register_constraint_fields({BOUNDARY: "province"})


def _boundary_refusal(exc: DBAPIError) -> Invalid | None:
    """The 422 on `province` when the database refused a location outside its province."""
    pg = pg_error(exc)
    if getattr(pg, "constraint_name", None) != BOUNDARY:
        return None
    return Invalid([{"field": "province", "message": str(getattr(pg, "message", pg))}])


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


# Revisions wait in pending_revisions, and the transaction is marked in pending_commit, until
# the COMMIT numbers them in commit order and moves the rollups (migration
# 0005_changes_at_commit): nothing a write does before its commit holds up another writer.
_MARK = "INSERT INTO pending_commit DEFAULT VALUES ON CONFLICT DO NOTHING"

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
# The incidents (their trigger builds each stored document from the owned rows, written
# before), their `created` revisions and the commit mark, in one statement.
_INSERT_INCIDENTS = text(f"""
    WITH created AS (
        INSERT INTO incidents ({", ".join(_STORED)}, geom, created_by)
        SELECT {", ".join(f"u.{c}" for c in _STORED)},
               ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326), :actor
          FROM unnest({", ".join(f"CAST(:{c} AS {t}[])" for c, t in _INCIDENT_TYPES.items())})
            AS u({", ".join(_INCIDENT_TYPES)})
        RETURNING id, version, document
    ), revisions AS (
        INSERT INTO pending_revisions (incident_id, version, op, actor_key_id, after)
        SELECT id, version, 'created', :actor, document::jsonb FROM created
    ), mark AS ({_MARK})
    SELECT id, document FROM created
""")  # noqa: S608 - formatted from the constant column list; values are bound
# The rows an incident owns, all three tables in one statement (one array per column; an
# empty array inserts nothing).
_INSERT_OWNED = text("""
    WITH casualties AS (
        INSERT INTO casualties (incident_id, category, killed, injured)
        SELECT * FROM unnest(CAST(:c_incident_id AS uuid[]), CAST(:c_category AS text[]),
                             CAST(:c_killed AS int[]), CAST(:c_injured AS int[]))
    ), sources AS (
        INSERT INTO incident_sources (incident_id, position, url, publisher, published_on, title)
        SELECT * FROM unnest(CAST(:s_incident_id AS uuid[]), CAST(:s_position AS smallint[]),
                             CAST(:s_url AS text[]), CAST(:s_publisher AS text[]),
                             CAST(:s_published_on AS date[]), CAST(:s_title AS text[]))
    )
    INSERT INTO incident_tags (incident_id, tag)
    SELECT * FROM unnest(CAST(:t_incident_id AS uuid[]), CAST(:t_tag AS text[]))
""")
_REVISION = text(f"""
    WITH mark AS ({_MARK})
    INSERT INTO pending_revisions
           (incident_id, version, op, actor_key_id, changed_fields, before, after)
    VALUES (:id, :version, :op, :actor, :changed, CAST(:before AS jsonb), CAST(:after AS jsonb))
""")  # noqa: S608 - formatted from the constant _MARK; values are bound


def _stored(new: NewIncident) -> dict[str, Any]:
    """The incidents row's values for an UPDATE: the point as geom."""
    values = new.columns()
    lon, lat = values.pop("lon"), values.pop("lat")
    return {**values, "geom": func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)}


def _columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows of dicts as one list per column, for the unnest inserts."""
    return {name: [row[name] for row in rows] for name in rows[0]}


def _owned_rows(items: Sequence[NewIncident]) -> dict[str, list[Any]]:
    """The casualties, sources and tags of new or rewritten incidents, as the columns of
    _INSERT_OWNED."""
    rows: dict[str, list[tuple[Any, ...]]] = {
        "c": [(n.id, c, k, i) for n in items for c, (k, i) in n.casualties.items()],
        "s": [
            (n.id, p, s.url, s.publisher, s.published_on, s.title)
            for n in items
            for p, s in enumerate(n.sources)
        ],
        "t": [(n.id, t) for n in items for t in sorted(set(n.tags))],
    }
    return {
        f"{table}_{name}": [row[i] for row in rows[table]]
        for table, names in intake.OWNED_COLUMNS.items()
        for i, name in enumerate(names)
    }


async def insert_incidents(
    session: AsyncSession, items: Sequence[NewIncident], actor_key_id: int | None = None
) -> list[str]:
    """Insert incidents, their rows and a `created` revision each, in the caller's
    transaction (numbered at its commit); the stored documents' JSON text, in order."""
    if not items:
        return []
    rows = [{"id": n.id, **n.columns(), "is_synthetic": n.is_synthetic} for n in items]
    arrays = intake.Rows([n.id for n in items], _columns(rows), _owned_rows(items))
    return await insert_rows(session, arrays, actor_key_id)


async def insert_rows(
    session: AsyncSession, rows: intake.Rows, actor_key_id: int | None
) -> list[str]:
    """New incidents as unnest arrays (from insert_incidents() or app/incidents/intake.py):
    the owned rows first, as the incident row's trigger builds its stored document from
    them, then the incidents with their revisions; the stored documents, in order."""
    await session.execute(_INSERT_OWNED, rows.owned)
    params = {"actor": actor_key_id, **rows.incidents}
    try:
        result = await session.execute(_INSERT_INCIDENTS, params)
    except DBAPIError as exc:
        raise _boundary_refusal(exc) or exc from None
    stored: dict[uuid.UUID, str] = dict(result.all())
    return [stored[i] for i in rows.ids]


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session (in its transaction)."""
    return (await (await session.connection()).get_raw_connection()).driver_connection


async def create_quick(
    session: AsyncSession,
    names: Names,
    items: Sequence[dict[str, Any]],
    caller: Caller,
    batch: bool = False,
) -> tuple[list[uuid.UUID], list[str]] | None:
    """Store incidents of the shape app/incidents/intake.py takes, checked against the
    process's copy of the reference codes (read again when one is unknown or the copy is
    old, so a code added since is taken). The rows stored and their documents; None, storing
    nothing, when a rule or a code fails: then IncidentIn's way decides and words the 422.
    A code removed since the copy was read is refused by the incidents' foreign keys; a
    `batch` with a location too far outside its province's boundary goes IncidentIn's way
    too, so that its 422 names every such row. The ids and documents of the incidents
    stored, in order."""
    if not names.fresh():
        await names.load(await _driver(session))
    try:
        intake.check_references(items, names.references)
    except intake.Unknown:
        await names.load(await _driver(session))
        try:
            intake.check_references(items, names.references)
        except intake.Unknown:
            return None
    try:
        rows = intake.columns(items, caller)
    except intake.Refused:
        return None
    if batch:  # a single POST is checked by the trigger alone, and its 422 is exact
        cols = rows.incidents
        if await province_misfits(session, cols["province_code"], cols["lon"], cols["lat"]):
            return None
    return rows.ids, await insert_rows(session, rows, caller.key_id)


async def parse_batch(
    session: AsyncSession, rows: Sequence[Any], refs: References
) -> list[IncidentIn]:
    """Every row valid, or Invalid listing every bad row by index and field: shape and rules
    (app/incidents/rules.py), and locations too far outside their province's boundary."""
    items, errors = rules.validate_batch(rows, refs)
    valid = [(n, item) for n, item in enumerate(items) if item is not None]
    misfits = await province_misfits(
        session,
        [item.province for _, item in valid],
        [item.location.coordinates[0] for _, item in valid],
        [item.location.coordinates[1] for _, item in valid],
    )
    errors += [
        {"field": f"incidents.{valid[i][0]}.province", "message": message}
        for i, message in misfits.items()
    ]
    rules.raise_batch_errors(errors, len(rows))
    return [item for _, item in valid]


async def create(session: AsyncSession, items: Sequence[IncidentIn], caller: Caller) -> list[str]:
    """Store validated incidents (already rule-checked) for the caller; their documents."""
    for item in items:
        rules.check_status_role(item, caller)
    new = [NewIncident.from_input(item) for item in items]
    return await insert_incidents(session, new, caller.key_id)


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


def _canonical(fields: dict[str, Any]) -> dict[str, Any]:
    """Input fields in the order the database keeps them, to tell a no-op patch."""
    out = {k: fields.get(k) for k in INPUT_FIELDS}
    out["casualties"] = sorted(out["casualties"] or [], key=lambda c: c["category"])
    out["tags"] = sorted(set(out["tags"] or []))
    return out


def _stale(incident_id: uuid.UUID, actual: int) -> StaleVersion:
    return StaleVersion(
        f"Incident {incident_id} is at version {actual}, which If-Match does not name: fetch "
        "it again and reapply your change.",
        actual,
    )


async def _editable(
    session: AsyncSession, incident_id: uuid.UUID, versions: frozenset[int], caller: Caller
) -> reads.Current:
    """The incident as it is, if the caller may change it and names its current version."""
    state = await reads.current(session, incident_id, lock=True)
    rules.check_owner(state.created_by, caller)
    if state.version not in versions:
        raise _stale(incident_id, state.version)
    return state


async def _conflict(session: AsyncSession, incident_id: uuid.UUID) -> Exception:
    """The error when a versioned UPDATE matched no row: NotFound if the incident is gone by
    now, else StaleVersion with the version it is at."""
    row = (
        await session.execute(
            select(Incident.version, Incident.deleted_at).where(Incident.id == incident_id)
        )
    ).one_or_none()
    if row is None or row.deleted_at is not None:
        return NotFound(f"No incident {incident_id}.")
    return _stale(incident_id, row.version)


async def _next_version(
    session: AsyncSession, incident_id: uuid.UUID, version: int, **values: Any
) -> tuple[int, str]:
    """One `UPDATE … WHERE version = <the version read>` setting values and the next
    version: of concurrent writers holding the same version exactly one wins; the others
    get StaleVersion (or NotFound once it is deleted). The new version and the stored
    document the row's trigger rebuilt."""
    statement = (
        update(Incident)
        .where(
            Incident.id == incident_id,
            Incident.version == version,
            Incident.deleted_at.is_(None),
        )
        .values(**values, version=Incident.version + 1, updated_at=text("now()"))
        .returning(Incident.version, Incident.document)
    )
    try:
        updated = (await session.execute(statement)).one_or_none()
    except DBAPIError as exc:
        raise _boundary_refusal(exc) or exc from None
    if updated is None:  # another write committed since we read it
        raise await _conflict(session, incident_id)
    return int(updated.version), str(updated.document)


async def _patched(
    session: AsyncSession, state: reads.Current, patch: dict[str, Any], caller: Caller
) -> IncidentIn:
    """The incident the patch makes of the current one, checked like a new one."""
    unwritable = sorted(k for k in patch if k not in INPUT_FIELDS)
    if unwritable:
        raise Invalid(
            field_errors({"loc": (k,), "type": "extra_forbidden", "msg": ""} for k in unwritable)
        )
    merged = merge_patch(as_input(state.document), patch)
    item = rules.parse_one(merged, await load_references(session))
    rules.check_status_role(item, caller, current=state.document["status"])
    return item


_DISTRICT_NAMED = text("SELECT set_config('borderwatch.district_named', :named, true)")


async def update_incident(
    session: AsyncSession,
    incident_id: uuid.UUID,
    versions: frozenset[int],
    patch: dict[str, Any],
    caller: Caller,
) -> tuple[str, int]:
    """Apply a merge patch to the version If-Match names; the document's JSON and version.

    The write is one `UPDATE … WHERE version = <the version read>`: of concurrent editors
    holding the same version exactly one wins, the others get StaleVersion. A patch that
    changes nothing writes nothing and keeps the version.
    """
    state = await _editable(session, incident_id, versions, caller)
    item = await _patched(session, state, patch, caller)
    if _canonical(item.model_dump(mode="json")) == _canonical(state.document):
        return state.text, state.version
    new = NewIncident.from_input(item, incident_id)
    # The owned rows first, then the incident row, whose trigger rebuilds the document from
    # them (the row is locked since _editable, so no other write interleaves).
    for model in (Casualty, IncidentSource, IncidentTag):
        await session.execute(delete(model).where(model.incident_id == incident_id))
    await session.execute(_INSERT_OWNED, _owned_rows([new]))
    # A district the patch names is kept wherever the location goes; one it does not name is
    # derived again when the location leaves its loaded boundary (migration 0010's trigger).
    named = "district" in patch
    if named:
        await session.execute(_DISTRICT_NAMED, {"named": "on"})
    version, after_text = await _next_version(session, incident_id, state.version, **_stored(new))
    if named:
        await session.execute(_DISTRICT_NAMED, {"named": "off"})
    revision = Revision(incident_id, version, "updated", state.document, after_text)
    await _record(session, revision, caller)
    return after_text, version


async def delete_incident(
    session: AsyncSession, incident_id: uuid.UUID, versions: frozenset[int], caller: Caller
) -> None:
    """Soft-delete: the incident leaves lists, exports and statistics; its history stays."""
    state = await _editable(session, incident_id, versions, caller)
    version, _ = await _next_version(session, incident_id, state.version, deleted_at=text("now()"))
    revision = Revision(incident_id, version, "deleted", state.document, None)
    await _record(session, revision, caller)


@dataclass(frozen=True)
class Revision:
    """One write to an incident: its new version, what it did, the document before and after
    (None after a delete)."""

    incident_id: uuid.UUID
    version: int
    op: str
    before: dict[str, Any]
    after_text: str | None


async def _record(session: AsyncSession, revision: Revision, caller: Caller) -> None:
    """The revision of an update or delete, numbered at commit, when the rollups move from
    what the document before contributed to what the document after does."""
    after = json.loads(revision.after_text) if revision.after_text is not None else None
    changed = changed_fields(revision.before, after) if after is not None else ["deleted"]
    await session.execute(
        _REVISION,
        {
            "id": revision.incident_id,
            "version": revision.version,
            "op": revision.op,
            "actor": caller.key_id,
            "changed": changed,
            "before": json.dumps(revision.before),
            "after": revision.after_text,
        },
    )
