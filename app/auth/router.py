"""HTTP routes to manage API keys (admin only); every change lands in the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.auth import service
from app.auth.dependencies import Admin
from app.auth.schemas import KeyIn, KeyList, KeyOut, NewKeyOut
from app.core.db import SessionDep
from app.core.params import require_json

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid API key"},
    403: {"description": "Not an admin key"},
}
WRITE_ERRORS = {**ERRORS, 415: {"description": "The body is not sent as JSON"}}


@router.post(
    "", status_code=201, response_model=NewKeyOut, summary="Create a key", responses=WRITE_ERRORS
)
async def create(
    session: SessionDep,
    caller: Admin,
    _json: Annotated[None, Depends(require_json)],
    body: KeyIn,
) -> NewKeyOut:
    """A new key; its secret is in this response only."""
    key, secret = await service.issue_key(session, body.name, body.role, caller.key_id)
    await session.commit()
    return NewKeyOut(**KeyOut.model_validate(key).model_dump(), key=secret)


@router.get("", response_model=KeyList, summary="List keys", responses=ERRORS)
async def list_keys(session: SessionDep, _: Admin) -> KeyList:
    """Every key with its role and state; secrets are never stored, so never shown."""
    return KeyList(items=[KeyOut.model_validate(k) for k in await service.list_keys(session)])


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke a key",
    responses={**ERRORS, 404: {"description": "No such key"}},
)
async def revoke(
    session: SessionDep, caller: Admin, key_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    """Revoke a key at once; it answers 401 from now on. Revoking twice is harmless."""
    await service.revoke_key(session, key_id, caller.key_id)
    await session.commit()
    return Response(status_code=204)
