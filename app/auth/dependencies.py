"""FastAPI dependencies of authentication: the caller of a request, and the role it needs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service
from app.auth.service import Caller
from app.core.db import SessionDep
from app.core.errors import Problem

log = logging.getLogger("borderwatch.auth")
# last_used_at is written at most this often per key, off the request's transaction.
TOUCH_EVERY = timedelta(minutes=1)
# Documents the Bearer scheme in OpenAPI (the Authorize button of /docs); the header is
# checked below, so that a malformed one is a 401 problem rather than FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer bw_…`")


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        detail,
        type_="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="borderwatch"'},
    )


async def _touch(request: Request, caller: Caller) -> None:
    """Note that the key was used, at most once a minute (best effort)."""
    last = caller.last_used_at
    if last is not None and datetime.now(UTC) - last < TOUCH_EVERY:
        return
    try:
        await service.touch(request.app.state.probe, caller.key_id)
    except Exception as exc:  # bookkeeping must never fail the request it rides on
        log.warning("could not record the use of key %s: %s", caller.key_id, type(exc).__name__)


async def optional_caller(
    request: Request,
    session: SessionDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller | None:
    """The caller of a valid `Authorization: Bearer` key; None without the header; 401 if bad."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("Use `Authorization: Bearer <key>`.")
    caller = await service.caller_of(session, secret.strip())
    if caller is None:
        raise _unauthorized("The API key is unknown or revoked.")
    await _touch(request, caller)
    return caller


def require_role(role: str) -> Callable[..., Awaitable[Caller]]:
    """Dependency factory: a caller of at least `role` (401 without a key, 403 below it)."""

    async def dependency(caller: Annotated[Caller | None, Depends(optional_caller)]) -> Caller:
        if caller is None:
            raise _unauthorized("This operation needs an API key.")
        if not caller.has(role):
            raise Problem(
                403,
                f"This operation needs the {role} role; the key is {caller.role}.",
                type_="forbidden",
            )
        return caller

    dependency.required_role = role  # type: ignore[attr-defined]
    return dependency


async def read_access(
    request: Request, caller: Annotated[Caller | None, Depends(optional_caller)]
) -> None:
    """Reads are public unless BW_PUBLIC_READ=false; then any valid key may read."""
    if caller is None and not request.app.state.settings.public_read:
        raise _unauthorized("Reads need an API key on this server.")


ReadAccess = Depends(read_access)
Analyst = Annotated[Caller, Depends(require_role("analyst"))]
Editor = Annotated[Caller, Depends(require_role("editor"))]
Admin = Annotated[Caller, Depends(require_role("admin"))]


def _calls(dependant: Dependant) -> set[Any]:
    """Every dependency callable in a route's dependency tree."""
    found = set()
    for sub in dependant.dependencies:
        found.add(sub.call)
        found |= _calls(sub)
    return found


def document_optional_keys(app: FastAPI, openapi: dict[str, Any]) -> dict[str, Any]:
    """Mark the reads that need no key on this server (BW_PUBLIC_READ) as such in the OpenAPI
    document: `security: [{}, {"HTTPBearer": []}]`, anonymous or with a key."""
    if not app.state.settings.public_read:
        return openapi
    for route in iter_route_contexts(app.routes):  # included routers' routes too
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant):
            continue
        calls = _calls(dependant)
        if read_access not in calls or any(hasattr(c, "required_role") for c in calls):
            continue
        item = openapi.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is not None and operation.get("security"):
                operation["security"] = [{}, *operation["security"]]
    return openapi
