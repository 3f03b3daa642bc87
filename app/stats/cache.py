"""Statistics answered at the speed of a health check: an ASGI cache of rendered answers,
keyed by the raw request and the data version, checked against PostgreSQL on every request.

A statistics answer changes only when the data or the rollup epoch does (or "today", for
the default `until`). The endpoint renders each answer once per data version; this layer serves the
same bytes, headers and ETag again, or a 304, for as long as the version stays the same,
without parsing parameters or touching the ORM. The version is read from the database for
every request, so an answer is never older than the last committed write.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import dataversion
from app.core.clock import today_karachi
from app.core.errors import Problem, problem_response

PREFIX = "/v1/stats/"
MAX_ENTRY_BYTES = 1024 * 1024  # per answer
MAX_BYTES = 32 * 1024 * 1024  # per worker
Entry = tuple[list[tuple[bytes, bytes]], bytes, bytes]  # headers, body, etag


class StatsCache:
    """ASGI middleware in front of /v1/stats/*, for public reads without a key."""

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
        if (
            not state.settings.stats_cache
            or not state.settings.public_read
            or "authorization" in headers
        ):
            await self.app(scope, receive, send)
            return
        try:
            stamp = await dataversion.probe(state.probe, state.settings.retry_after_s)
        except Problem as problem:  # outside the app's error handlers: answer here
            await problem_response(problem)(scope, receive, send)
            return
        key = (scope["path"], scope["query_string"], today_karachi())
        entry = self.entries.get((*key, *stamp))
        if entry is not None:
            self.hits += 1
            self.entries.move_to_end((*key, *stamp))
            await self._replay(entry, headers.get("if-none-match"), send)
            return
        await self.app(scope, receive, self._keeper(key, stamp, send))

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
