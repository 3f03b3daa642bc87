"""API keys: made with a random secret, stored as its hash, looked up, listed and revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.roles import ROLES, at_least
from app.core import audit
from app.core.errors import NotFound

KEY_PREFIX = "bw_"


def new_secret() -> str:
    """A new key: recognisable prefix plus 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    """SHA-256 of a key; keys are high-entropy, so a fast hash cannot be brute-forced."""
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id, name and role."""

    key_id: int
    name: str
    role: str
    last_used_at: datetime | None = None

    def has(self, role: str) -> bool:
        """Whether this caller's role is at least `role`."""
        return at_least(self.role, role)


async def create_key(
    session: AsyncSession, name: str, role: str, created_by: int | None = None
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret, which is shown only this once."""
    if role not in ROLES:
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


async def issue_key(
    session: AsyncSession, name: str, role: str, created_by: int
) -> tuple[ApiKey, str]:
    """A new key made by an admin, audited in the same transaction."""
    key, secret = await create_key(session, name, role, created_by=created_by)
    await audit.record(
        session, created_by, "api_key.create", "api_key", str(key.id), role=key.role, name=key.name
    )
    await session.flush()
    await session.refresh(key)
    return key, secret


async def caller_of(session: AsyncSession, secret: str) -> Caller | None:
    """The caller a live key belongs to; None for an unknown or revoked key."""
    row = (
        await session.execute(
            select(
                ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.revoked_at, ApiKey.last_used_at
            ).where(ApiKey.key_hash == hash_secret(secret))
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return Caller(key_id=row.id, name=row.name, role=row.role, last_used_at=row.last_used_at)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, newest first."""
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.id.desc())))


async def revoke_key(session: AsyncSession, key_id: int, by: int) -> None:
    """Revoke a key (harmless when it already is), audited; NotFound for an unknown id."""
    if await session.scalar(select(ApiKey.id).where(ApiKey.id == key_id)) is None:
        raise NotFound(f"No API key {key_id}.")
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    await audit.record(session, by, "api_key.revoke", "api_key", str(key_id))


async def touch(pool: Any, key_id: int) -> None:
    """Record that a key was used now (at most once a minute per key), on its own connection
    so that a read-only request stays read-only."""
    await pool.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND "
        "(last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        key_id,
    )
