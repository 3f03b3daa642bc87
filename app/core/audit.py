"""The audit log of writes other than incidents (whose revisions are their own audit trail)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    func,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class AuditEntry(Base):
    """One write: who (API key), when, what action on which entity."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(r"action ~ '^[a-z_]+\.[a-z_]+$'", name="action"),
        CheckConstraint("entity_type ~ '^[a-z_]+$'", name="entity_type"),
        CheckConstraint("length(entity_id) BETWEEN 1 AND 200", name="entity_id"),
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_actor_key_id_at", "actor_key_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_key_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    action: Mapped[str] = mapped_column(Text)
    entity_type: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


async def record(
    session: AsyncSession,
    actor_key_id: int | None,
    action: str,
    entity_type: str,
    entity_id: str,
    **detail: Any,
) -> None:
    """Append an entry in the caller's transaction, so it commits with the write or not at all."""
    await session.execute(
        insert(AuditEntry).values(
            actor_key_id=actor_key_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            detail=detail,
        )
    )
