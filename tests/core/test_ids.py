"""UUIDv7 (RFC 9562): one at a time and many at once are the same kind of identifier."""

from __future__ import annotations

import time
import uuid

from app.core.ids import uuid7, uuid7s


def _millis(value: uuid.UUID) -> int:
    return value.int >> 80


def test_many_at_once_are_version_7_unique_and_carry_the_time() -> None:
    before = time.time_ns() // 1_000_000
    many = uuid7s(2000)
    after = time.time_ns() // 1_000_000
    assert len(set(many)) == 2000
    for value in many:
        assert value.version == 7 and value.variant == uuid.RFC_4122
        assert before <= _millis(value) <= after
    assert _millis(uuid7()) >= _millis(many[-1])  # later ones sort after them
    assert uuid7s(0) == []


def test_random_bits_differ_between_ids_of_the_same_millisecond() -> None:
    many = uuid7s(64)
    assert len({v.int & ((1 << 74) - 1) for v in many}) == 64
