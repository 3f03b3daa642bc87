"""ORM models of provinces, districts and actors (tables made by migration 0001_schema)."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base

# The CHECKs of migration 0001_schema; the drift test (tests/core/test_migrations.py) holds
# them equal. Constraint names get their table in front (NAMING_CONVENTION).
SLUG = "slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80"
NAME = "btrim(name) <> '' AND length(name) <= 200"


class Province(Base):
    """A first-level administrative unit, keyed by its ISO 3166-2 code."""

    __tablename__ = "provinces"
    __table_args__ = (
        CheckConstraint("code ~ '^(PK|AF)-[A-Z]{2,3}$'", name="code"),
        CheckConstraint(NAME, name="name"),
        Index("ix_provinces_geom", "geom", postgresql_using="gist"),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    country: Mapped[str] = mapped_column(Text, Computed("left(code, 2)", persisted=True))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)


class District(Base):
    """A district, keyed by its slug, with its province and the merged-district flag."""

    __tablename__ = "districts"
    __table_args__ = (
        CheckConstraint(SLUG, name="slug"),
        CheckConstraint(NAME, name="name"),
        UniqueConstraint("slug", "province_code", name="uq_districts_slug_province_code"),
        Index("ix_districts_province_code", "province_code"),
        Index("ix_districts_geom", "geom", postgresql_using="gist"),
    )

    slug: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    province_code: Mapped[str] = mapped_column(
        Text, ForeignKey("provinces.code", onupdate="CASCADE")
    )
    is_merged: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)


class Actor(Base):
    """An armed group or state force that incidents name as perpetrator."""

    __tablename__ = "actors"
    __table_args__ = (
        CheckConstraint(SLUG, name="slug"),
        CheckConstraint(NAME, name="name"),
        CheckConstraint("length(description) <= 2000", name="description"),
    )

    slug: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    is_state_force: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BoundaryPart(Base):
    """A piece (at most 256 vertices) of a loaded boundary, kept by the triggers of migration
    0010_boundaries from provinces.geom and districts.geom: incidents are placed by these."""

    __tablename__ = "boundary_parts"
    __table_args__ = (
        CheckConstraint("level IN ('province', 'district')", name="level"),
        Index("ix_boundary_parts_province_code_level", "province_code", "level"),
        Index("ix_boundary_parts_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    level: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text)  # province code or district slug
    province_code: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)
