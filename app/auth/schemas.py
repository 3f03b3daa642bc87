"""Input and output models of API keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.roles import Role


class KeyIn(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=200,
        # No NUL anywhere (PostgreSQL text cannot hold it; `\S` alone would match one).
        pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
        examples=["Jane Doe (analyst)"],
    )
    role: Role


class KeyOut(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: int
    name: str
    role: Role
    prefix: str = Field(description="First characters of the key, to recognise it")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="Last use, to the minute")


class NewKeyOut(KeyOut):
    """A new key, with its secret shown this once."""

    key: str = Field(description="The secret; store it now, it is never shown again")


class KeyList(BaseModel):
    """All keys, newest first."""

    model_config = ConfigDict(extra="forbid")

    items: list[KeyOut]
