"""ORM models of incidents and the rows they own (tables made by migration 0001)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Incident(Base):
    """One incident; totals are the sums of its casualty rows (checked by the database)."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    occurred_on: Mapped[date] = mapped_column(Date)
    date_precision: Mapped[str] = mapped_column(Text, server_default="day")
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    geo_precision: Mapped[str] = mapped_column(Text, server_default="exact")
    place_name: Mapped[str | None] = mapped_column(Text)
    province_code: Mapped[str] = mapped_column(Text, ForeignKey("provinces.code"))
    district_slug: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, server_default="attack")
    attack_type: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str] = mapped_column(Text)
    perpetrator_slug: Mapped[str] = mapped_column(
        Text, ForeignKey("actors.slug"), server_default="unknown"
    )
    attribution: Mapped[str] = mapped_column(Text, server_default="unattributed")
    killed_total: Mapped[int] = mapped_column(Integer, server_default="0")
    injured_total: Mapped[int] = mapped_column(Integer, server_default="0")
    fatality_low: Mapped[int | None] = mapped_column(Integer)
    fatality_high: Mapped[int | None] = mapped_column(Integer)
    crossing_slug: Mapped[str | None] = mapped_column(Text, ForeignKey("crossing_points.slug"))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="reported")
    is_synthetic: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Casualty(Base):
    """Killed and injured of one category in one incident."""

    __tablename__ = "casualties"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(Text, primary_key=True)
    killed: Mapped[int] = mapped_column(Integer, server_default="0")
    injured: Mapped[int] = mapped_column(Integer, server_default="0")


class IncidentSource(Base):
    """A published source of an incident, in the order given."""

    __tablename__ = "incident_sources"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(Text)
    published_on: Mapped[date | None] = mapped_column(Date)
    title: Mapped[str | None] = mapped_column(Text)


class IncidentTag(Base):
    """A lowercase tag on an incident."""

    __tablename__ = "incident_tags"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(Text, primary_key=True)


class IncidentRevision(Base):
    """One write to an incident: history, change feed and versions read these rows."""

    __tablename__ = "incident_revisions"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("incidents.id"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(
        BigInteger, server_default=text("nextval('change_seq')"), unique=True
    )
    op: Mapped[str] = mapped_column(Text)
    actor_key_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    changed_fields: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
