"""Idempotency-Key for POST (IETF draft-ietf-httpapi-idempotency-key-header, Stripe's model).

The whole exchange happens in the request's own transaction: a transaction-level advisory
lock on (API key, Idempotency-Key) makes a concurrent holder of the same key answer 409 at
once; the stored response is written in the same transaction as the incident it describes,
so a replay exists exactly when the write committed, and a crash leaves nothing behind.
Validation failures store nothing (the client may fix the body and retry with the same key).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    Text,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.errors import Conflict, Invalid

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
TTL = timedelta(hours=24)
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the draft's sf-string allows


class IdempotencyKey(Base):
    """A completed request's response, kept 24 hours for replay."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("length(key) BETWEEN 1 AND 255", name="key"),
        CheckConstraint("length(request_hash) = 32", name="request_hash"),
        CheckConstraint("response_status BETWEEN 100 AND 599", name="response_status"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    api_key_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary)
    response_status: Mapped[int] = mapped_column(SmallInteger)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at = mapped_column(
        DateTime(timezone=True),
        server_default=text("(now() + '24:00:00'::interval)"),
        nullable=False,
    )


@dataclass(frozen=True)
class Stored:
    """A response to replay."""

    status: int
    headers: dict[str, str]
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """What makes two requests "the same": method, path and the exact body bytes."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()


async def claim(
    session: AsyncSession, api_key_id: int, key: str, method: str, path: str, body: bytes
) -> Stored | None:
    """Hold `key` for this transaction; the stored response when it was already used.

    409 while another transaction holds it; 422 when it was used for another request.
    """
    if not KEY_RE.match(key):
        raise Invalid(
            [{"field": HEADER, "message": "must be 1–255 visible ASCII characters"}],
            f"{HEADER} must be 1–255 visible ASCII characters.",
        )
    locked = await session.scalar(
        select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"{api_key_id}:{key}", 0)))
    )
    if not locked:
        raise Conflict(
            f"A request with this {HEADER} is still being processed; retry "
            "later to get its response.",
            retry_after=1,
        )
    scope = (IdempotencyKey.api_key_id == api_key_id) & (IdempotencyKey.key == key)
    await session.execute(
        delete(IdempotencyKey).where(scope, IdempotencyKey.expires_at <= func.now())
    )
    row = (await session.execute(select(IdempotencyKey).where(scope))).scalar_one_or_none()
    if row is None:
        return None
    if row.request_hash != fingerprint(method, path, body):
        raise Invalid(
            [{"field": HEADER, "message": "reused with a different body"}],
            f"This {HEADER} was used for a different request; use a new key.",
        )
    assert row.response_status is not None and row.response_body is not None
    return Stored(row.response_status, dict(row.response_headers or {}), row.response_body)


async def remember(
    session: AsyncSession,
    api_key_id: int,
    key: str,
    method: str,
    path: str,
    request_body: bytes,
    response: Stored,
) -> None:
    """Store the response in the caller's transaction, next to the write it reports."""
    await session.execute(
        insert(IdempotencyKey).values(
            api_key_id=api_key_id,
            key=key,
            request_hash=fingerprint(method, path, request_body),
            response_status=response.status,
            response_headers=response.headers,
            response_body=response.body,
        )
    )


def replay(stored: Stored) -> Response:
    """The stored response again, marked as a replay."""
    return Response(
        stored.body,
        status_code=stored.status,
        media_type="application/json",
        headers={**stored.headers, REPLAYED: "true"},
    )


async def idempotent(
    request: Request,
    session: AsyncSession,
    api_key_id: int,
    key: str | None,
    write: Callable[[], Awaitable[Response]],
) -> Response:
    """Run a write under an Idempotency-Key, all in one transaction: claim the key (409 if a
    concurrent request holds it), replay the stored response if it was used for this same
    request, else write, remember the response beside the write, and commit both."""
    body = await request.body()
    if key is not None:
        stored = await claim(session, api_key_id, key, request.method, request.url.path, body)
        if stored is not None:
            return replay(stored)
    response = await write()
    if key is not None:
        headers = {k: v for k, v in response.headers.items() if k in ("location", "etag")}
        kept = Stored(response.status_code, headers, bytes(response.body))
        await remember(session, api_key_id, key, request.method, request.url.path, body, kept)
    await session.commit()
    return response
