"""RFC 9457 problem+json for every error, and the one mapping from database errors to HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("borderwatch.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"  # relative URI references, served by GET /problems/{slug}

# The schema documented for every 4xx/5xx answer in the OpenAPI description.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


# Every problem type the API answers with: slug → (status, title, when it happens).
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "malformed-json": (400, "Malformed JSON", "The request body could not be parsed as JSON."),
    "bad-request": (400, "Bad request", "A header or parameter is malformed (e.g. If-Match)."),
    "unauthorized": (
        401,
        "Unauthorized",
        "No API key, or an unknown or revoked one: send `Authorization: Bearer`.",
    ),
    "forbidden": (403, "Forbidden", "The API key's role is too low for this operation."),
    "not-found": (404, "Not found", "No resource has this identifier."),
    "conflict": (
        409,
        "Conflict",
        "The resource exists already, a concurrent request holds the same Idempotency-Key, "
        "or the write collides with a stored one (a crossing's overlapping status periods).",
    ),
    "precondition-failed": (
        412,
        "Precondition failed",
        "If-Match names a version that is no longer current.",
    ),
    "method-not-allowed": (
        405,
        "Method not allowed",
        "The path exists but not with this method; `Allow` lists the ones it takes.",
    ),
    "unsupported-media-type": (
        415,
        "Unsupported media type",
        "Writes take a JSON body: send `Content-Type: application/json`.",
    ),
    "payload-too-large": (413, "Payload too large", "The body is over 1 MiB (batch: 20 MiB)."),
    "validation-error": (
        422,
        "Validation failed",
        "A parameter or body field breaks a rule; `errors` names each field.",
    ),
    "precondition-required": (
        428,
        "Precondition required",
        "PATCH and DELETE need an If-Match header with the current ETag.",
    ),
    "too-many-requests": (429, "Too many requests", "Slow down; see Retry-After."),
    "internal-error": (500, "Internal error", "A bug; it has been logged."),
    "service-unavailable": (
        503,
        "Service unavailable",
        "The database is unreachable or over its statement timeout; retry "
        "after Retry-After seconds.",
    ),
}


class Problem(Exception):
    """An error that the API answers as problem+json; raise it from services and routers."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str | None = None,
        title: str | None = None,
        errors: Sequence[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = PROBLEM_BASE + type_ if type_ else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors) if errors is not None else None
        self.headers = headers or {}


# ---- domain exceptions: raised by services, which know nothing of HTTP -------------------


class DomainError(Exception):
    """Base of the errors services raise; EXCEPTION_PROBLEMS maps each to its HTTP answer."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """No live resource has this identifier."""


class Forbidden(DomainError):
    """The caller may not do this to this resource."""


class Conflict(DomainError):
    """The resource exists already, or another request holds it right now."""

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StaleVersion(DomainError):
    """An edit named a version that is no longer current."""

    def __init__(self, detail: str, current: int) -> None:
        super().__init__(detail)
        self.current = current


class Invalid(DomainError):
    """Input breaks rules; `errors` names each field."""

    def __init__(self, errors: Sequence[dict[str, str]], detail: str | None = None) -> None:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        super().__init__(detail or f"Invalid value for: {fields}.")
        self.errors = list(errors)


class Malformed(DomainError):
    """A value the client sent back (a cursor, a header) is not one this API made."""


class Unavailable(DomainError):
    """The database cannot serve this now; retrying later may work."""


def _not_found(exc: DomainError, _: int) -> Problem:
    return Problem(404, exc.detail, type_="not-found")


def _forbidden(exc: DomainError, _: int) -> Problem:
    return Problem(403, exc.detail, type_="forbidden")


def _conflict(exc: DomainError, _: int) -> Problem:
    assert isinstance(exc, Conflict)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return Problem(409, exc.detail, type_="conflict", headers=headers)


def _stale(exc: DomainError, _: int) -> Problem:
    assert isinstance(exc, StaleVersion)
    return Problem(
        412, exc.detail, type_="precondition-failed", headers={"ETag": f'"{exc.current}"'}
    )


def _invalid(exc: DomainError, _: int) -> Problem:
    assert isinstance(exc, Invalid)
    return validation_problem(exc.errors, exc.detail)


def _malformed(exc: DomainError, _: int) -> Problem:
    return Problem(400, exc.detail, type_="bad-request")


def _unavailable(exc: DomainError, retry_after: int) -> Problem:
    return unavailable(exc.detail, retry_after)


# The one table from domain exceptions to HTTP problems.
EXCEPTION_PROBLEMS: dict[type[DomainError], Callable[[DomainError, int], Problem]] = {
    NotFound: _not_found,
    Forbidden: _forbidden,
    Conflict: _conflict,
    StaleVersion: _stale,
    Invalid: _invalid,
    Malformed: _malformed,
    Unavailable: _unavailable,
}


def problem_of(exc: DomainError, retry_after: int) -> Problem:
    """The HTTP problem a domain exception means."""
    for cls in type(exc).__mro__:
        if cls in EXCEPTION_PROBLEMS:
            return EXCEPTION_PROBLEMS[cls](exc, retry_after)
    raise TypeError(f"no problem mapped for {type(exc).__name__}")


OGC_PREFIX = "/ogc"  # app/geo/ogc: OGC API - Features, whose invalid parameters are 400s


def problem_response(problem: Problem, request: Request | None = None) -> Response:
    """The problem+json response for a Problem."""
    status = problem.status
    if status == 422 and request is not None and request.url.path.startswith(OGC_PREFIX):
        # OGC API - Features Part 1 (/req/core/query-param-invalid, -unknown) asks for 400
        # where the rest of the API answers 422; the body is the same.
        status = 400
    body: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": status,
        "detail": problem.detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    if problem.errors is not None:
        body["errors"] = problem.errors
    # ASCII-escaped: a field name echoed from the client may hold a lone surrogate, which
    # UTF-8 cannot encode; \u escapes carry any string safely.
    content = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    return Response(content, status_code=status, headers=problem.headers, media_type=PROBLEM_JSON)


def unavailable(detail: str, retry_after: int) -> Problem:
    """503 with Retry-After: the database is unreachable or too slow right now."""
    return Problem(
        503, detail, type_="service-unavailable", headers={"Retry-After": str(retry_after)}
    )


# Fields that only the server sets, registered by each domain; sending one is refused by
# name ("is set by the server") rather than as an unknown field.
SERVER_OWNED_FIELDS: set[str] = {"id", "version", "created_at", "updated_at"}


def register_server_owned(fields: Iterable[str]) -> None:
    """Declare fields that a domain's resources compute and clients never send."""
    SERVER_OWNED_FIELDS.update(fields)


