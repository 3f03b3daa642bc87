"""Parsing of query parameters shared by routers: comma-separated multi-valued filters."""

from __future__ import annotations

from collections.abc import Iterable

from app.core.errors import Problem


def split_csv(value: str | None) -> list[str]:
    """`a,b, c` → ["a", "b", "c"]; empty items dropped; None → []."""
    if value is None:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def require_known(field: str, values: Iterable[str], known: Iterable[str]) -> None:
    """422 naming `field` when any value is not one of `known`."""
    allowed = set(known)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise Problem(
            422,
            f"Unknown {field}: {', '.join(unknown)}.",
            type_="validation-error",
            title="Validation failed",
            errors=[{"field": field, "message": f"unknown value {v!r}"} for v in unknown],
        )
