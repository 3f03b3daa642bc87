"""Names of provinces, districts and groups, held per process for the statistics: their
labels, and the codes that filters may name. Reference rows are few and change rarely (new
ones are added, none renamed through the API), so they are read again only when a code is
not known here or the copy is older than MAX_AGE_S."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MAX_AGE_S = 60.0
_ALL = """
    SELECT 'province', code, name FROM provinces
    UNION ALL SELECT 'district', slug, name FROM districts
    UNION ALL SELECT 'perpetrator', slug, name FROM actors"""


@dataclass
class Names:
    """Name by code, per kind of reference (province, district, perpetrator)."""

    by_kind: dict[str, dict[str, str]] = field(default_factory=dict)
    loaded_at: float = float("-inf")

    async def load(self, conn: Any) -> None:
        """Read every name again."""
        by_kind: dict[str, dict[str, str]] = {"province": {}, "district": {}, "perpetrator": {}}
        for kind, code, name in await conn.fetch(_ALL):
            by_kind[kind][code] = name
        self.by_kind, self.loaded_at = by_kind, time.monotonic()

    async def current(self, conn: Any, wanted: dict[str, set[str]]) -> dict[str, dict[str, str]]:
        """The names, read again first if any of the `wanted` codes (by kind) is missing or the
        copy is old; a code still missing after that does not exist."""
        stale = time.monotonic() - self.loaded_at > MAX_AGE_S
        if stale or any(codes - self.by_kind.get(k, {}).keys() for k, codes in wanted.items()):
            await self.load(conn)
        return self.by_kind