def field_errors(raw: Iterable[Mapping[str, Any]], prefix: str = "") -> list[dict[str, str]]:
    """Pydantic errors as `{"field": "casualties.1.killed", "message": ...}`, under prefix."""
    out = []
    for e in raw:
        loc = tuple(e.get("loc", ()))
        name = field_of(loc)
        message = str(e.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if e.get("type") == "extra_forbidden":
            message = (
                "is set by the server and cannot be sent"
                if loc and loc[-1] in SERVER_OWNED_FIELDS
                else "is not a known field"
            )
        if prefix:
            name = prefix.rstrip(".") if name == "body" else prefix + name
        out.append({"field": name, "message": message})
    return out


def validation_problem(errors: Sequence[dict[str, str]], detail: str | None = None) -> Problem:
    """422 listing every bad field."""
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return Problem(
        422,
        detail or f"Invalid value for: {fields}.",
        type_="validation-error",
        title="Validation failed",
        errors=errors,
    )


def field_of(loc: Sequence[int | str]) -> str:
    """Dotted field name of a Pydantic error location, without FastAPI's `body`/`query` head."""
    parts = list(loc)
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        # A parameter is named as sent: `province`, not `province.1` for its second code.
        return str(parts[1]) if len(parts) > 1 else "query"
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def pg_error(exc: BaseException) -> BaseException | None:
    """The asyncpg exception behind a SQLAlchemy DBAPIError (None when there is none)."""
    orig = getattr(exc, "orig", None)
    # SQLAlchemy's asyncpg adapter keeps the asyncpg exception as __cause__ of its own.
    return getattr(orig, "__cause__", None) or orig


# Constraint name → the field a client sent, registered by each domain for its tables: if
# the database refuses a write that the API's own validation should have caught first (a
# clock ahead of the database's, a rule added later), the 422 still names that field.
CONSTRAINT_FIELDS: dict[str, str] = {}


# Constraints no input can break, only a defect of the service (the rollups' counts never
# below zero): breaking one is a 500, not a 422 telling the client to fix a valid body.
INTERNAL_CONSTRAINTS: set[str] = set()


def register_internal_constraints(names: Iterable[str]) -> None:
    """Declare constraints that only a defect of the service can break."""
    INTERNAL_CONSTRAINTS.update(names)


def register_constraint_fields(mapping: Mapping[str, str]) -> None:
    """Declare which input field each named constraint of a domain's tables checks."""
    CONSTRAINT_FIELDS.update(mapping)


# Constraints whose breach means the write collides with another resource, not that a field
# is wrong: a 409 with this detail (e.g. a status period overlapping another one of the same
# crossing: its service refuses that first, naming the event, under a lock; the database's
# EXCLUDE answers for any write that got past it). Every exclusion violation is a 409.
CONFLICT_CONSTRAINTS: dict[str, str] = {}


def register_conflict_constraints(mapping: Mapping[str, str]) -> None:
    """Declare the constraints of a domain's tables that a conflicting write breaks."""
    CONFLICT_CONSTRAINTS.update(mapping)


def database_problem(exc: sa_exc.DBAPIError, retry_after: int) -> Problem:
    """Map a database error to the HTTP problem it means for the client."""
    pg = pg_error(exc)
    if isinstance(pg, asyncpg.UniqueViolationError):
        return Problem(409, "A resource with the same identity already exists.", type_="conflict")
    constraint = getattr(pg, "constraint_name", None) or ""
    if isinstance(pg, asyncpg.ExclusionViolationError) or constraint in CONFLICT_CONSTRAINTS:
        detail = CONFLICT_CONSTRAINTS.get(constraint, "The write conflicts with a stored resource.")
        return Problem(409, detail, type_="conflict")
    if isinstance(pg, asyncpg.IntegrityConstraintViolationError | asyncpg.DataError):
        if constraint in INTERNAL_CONSTRAINTS:
            log.error("a write broke %s: the statistics drifted; nothing was stored", constraint)
            return Problem(
                500,
                "The write would have left the statistics inconsistent; nothing was stored.",
                type_="internal-error",
            )
        log.warning("database refused a write: %s (%s)", type(pg).__name__, constraint)
        referenced = isinstance(pg, asyncpg.ForeignKeyViolationError)
        return validation_problem(
            [
                {
                    "field": CONSTRAINT_FIELDS.get(constraint, "body"),
                    "message": "references a resource that does not exist"
                    if referenced
                    else "breaks a rule of the database",
                }
            ]
        )
    # The database is there but cannot serve now: statement timeout, shutdown, deadlock or
    # serialization failure, out of connections or resources. Retrying later is the answer.
    if isinstance(pg, asyncpg.QueryCanceledError):
        return unavailable("The database did not answer within the statement timeout.", retry_after)
    if (
        isinstance(
            pg,
            asyncpg.TransactionRollbackError
            | asyncpg.InsufficientResourcesError
            | asyncpg.OperatorInterventionError
            | asyncpg.PostgresConnectionError
            | asyncpg.CannotConnectNowError
            | asyncpg.InterfaceError
            | asyncpg.InternalClientError
            | OSError,
        )
        or exc.connection_invalidated
    ):
        return unavailable("The database is unreachable or busy.", retry_after)
    raise exc


problems_router = APIRouter(tags=["problems"])


@problems_router.get(
    "/problems/{slug}", summary="What a problem type means", response_class=PlainTextResponse
)
async def problem_type(slug: str) -> str:
    """A short human-readable description of a problem `type`."""
    if slug not in PROBLEM_TYPES:
        raise Problem(404, f"No problem type {slug!r}.", type_="not-found")
    status, title, description = PROBLEM_TYPES[slug]
    return f"{title} ({status})\n\n{description}\n"


# Problem types of the errors Starlette and FastAPI raise themselves.
HTTP_TYPES = {
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


def http_problem(request: Request, exc: StarletteHTTPException) -> Problem:
    """The problem for an HTTPException of Starlette or FastAPI (404, 405, 413 …)."""
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}."
    type_ = HTTP_TYPES.get(exc.status_code)
    if exc.status_code == 400 and "parsing the body" in detail:  # FastAPI's own wording
        type_, detail = "malformed-json", "The request body could not be parsed as JSON."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return Problem(exc.status_code, detail, type_=type_, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on the request's path: Starlette's 405 names only those
    of the first route that matches the path (`POST` alone for GET and POST /v1/incidents)."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def install_error_handlers(app: FastAPI, retry_after: int) -> None:
    """Make every error the app can raise answer as problem+json."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(http_problem(request, exc), request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        raw = exc.errors()
        if any(e.get("type") == "json_invalid" for e in raw):
            return problem_response(
                Problem(400, "The request body is not valid JSON.", type_="malformed-json"),
                request,
            )
        return problem_response(validation_problem(field_errors(raw)), request)

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return problem_response(problem_of(exc, retry_after), request)

    async def on_db(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, sa_exc.DBAPIError)
        try:
            problem = database_problem(exc, retry_after)
        except sa_exc.DBAPIError:
            return await on_unexpected(request, exc)
        return problem_response(problem, request)

    async def on_unreachable(request: Request, exc: Exception) -> Response:
        # Pool exhausted, connect timeout, or the socket refused: the database is not there.
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(unavailable("The database is unreachable.", retry_after), request)

    async def on_unexpected(request: Request, _exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            Problem(
                500, "An unexpected error occurred; it has been logged.", type_="internal-error"
            ),
            request,
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(sa_exc.DBAPIError, on_db)
    app.add_exception_handler(sa_exc.TimeoutError, on_unreachable)
    app.add_exception_handler(TimeoutError, on_unreachable)
    app.add_exception_handler(ConnectionError, on_unreachable)
    app.add_exception_handler(Exception, on_unexpected)


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an OpenAPI document so that every 4xx/5xx answer is problem+json."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = content
                    if code == "422":
                        response["description"] = "Validation failed (problem+json)"
            responses.setdefault(
                "4XX", {"description": "Client error (problem+json)", "content": content}
            )
            responses.setdefault(
                "5XX", {"description": "Server error (problem+json)", "content": content}
            )
    return openapi
