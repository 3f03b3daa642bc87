"""Reference codes and names held per process: the labels of the statistics and the codes
that list and statistics filters may name, checked without a query per request. Reference
rows are few and change rarely (new ones are added, none renamed through the API), so they
are read again only when a filter names a code not known here or the copy is older than
MAX_AGE_S; a code still missing after that does not exist."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from app.reference.service import NO_REFERENCES, REFERENCE_ROWS, References, read_references

MAX_AGE_S = 60.0


@dataclass
class Names:
    """Name by code, per kind of reference (province, district, perpetrator, crossing)."""

    by_kind: dict[str, dict[str, str]] = field(default_factory=dict)
    references: References = NO_REFERENCES
    loaded_at: float = float("-inf")

    async def load(self, conn: Any) -> None:
        """Read every code and name again (an asyncpg connection)."""
        self.by_kind, self.references = read_references(await conn.fetch(REFERENCE_ROWS))
        self.loaded_at = time.monotonic()

    def forget(self) -> None:
        """Read the codes again on next use: this process changed them (a crossing created
        or renamed), so its own answers show the change at once."""
        self.loaded_at = float("-inf")

    def fresh(self) -> bool:
        """Whether the copy was read within MAX_AGE_S."""
        return time.monotonic() - self.loaded_at <= MAX_AGE_S

    async def current(self, conn: Any, wanted: dict[str, set[str]]) -> dict[str, dict[str, str]]:
        """The names, read again first if any of the `wanted` codes (by kind) is missing or the
        copy is old; a code still missing after that does not exist."""
        missing = any(codes - self.by_kind.get(k, {}).keys() for k, codes in wanted.items())
        if missing or not self.fresh():
            await self.load(conn)
        return self.by_kind


def names_of(state: Any) -> Names:
    """The app's copy (`app.state`), made on first use; one per process and app."""
    names: Names | None = getattr(state, "names", None)
    if names is None:
        names = state.names = Names()
    return names
