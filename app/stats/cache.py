"""Statistics answered at the speed of a health check: an ASGI cache of rendered answers,
keyed by the raw request and the data version, checked against PostgreSQL on every request.

A statistics answer changes only when the data or the rollup epoch does (or "today", for
the default `until`). The endpoint renders each answer once per data version; this layer serves the
same bytes, headers and ETag again, or a 304, for as long as the version stays the same,
without parsing parameters or touching the ORM. The version is read from the database for
every request, so an answer is never older than the last committed write.

The answers do not depend on the caller, so callers with a key share them with anonymous
ones; but the cache never answers a caller the app would refuse. A request with
`Authorization` has its key checked in the same round trip as the version (by its hash,
through the unique index; revoked keys fail), and any request that is not plainly allowed
(a malformed header, an unknown or revoked key, no key where reads need one) goes to the app,
which answers 401 as usual.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import service as keys
from app.auth.dependencies import TOUCH_EVERY
from app.core import dataversion
from app.core.clock import today_karachi
from app.core.db import UNAVAILABLE
from app.core.errors import Problem, problem_response, unavailable
from app.stats.router import fatalities_directly

log = logging.getLogger("borderwatch.stats")

PREFIX = "/v1/stats/"
MAX_ENTRY_BYTES = 1024 * 1024  # per answer
MAX_BYTES = 32 * 1024 * 1024  # per worker
Entry = tuple[list[tuple[bytes, bytes]], bytes, bytes]  # headers, body, etag
# The data version and the caller's key, by the key's hash, in one round trip.
_VERSION_AND_KEY = """
    SELECT v.seq, v.epoch, k.id, k.id IS NOT NULL AND k.revoked_at IS NULL AS live,
           k.last_used_at
      FROM data_version v LEFT JOIN api_keys k ON k.key_hash = $1"""


def _bearer(headers: Headers) -> str | None:
    """The key of a well-formed `Authorization: Bearer <key>`, else None."""
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None


async def _version_if_allowed(state: Any, headers: Headers) -> tuple[int, int] | None:
    """The data version when the app would answer this caller, else None (the app decides).
    Notes a key's use as the app does, at most once a minute."""
    if "authorization" not in headers:
        if not state.settings.public_read:
            return None
        return await dataversion.probe(state.probe, state.settings.retry_after_s)
    secret = _bearer(headers)
    if secret is None:
        return None
    try:
        row = await state.probe.fetchrow(_VERSION_AND_KEY, keys.hash_secret(secret))
    except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise unavailable(
            f"The database is not reachable ({type(exc).__name__}).", state.settings.retry_after_s
        ) from None
    if not row["live"]:  # unknown or revoked
        return None
    last = row["last_used_at"]
    if last is None or datetime.now(UTC) - last >= TOUCH_EVERY:
        try:
            await keys.touch(state.probe, row["id"])
        except Exception as exc:  # bookkeeping must never fail the request it rides on
            log.warning("could not record the use of key %s: %s", row["id"], type(exc).__name__)
    return int(row["seq"]), int(row["epoch"])


class StatsCache:
    """ASGI middleware in front of /v1/stats/*, for every caller the app would answer."""

    def __init__(self, app: ASGIApp, size: int = 256) -> None:
        self.app = app
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0  # answers served from the cache, for tests and curiosity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a cached answer when the version still matches, else render and keep it."""
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        headers = Headers(scope=scope)
        if not state.settings.stats_cache:
            # Anonymous public reads need no check: straight to the answer.
            public = state.settings.public_read and "authorization" not in headers
            await self._render(scope, receive, send, directly=public)
            return
        try:
            stamp = await _version_if_allowed(state, headers)
        except Problem as problem:  # outside the app's error handlers: answer here
            await problem_response(problem)(scope, receive, send)
            return
        if stamp is None:
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope["query_string"], today_karachi())
        entry = self.entries.get((*key, *stamp))
        if entry is not None:
            self.hits += 1
            self.entries.move_to_end((*key, *stamp))
            await self._replay(entry, headers.get("if-none-match"), send)
            return
        await self._render(scope, receive, self._keeper(key, stamp, send), directly=True)

    async def _render(self, scope: Scope, receive: Receive, send: Send, directly: bool) -> None:
        """A new answer: from the fast lane of the fatalities route when `directly` (the
        caller is let in) and it takes the request, else from the app."""
        try:
            if directly and await fatalities_directly(scope, receive, send):
                return
        except Problem as problem:  # outside the app's error handlers: answer here
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _keeper(self, key: tuple[Any, ...], stamp: tuple[int, int], send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and start["status"] == 200:
                    etag = dict(start["headers"]).get(b"etag")
                    # Only answers rendered at the stamp read here (their ETag says so).
                    if etag and etag.startswith(f'"{stamp[0]}.{stamp[1]}-'.encode()):
                        self._put((*key, *stamp), (start["headers"], b"".join(chunks), etag))
            await send(message)

        return keep

    def _put(self, key: tuple[Any, ...], entry: Entry) -> None:
        size = len(entry[1])
        if size > MAX_ENTRY_BYTES:
            return  # a rare, large answer: rendered each time rather than held
        old = self.entries.pop(key, None)
        self.bytes += size - (len(old[1]) if old else 0)
        self.entries[key] = entry
        while len(self.entries) > self.size or self.bytes > MAX_BYTES:
            _, (_, body, _) = self.entries.popitem(last=False)
            self.bytes -= len(body)

    @staticmethod
    async def _replay(entry: Entry, if_none_match: str | None, send: Send) -> None:
        headers, body, etag = entry
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/").encode() for t in if_none_match.split(",")}
            if etag in tags or b"*" in tags:
                kept = [
                    (k, v)
                    for k, v in headers
                    if k in (b"etag", b"cache-control", b"x-data-version")
                ]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
