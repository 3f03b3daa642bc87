"""Request body size limits (413 problem+json), enforced while the body streams in."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024


class BodyTooLarge(HTTPException):
    """The body went over its limit; an HTTPException so that FastAPI's body reading passes
    it through to the problem+json handler as it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is over {limit // MIB} MiB.")


class BodyLimit:
    """ASGI middleware: 1 MiB per body, 20 MiB on batch paths; checked against
    Content-Length up front and against the bytes actually received."""

    def __init__(self, app: ASGIApp, default: int = MIB, batch: int = 20 * MIB) -> None:
        self.app = app
        self.default = default
        self.batch = batch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, refusing it with 413 once its body is too large."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        batch = scope["method"] == "POST" and scope["path"] == "/v1/incidents:batch"
        limit = self.batch if batch else self.default
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(send, limit, scope["path"])
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit, scope["path"])

    @staticmethod
    async def _refuse(send: Send, limit: int, path: str) -> None:
        body = json.dumps(
            {
                "type": "/problems/payload-too-large",
                "title": "Payload Too Large",
                "status": 413,
                "detail": f"The request body is over {limit // MIB} MiB.",
                "instance": path,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
