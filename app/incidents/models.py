"""ORM models of incidents and the rows they own (tables made by migration 0001_schema)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    Uuid,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.errors import register_constraint_fields, register_server_owned
from app.reference.vocab import VOCABULARIES

# The CHECKs of migration 0001_schema; the drift test (tests/core/test_migrations.py) holds
# them equal. Constraint names get their table in front (NAMING_CONVENTION).
IN_REGION = "ST_X(geom) BETWEEN 60 AND 78 AND ST_Y(geom) BETWEEN 23 AND 38"
HTTP_URL = "'^https?://[^[:space:]/?#]+[^[:space:]]*$'"


def _vocabulary(name: str, vocabulary: str | None = None) -> CheckConstraint:
    """CHECK (name IN (...)) over one of the controlled vocabularies."""
    return CheckConstraint(column(name).in_(VOCABULARIES[vocabulary or name]), name=name)


def _owned_by_incident() -> ForeignKey:
    """The key of a row an incident owns: checked at commit, since a write stores the owned
    rows before the incident row whose stored document is built from them."""
    return ForeignKey("incidents.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED")


class Incident(Base):
    """One incident; totals are the sums of its casualty rows (checked by the database)."""

    __tablename__ = "incidents"
    __table_args__ = (
        # "Not in the future" only grows truer with time, so it is safe as a CHECK on write.
        CheckConstraint(
            "occurred_on >= DATE '2001-01-01'"
            " AND occurred_on <= (now() AT TIME ZONE 'Asia/Karachi')::date",
            name="occurred_on",
        ),
        _vocabulary("date_precision"),
        CheckConstraint(IN_REGION, name="geom_region"),
        _vocabulary("geo_precision"),
        CheckConstraint("length(place_name) <= 500", name="place_name"),
        _vocabulary("kind"),
        _vocabulary("attack_type"),
        _vocabulary("target_type"),
        _vocabulary("attribution"),
        CheckConstraint("killed_total BETWEEN 0 AND 50000", name="killed_total"),
        CheckConstraint("injured_total BETWEEN 0 AND 50000", name="injured_total"),
        CheckConstraint("fatality_low BETWEEN 0 AND 50000", name="fatality_low"),
        CheckConstraint("fatality_high BETWEEN 0 AND 50000", name="fatality_high"),
        CheckConstraint("length(description) <= 20000", name="description"),
        _vocabulary("status"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint(
            "(fatality_low IS NULL) = (fatality_high IS NULL)", name="fatality_range_pair"
        ),
        CheckConstraint(
            "fatality_low <= killed_total AND killed_total <= fatality_high", name="fatality_range"
        ),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        ForeignKeyConstraint(
            ["district_slug", "province_code"],
            ["districts.slug", "districts.province_code"],
            name="fk_incidents_district_province_districts",
        ),
        Index("ix_incidents_geom", "geom", postgresql_using="gist"),
        Index("ix_incidents_geog", text("(geom::geography)"), postgresql_using="gist"),
        Index(
            "ix_incidents_occurred_on_id",
            text("occurred_on DESC"),
            "id",
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Lists filtered on one province or group read these in list order (0007_csv_lines).
        Index(
            "ix_incidents_province_code_occurred_on_id",
            "province_code",
            text("occurred_on DESC"),
            "id",
        ),
        Index("ix_incidents_district_slug_occurred_on", "district_slug", "occurred_on"),
        Index(
            "ix_incidents_perpetrator_slug_occurred_on_id",
            "perpetrator_slug",
            text("occurred_on DESC"),
            "id",
        ),
        Index("ix_incidents_attack_type_occurred_on", "attack_type", "occurred_on"),
        Index("ix_incidents_updated_at", "updated_at"),
        Index(
            "ix_incidents_killed_total_live",
            text("killed_total DESC"),
            text("occurred_on DESC"),
            postgresql_where=text("deleted_at IS NULL AND status <> 'retracted'"),
        ),
        # Low-zoom vector tiles count live incidents in grid cells from it (0011_tiles).
        Index(
            "ix_incidents_tiles",
            "occurred_on",
            postgresql_include=[
                "geom",
                "killed_total",
                "kind",
                "province_code",
                "perpetrator_slug",
                "attack_type",
            ],
            postgresql_where=text("deleted_at IS NULL AND status <> 'retracted'"),
        ),
        Index("ix_incidents_created_by", "created_by"),
        Index(
            "ix_incidents_crossing_slug",
            "crossing_slug",
            postgresql_where=text("crossing_slug IS NOT NULL"),
        ),
    )

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
    # Rebuilt by the trigger tr_incidents_stored (migration 0003) on every write of the row:
    # the document as jsonb text (the bytes reads, lists, exports serve) and its GeoJSON
    # Feature. Its CSV line is in incident_csv_lines.
    document: Mapped[str] = mapped_column(Text, deferred=True)
    feature: Mapped[str] = mapped_column(Text, deferred=True)  # its GeoJSON Feature


# The CSV line of each live incident (neither deleted nor retracted), kept by the trigger
# tr_incidents_csv_line (migration 0007_csv_lines): incident_csv() of its stored document.
# Narrow rows, so the CSV export reads its lines without walking the incident rows.
incident_csv_lines = Table(
    "incident_csv_lines",
    Base.metadata,
    Column("id", Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("line", Text, nullable=False),
)


class Casualty(Base):
    """Killed and injured of one category in one incident."""

    __tablename__ = "casualties"
    __table_args__ = (
        _vocabulary("category", "casualty_category"),
        CheckConstraint("killed BETWEEN 0 AND 10000", name="killed"),
        CheckConstraint("injured BETWEEN 0 AND 10000", name="injured"),
        Index("ix_casualties_category", "category", "incident_id"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, _owned_by_incident(), primary_key=True)
    category: Mapped[str] = mapped_column(Text, primary_key=True)
    killed: Mapped[int] = mapped_column(Integer, server_default="0")
    injured: Mapped[int] = mapped_column(Integer, server_default="0")


class IncidentSource(Base):
    """A published source of an incident, in the order given."""

    __tablename__ = "incident_sources"
    __table_args__ = (
        CheckConstraint("position BETWEEN 0 AND 99", name="position"),
        CheckConstraint(f"url ~* {HTTP_URL} AND length(url) <= 2048", name="url"),
        CheckConstraint("length(publisher) <= 200", name="publisher"),
        CheckConstraint("length(title) <= 1000", name="title"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, _owned_by_incident(), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(Text)
    published_on: Mapped[date | None] = mapped_column(Date)
    title: Mapped[str | None] = mapped_column(Text)


class IncidentTag(Base):
    """A lowercase tag on an incident."""

    __tablename__ = "incident_tags"
    __table_args__ = (
        CheckConstraint("tag ~ '^[a-z0-9][a-z0-9_-]{0,63}$'", name="tag"),
        Index("ix_incident_tags_tag", "tag"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, _owned_by_incident(), primary_key=True)
    tag: Mapped[str] = mapped_column(Text, primary_key=True)


class IncidentRevision(Base):
    """One write to an incident: history, change feed and versions read these rows."""

    __tablename__ = "incident_revisions"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint(column("op").in_(("created", "updated", "deleted")), name="op"),
        CheckConstraint("(op = 'created') = (before IS NULL)", name="before"),
        CheckConstraint("(op = 'deleted') = (after IS NULL)", name="after"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("incidents.id"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    # From data_version (app/core/dataversion.py): commit-ordered, without gaps.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    op: Mapped[str] = mapped_column(Text)
    actor_key_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    changed_fields: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))


# Revisions of transactions not yet committed, and one mark per such transaction; the mark's
# deferred trigger moves the revisions into incident_revisions inside the COMMIT, numbered
# in commit order, and moves the rollups (migration 0005_changes_at_commit). Unlogged: no
# row outlives its transaction.
pending_revisions = Table(
    "pending_revisions",
    Base.metadata,
    Column("n", BigInteger, Identity(always=True), primary_key=True),
    Column(
        "xid",
        BigInteger,
        nullable=False,
        server_default=text("pg_current_xact_id()::text::bigint"),
    ),
    Column("incident_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    Column("op", Text, nullable=False),
    Column("actor_key_id", BigInteger),
    Column("changed_fields", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("before", JSONB(none_as_null=True)),
    Column("after", JSONB(none_as_null=True)),
    Index("ix_pending_revisions_xid_n", "xid", "n"),
    prefixes=["UNLOGGED"],
)
pending_commit = Table(
    "pending_commit",
    Base.metadata,
    Column(
        "xid",
        BigInteger,
        primary_key=True,
        server_default=text("pg_current_xact_id()::text::bigint"),
    ),
    prefixes=["UNLOGGED"],
)


register_constraint_fields(
    {
        "ck_incidents_occurred_on": "occurred_on",
        "ck_incidents_geom_region": "location",
        "ck_incidents_place_name": "place_name",
        "ck_incidents_description": "description",
        "ck_incidents_fatality_range": "fatality_range",
        "fk_incidents_province_code_provinces": "province",
        "fk_incidents_district_province_districts": "district",
        "fk_incidents_perpetrator_slug_actors": "perpetrator",
        "fk_incidents_crossing_slug_crossing_points": "crossing",
        "ck_incident_sources_url": "sources",
        "ck_incident_tags_tag": "tags",
        "pk_casualties": "casualties",
        "ck_casualties_killed": "casualties",
        "ck_casualties_injured": "casualties",
    }
)
register_server_owned({"killed_total", "injured_total", "created_by", "deleted_at", "is_synthetic"})
