"""ORM models of crossing points and their status events (tables made by migration 0001_schema,
versions and the no-overlap constraint by 0009_crossing_events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Text,
    column,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import DATERANGE, ExcludeConstraint
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.errors import (
    register_conflict_constraints,
    register_constraint_fields,
    register_server_owned,
)
from app.reference.vocab import VOCABULARIES

# The CHECKs of migration 0001_schema; the drift test (tests/core/test_migrations.py) holds
# them equal. Constraint names get their table in front (NAMING_CONVENTION).
IN_REGION = "ST_X(geom) BETWEEN 60 AND 78 AND ST_Y(geom) BETWEEN 23 AND 38"
HTTP_URL = "'^https?://[^[:space:]/?#]+[^[:space:]]*$'"
OVERLAP = "ex_crossing_status_events_overlap"


class CrossingPoint(Base):
    """A Pakistan-Afghanistan crossing point."""

    __tablename__ = "crossing_points"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80", name="slug"),
        CheckConstraint("btrim(name) <> '' AND length(name) <= 200", name="name"),
        CheckConstraint(IN_REGION, name="geom_region"),
        CheckConstraint("province_code LIKE 'PK-%'", name="province_pakistan"),
        CheckConstraint("length(afghan_name) <= 200", name="afghan_name"),
        CheckConstraint("afghan_province_code LIKE 'AF-%'", name="afghan_province"),
        CheckConstraint("length(notes) <= 2000", name="notes"),
        CheckConstraint("version >= 1", name="version"),
        ForeignKeyConstraint(
            ["district_slug", "province_code"],
            ["districts.slug", "districts.province_code"],
            name="fk_crossing_points_district_province_districts",
            onupdate="CASCADE",
        ),
        Index("ix_crossing_points_geog", text("(geom::geography)"), postgresql_using="gist"),
    )

    slug: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    province_code: Mapped[str] = mapped_column(
        Text, ForeignKey("provinces.code", onupdate="CASCADE")
    )
    district_slug: Mapped[str | None] = mapped_column(Text)
    afghan_name: Mapped[str | None] = mapped_column(Text)
    afghan_province_code: Mapped[str | None] = mapped_column(
        Text, ForeignKey("provinces.code", onupdate="CASCADE")
    )
    notified_for_trade: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    pedestrians: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    notes: Mapped[str | None] = mapped_column(Text)
    # Moves with every change to what GET /v1/crossings/{slug} shows: its fields and its
    # status events (the ETag; PATCH needs it in If-Match).
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CrossingStatusEvent(Base):
    """One period of a crossing's status; the current status is derived from these."""

    __tablename__ = "crossing_status_events"
    __table_args__ = (
        CheckConstraint(column("status").in_(VOCABULARIES["crossing_status"]), name="status"),
        CheckConstraint("length(reason) <= 2000", name="reason"),
        CheckConstraint(
            f"source_url ~* {HTTP_URL} AND length(source_url) <= 2048", name="source_url"
        ),
        CheckConstraint("valid_to >= valid_from", name="period"),
        CheckConstraint("version >= 1", name="version"),
        # No day of a crossing in two statuses, whoever writes (migration 0009): the service
        # refuses an overlap first under a lock on the crossing, naming the event.
        ExcludeConstraint(
            (column("crossing_slug"), "="),
            (func.daterange(column("valid_from"), column("valid_to"), "[]", type_=DATERANGE), "&&"),
            name=OVERLAP,
            using="gist",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    crossing_slug: Mapped[str] = mapped_column(
        Text, ForeignKey("crossing_points.slug", onupdate="CASCADE", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    # Moves with every change to the event (its ETag; PATCH and DELETE need it in If-Match),
    # including the end a later event gave it.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The equality half of the EXCLUDE on a text column needs btree_gist's operator class
# (a trusted extension: the database's owner may create it). Migration 0009 creates it too.
def _btree_gist(_table: Any, connection: Connection, **_: Any) -> None:
    connection.execute(text("CREATE EXTENSION IF NOT EXISTS btree_gist"))


event.listen(CrossingStatusEvent.__table__, "before_create", _btree_gist)

register_conflict_constraints(
    {OVERLAP: "The period overlaps another status event of this crossing; nothing was stored."}
)
register_constraint_fields(
    {
        "ck_crossing_points_slug": "slug",
        "ck_crossing_points_name": "name",
        "ck_crossing_points_geom_region": "location",
        "ck_crossing_points_province_pakistan": "province",
        "fk_crossing_points_province_code_provinces": "province",
        "fk_crossing_points_district_province_districts": "district",
        "ck_crossing_points_afghan_name": "afghan_side.name",
        "ck_crossing_points_afghan_province": "afghan_side.province",
        "fk_crossing_points_afghan_province_code_provinces": "afghan_side.province",
        "ck_crossing_points_notes": "notes",
        "ck_crossing_status_events_status": "status",
        "ck_crossing_status_events_reason": "reason",
        "ck_crossing_status_events_source_url": "source_url",
        "ck_crossing_status_events_period": "to",
    }
)
register_server_owned({"current_status", "status_history"})
