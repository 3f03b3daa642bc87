"""Identifiers: time-ordered UUIDs (RFC 9562 version 7)."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): new rows land at the right of the index."""
    return uuid7s(1)[0]


def uuid7s(n: int) -> list[uuid.UUID]:
    """n time-ordered UUIDs as uuid7() makes them, with one read of the random source."""
    ms = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    head = ms << 80 | 0x7 << 76
    pool = os.urandom(10 * n)
    out = []
    for i in range(0, 10 * n, 10):
        rand = int.from_bytes(pool[i : i + 10], "big")
        value = head | (rand >> 68) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
        out.append(uuid.UUID(int=value))
    return out


def parse_uuid(value: str) -> uuid.UUID | None:
    """The UUID a path segment holds, or None when it cannot be one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
