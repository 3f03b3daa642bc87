"""ASGI middleware: CORS for browser dashboards, a last-resort 500 inside it, and request
body size limits (413 problem+json) enforced while the body streams in."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import Problem, problem_response

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


CORS_METHODS = ("GET", "POST", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
)
# Response headers that scripts on another origin may read (beyond the CORS-safelisted ones).
CORS_EXPOSED_HEADERS = (
    "ETag",
    "X-Data-Version",
    "Location",
    "Link",
    "Retry-After",
    "Content-Disposition",
    "Idempotent-Replayed",
    "WWW-Authenticate",
)


class Cors(CORSMiddleware):
    """Starlette's CORS with the API's methods and headers; a refused preflight is a 400
    problem+json like every other error."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            allow_credentials=False,  # keys travel in Authorization, never in cookies
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=3600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        """The preflight answer; a refusal names what was refused (origin, method, headers)."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {
            k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")
        }
        detail = bytes(response.body).decode() + " (see BW_CORS_ORIGINS)."
        return problem_response(Problem(400, detail, type_="bad-request", headers=headers))


class LastResort:
    """ASGI middleware inside CORS: an exception that no handler took is answered here by the
    app's `Exception` handler (the 500 problem), so that browsers can read it too; Starlette
    would answer it outside every middleware, without CORS headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; answer a 500 if it raised before its answer started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            handler = scope["app"].exception_handlers.get(Exception)
            if started or handler is None:
                raise  # the answer is under way: only the server can cut it off
            response = await handler(Request(scope), exc)
            await response(scope, receive, send)
