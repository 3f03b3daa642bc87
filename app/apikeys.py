"""HTTP routes to manage API keys (admin only); every change lands in the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from app import audit
from app.auth import ApiKey, Caller, create_key, require_role
from app.db import SessionDep
from app.errors import Problem

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
Admin = Annotated[Caller, Depends(require_role("admin"))]


class KeyIn(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]*\S[^\x00]*$",
        examples=["Jane Doe (analyst)"],
    )
    role: Literal["reader", "analyst", "editor", "admin"]


class KeyOut(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    prefix: str = Field(description="First characters of the key, to recognise it")
    created_at: datetime
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    """A new key, with its secret shown this once."""

    key: str = Field(description="The secret; store it now, it is never shown again")


class KeyList(BaseModel):
    """All keys, newest first."""

    items: list[KeyOut]


ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid API key"},
    403: {"description": "Not an admin key"},
}


@router.post(
    "", status_code=201, response_model=NewKeyOut, summary="Create a key", responses=ERRORS
)
async def create(session: SessionDep, caller: Admin, body: KeyIn) -> NewKeyOut:
    """A new key; its secret is in this response only."""
    key, secret = await create_key(session, body.name, body.role, created_by=caller.key_id)
    await audit.record(
        session,
        caller.key_id,
        "api_key.create",
        "api_key",
        str(key.id),
        role=key.role,
        name=key.name,
    )
    await session.commit()
    await session.refresh(key)
    return NewKeyOut(
        id=key.id,
        name=key.name,
        role=key.role,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        key=secret,
    )


@router.get("", response_model=KeyList, summary="List keys", responses=ERRORS)
async def list_keys(session: SessionDep, caller: Admin) -> KeyList:
    """Every key with its role and state; secrets are never stored, so never shown."""
    keys = await session.scalars(select(ApiKey).order_by(ApiKey.id.desc()))
    return KeyList(items=[KeyOut.model_validate(k) for k in keys])


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
    if await session.scalar(select(ApiKey.id).where(ApiKey.id == key_id)) is None:
        raise Problem(404, f"No API key {key_id}.", type_="not-found")
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    await audit.record(session, caller.key_id, "api_key.revoke", "api_key", str(key_id))
    await session.commit()
    return Response(status_code=204)
