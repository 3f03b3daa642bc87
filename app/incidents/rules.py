"""The rules an incident must follow beyond its shape: reference codes that must exist and
agree, one casualty row per category, a fatality range around the total, who may set a
status. Shape and rule errors are reported together, each naming its field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from app.auth.service import Caller
from app.core.errors import Forbidden, Invalid, field_errors
from app.incidents.schemas import IncidentIn
from app.reference.service import References


def _reference_errors(raw: dict[str, Any], refs: References, prefix: str) -> list[dict[str, str]]:
    """Codes that name no province, district, group or crossing; read from the raw input so
    that they are reported even when other fields are malformed."""
    errors = []
    province, district = raw.get("province"), raw.get("district")
    perpetrator, crossing = raw.get("perpetrator", "unknown"), raw.get("crossing")
    if isinstance(province, str) and province not in refs.provinces:
        errors.append({"field": f"{prefix}province", "message": f"unknown province {province!r}"})
    if isinstance(district, str):
        home = refs.districts.get(district)
        if home is None:
            errors.append(
                {"field": f"{prefix}district", "message": f"unknown district {district!r}"}
            )
        elif isinstance(province, str) and home != province:
            errors.append(
                {
                    "field": f"{prefix}district",
                    "message": f"{district} is in {home}, not {province}",
                }
            )
    if isinstance(perpetrator, str) and perpetrator not in refs.actors:
        errors.append(
            {
                "field": f"{prefix}perpetrator",
                "message": f"unknown group {perpetrator!r} (see /v1/groups)",
            }
        )
    if isinstance(crossing, str) and crossing not in refs.crossings:
        errors.append({"field": f"{prefix}crossing", "message": f"unknown crossing {crossing!r}"})
    return errors


def _row_errors(item: IncidentIn, prefix: str) -> list[dict[str, str]]:
    """Rules across the casualty rows and the fatality range."""
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
    return errors


def validate(
    raw: Any, refs: References, prefix: str = ""
) -> tuple[IncidentIn | None, list[dict[str, str]]]:
    """The incident a raw JSON value describes, and every error in it: shape, references
    and rules together, one per field."""
    if not isinstance(raw, dict):
        return None, [
            {"field": prefix.rstrip(".") or "body", "message": "must be an incident object"}
        ]
    errors: list[dict[str, str]] = []
    item: IncidentIn | None = None
    try:
        item = IncidentIn.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors(exc.errors(), prefix)
    named = {e["field"] for e in errors}
    errors += [e for e in _reference_errors(raw, refs, prefix) if e["field"] not in named]
    if item is not None:
        errors += _row_errors(item, prefix)
    return item, errors


def parse_one(raw: Any, refs: References) -> IncidentIn:
    """A valid incident, or Invalid listing every bad field."""
    item, errors = validate(raw, refs)
    if errors or item is None:
        raise Invalid(errors)
    return item


def validate_batch(
    rows: Sequence[Any], refs: References
) -> tuple[list[IncidentIn | None], list[dict[str, str]]]:
    """Each row's incident (None where its shape is bad) and every error, by index and field."""
    items: list[IncidentIn | None] = []
    errors: list[dict[str, str]] = []
    for n, row in enumerate(rows):
        item, row_errors = validate(row, refs, f"incidents.{n}.")
        errors += row_errors
        items.append(None if row_errors else item)
    return items, errors


def raise_batch_errors(errors: Sequence[dict[str, str]], count: int) -> None:
    """Invalid listing every bad row, in row order, when there are errors."""
    if not errors:
        return
    ordered = sorted(errors, key=lambda e: int(e["field"].split(".")[1]))
    bad = len({e["field"].split(".")[1] for e in ordered})
    raise Invalid(ordered, f"{bad} of {count} incidents are invalid; nothing was stored.")


def parse_batch(rows: Sequence[Any], refs: References) -> list[IncidentIn]:
    """Every row valid, or Invalid listing every bad row by index and field."""
    items, errors = validate_batch(rows, refs)
    raise_batch_errors(errors, len(rows))
    return [item for item in items if item is not None]


def check_status_role(item: IncidentIn, caller: Caller, current: str = "reported") -> None:
    """Only editors set a status other than the one an incident has (new ones: `reported`)."""
    check_status(item.status, caller, current)


def check_status(status: str, caller: Caller, current: str = "reported") -> None:
    """Only editors set a status other than `current`."""
    if status != current and not caller.has("editor"):
        raise Forbidden("Only editors change an incident's status.")


def check_owner(created_by: int | None, caller: Caller) -> None:
    """Analysts change only the incidents their own key created; editors change any."""
    if not caller.has("editor") and created_by != caller.key_id:
        raise Forbidden("Analysts change only the incidents created with their own key.")
