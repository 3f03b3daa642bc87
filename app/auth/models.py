"""ORM model of API keys: the SHA-256 of each secret, never the secret itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    LargeBinary,
    Text,
    column,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.roles import ROLES
from app.core.db import Base


class ApiKey(Base):
    """An API key: its role and the SHA-256 of the secret, never the secret itself."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("btrim(name) <> '' AND length(name) <= 200", name="name"),
        CheckConstraint(column("role").in_(ROLES), name="role"),
        CheckConstraint("length(prefix) BETWEEN 8 AND 32", name="prefix"),
        CheckConstraint("length(key_hash) = 32", name="key_hash"),
        CheckConstraint("revoked_at >= created_at", name="revoked_after_created"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
