"""Waiting for a state with a deadline, instead of sleeping a fixed time and hoping."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call predicate (sync or async) until it returns something truthy, and return that.

    An AssertionError raised by predicate counts as "not yet"; at the deadline the last one is
    raised again, so a predicate that asserts fails the test with its own message."""
    deadline = time.monotonic() + timeout
    while True:
        last_error: AssertionError | None = None
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
        except AssertionError as e:
            last_error = e
        else:
            if result:
                return result  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError(f"{what} still not true after {timeout} s (last: {result!r})")
        await asyncio.sleep(interval)
