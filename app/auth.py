"""API keys (stored only as hashes), roles, and the dependencies that enforce them."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, LargeBinary, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, SessionDep
from app.errors import Problem

KEY_PREFIX = "bw_"
ROLES = ("reader", "analyst", "editor", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}


class ApiKey(Base):
    """An API key: its role and the SHA-256 of the secret, never the secret itself."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def new_secret() -> str:
    """A new key: recognisable prefix plus 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    """SHA-256 of a key; keys are high-entropy, so a fast hash cannot be brute-forced."""
    return hashlib.sha256(secret.encode()).digest()


async def create_key(
    session: AsyncSession, name: str, role: str, created_by: int | None = None
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret, which is shown only this once."""
    if role not in RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    secret = new_secret()
    key = ApiKey(
        name=name,
        role=role,
        prefix=secret[:12],
        key_hash=hash_secret(secret),
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    return key, secret


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id, name and role."""

    key_id: int
    name: str
    role: str

    def has(self, role: str) -> bool:
        """Whether this caller's role is at least `role`."""
        return RANK[self.role] >= RANK[role]


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        detail,
        type_="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="borderwatch"'},
    )


async def optional_caller(request: Request, session: SessionDep) -> Caller | None:
    """The caller of a valid `Authorization: Bearer` key; None without the header; 401 if bad."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("Use `Authorization: Bearer <key>`.")
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.revoked_at).where(
                ApiKey.key_hash == hash_secret(secret.strip())
            )
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        raise _unauthorized("The API key is unknown or revoked.")
    return Caller(key_id=row.id, name=row.name, role=row.role)


def require_role(role: str) -> Callable[[Caller | None], Awaitable[Caller]]:
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

    return dependency


async def read_access(
    request: Request, caller: Annotated[Caller | None, Depends(optional_caller)]
) -> None:
    """Reads are public unless BW_PUBLIC_READ=false; then any valid key may read."""
    if caller is None and not request.app.state.settings.public_read:
        raise _unauthorized("Reads need an API key on this server.")


ReadAccess = Depends(read_access)
