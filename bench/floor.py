"""The floor under two of the SPEC's targets, measured by bench/run.py beside the real server.

A bare ASGI app on the same Uvicorn, with the same number of workers, that does only the part
of a request no implementation can skip:

- `GET /healthz`: nothing (the bare server's own overhead);
- `GET /bytes`: the bytes of a statistics answer, held in memory (`FLOOR_BYTES` names the
  file): the least any server on this stack spends to send an answer of that size;
- `POST /write`: the request body stored as one row of a plain table, committed durably
  (one statement in its own transaction, `synchronous_commit` as the server has it): the
  least a durable write of that body costs, with no validation, no indexes but the key, no
  history and no rollups.

When the floor itself is above a target's bound (say 5× /healthz), no implementation on this
stack and machine can meet that target; bench/RESULTS.md shows both side by side.

Run: `FLOOR_DSN=postgresql://… FLOOR_BYTES=answer.json uvicorn bench.floor:app --workers 2`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncpg

TABLE = "bench_floor_writes"
_BYTES_FILE = os.environ.get("FLOOR_BYTES")
# Read when the worker imports the app, before it serves.
_state: dict[str, Any] = {"bytes": Path(_BYTES_FILE).read_bytes() if _BYTES_FILE else b"{}"}


async def _startup() -> None:
    _state["pool"] = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=1, max_size=10)


async def _send(send: Any, status: int, body: bytes, media: bytes = b"application/json") -> None:
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The three routes; anything else is a 404."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await _startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _state["pool"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    method, path = scope["method"], scope["path"]
    if method == "GET" and path == "/healthz":
        await _send(send, 200, b'{"status":"ok"}')
    elif method == "GET" and path == "/bytes":
        await _send(send, 200, _state["bytes"])
    elif method == "POST" and path == "/write":
        body = await _body(receive)
        row_id = await _state["pool"].fetchval(
            f"INSERT INTO {TABLE} (body) VALUES ($1) RETURNING id",  # noqa: S608 - constant
            body.decode(),
        )
        await _send(send, 201, b'{"id":%d}' % row_id)
    else:
        await _send(send, 404, b'{"status":404}')
