"""The statistics rollups as Core tables (made by migrations 0001_schema and 0004_stats_rollups,
kept exact in SQL by app/stats/rollup.py); declared so that the drift test covers them like
every other table."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    column,
    or_,
    text,
)

from app.core.db import Base
from app.core.errors import register_internal_constraints
from app.reference.vocab import LIVE_STATUSES, VOCABULARIES

KINDS = VOCABULARIES["kind"]
COUNTED_STATUSES = LIVE_STATUSES
CATEGORIES = VOCABULARIES["casualty_category"]
COUNTS = ("killed", "injured", "incidents")
# '' is the incident-level row (all categories, each incident counted once).
ANY_CATEGORY = or_(column("category") == "", column("category").in_(CATEGORIES))
# `categories` is a bitmask over the five casualty categories.
CATEGORY_MASK = "categories BETWEEN 0 AND 31"


def _text(name: str, default: str | None = None) -> Column[str]:
    return Column(
        name, Text, nullable=False, server_default=None if default is None else text(default)
    )


def _category() -> list[Column[str] | Column[int]]:
    """The category ('' for the incident-level row) and the categories mask."""
    return [
        _text("category", "''"),
        Column("categories", SmallInteger, nullable=False, server_default=text("0")),
    ]


def _counts() -> list[Column[int] | CheckConstraint]:
    """killed, injured and incidents, never below zero: a write that would take a bucket
    below zero means the rollup drifted, and fails."""
    return [
        *(Column(name, BigInteger, nullable=False, server_default=text("0")) for name in COUNTS),
        *(CheckConstraint(f"{name} >= 0", name=name) for name in COUNTS),
    ]


# day x province x district x perpetrator x attack type x kind x status x category: any
# filter or grouping. District '' is "no district".
fatality_rollup = Table(
    "fatality_rollup",
    Base.metadata,
    Column("day", Date, nullable=False),
    _text("province_code"),
    _text("district_slug", "''"),
    _text("perpetrator_slug"),
    _text("attack_type"),
    _text("kind"),
    _text("status"),
    *_category(),
    *_counts(),
    CheckConstraint(column("kind").in_(KINDS), name="kind"),
    CheckConstraint(column("status").in_(COUNTED_STATUSES), name="status"),
    CheckConstraint(ANY_CATEGORY, name="category"),
    CheckConstraint(CATEGORY_MASK, name="categories"),
    UniqueConstraint(
        "day",
        "province_code",
        "district_slug",
        "perpetrator_slug",
        "attack_type",
        "kind",
        "status",
        "category",
        "categories",
        name="uq_fatality_rollup_bucket",
    ),
)

# day x province x kind x status x category: the dashboard's usual questions.
fatality_daily = Table(
    "fatality_daily",
    Base.metadata,
    Column("day", Date, nullable=False),
    _text("province_code"),
    _text("kind"),
    _text("status"),
    *_category(),
    *_counts(),
    CheckConstraint(column("kind").in_(KINDS), name="kind"),
    CheckConstraint(column("status").in_(COUNTED_STATUSES), name="status"),
    CheckConstraint(ANY_CATEGORY, name="category"),
    CheckConstraint(CATEGORY_MASK, name="categories"),
    UniqueConstraint(
        "day",
        "province_code",
        "kind",
        "status",
        "category",
        "categories",
        name="uq_fatality_daily_bucket",
    ),
)

# fatality_daily by month, for month, quarter and year series.
fatality_monthly = Table(
    "fatality_monthly",
    Base.metadata,
    Column("month", Date, nullable=False),
    _text("province_code"),
    _text("kind"),
    _text("status"),
    *_category(),
    *_counts(),
    CheckConstraint("extract(day FROM month) = 1", name="month"),
    CheckConstraint(ANY_CATEGORY, name="category"),
    UniqueConstraint(
        "month",
        "province_code",
        "kind",
        "status",
        "category",
        "categories",
        name="uq_fatality_monthly_bucket",
    ),
)

# fatality_rollup by month for one of district, perpetrator or attack type at a time.
fatality_monthly_dim = Table(
    "fatality_monthly_dim",
    Base.metadata,
    Column("month", Date, nullable=False),
    _text("province_code"),
    _text("dimension"),
    _text("value"),
    _text("kind"),
    _text("status"),
    *_category(),
    *_counts(),
    CheckConstraint("extract(day FROM month) = 1", name="month"),
    CheckConstraint(
        column("dimension").in_(("district", "perpetrator", "attack_type")), name="dimension"
    ),
    UniqueConstraint(
        "dimension",
        "month",
        "province_code",
        "value",
        "kind",
        "status",
        "category",
        "categories",
        name="uq_fatality_monthly_dim_bucket",
    ),
)

# Which fine dimensions a fatality_dim row is broken down by; value1 and value2 hold their
# values in this order.
DIMS = (
    "",
    "district",
    "perpetrator",
    "attack_type",
    "district,perpetrator",
    "district,attack_type",
    "perpetrator,attack_type",
)
GRAINS = ("day", "week", "month")

# Day, ISO week and month x province x none, one or two of district, perpetrator and attack
# type (pairs by week and month only) x kind x status, without categories (made by migration
# 0004_stats_rollups): every question that names no category, each incident counted once.
fatality_dim = Table(
    "fatality_dim",
    Base.metadata,
    _text("dims"),
    _text("grain"),
    Column("start", Date, nullable=False),
    _text("province_code"),
    _text("value1", "''"),
    _text("value2", "''"),
    _text("kind"),
    _text("status"),
    *_counts(),
    CheckConstraint(column("dims").in_(DIMS), name="dims"),
    CheckConstraint(column("grain").in_(GRAINS), name="grain"),
    CheckConstraint(
        "grain = 'day' OR (grain = 'week' AND extract(isodow FROM start) = 1) "
        "OR (grain = 'month' AND extract(day FROM start) = 1)",
        name="start",
    ),
    CheckConstraint("grain <> 'day' OR dims NOT LIKE '%,%'", name="pairs"),
    UniqueConstraint(
        "dims",
        "grain",
        "province_code",
        "start",
        "value1",
        "value2",
        "kind",
        "status",
        name="uq_fatality_dim_bucket",
        # Read by index-only scans (migration 0004_stats_rollups).
        postgresql_include=list(COUNTS),
    ),
)


SERIES_BLOCK = 64  # units a fatality_series row holds (migration 0006_stats_answers)
# fatality_dim's series in blocks of SERIES_BLOCK consecutive units (days, ISO weeks or
# months from 2001-01-01), one array per count (made by migration 0006_stats_answers).
fatality_series = Table(
    "fatality_series",
    Base.metadata,
    _text("dims"),
    _text("grain"),
    _text("province_code"),
    _text("value1", "''"),
    _text("value2", "''"),
    _text("kind"),
    _text("status"),
    Column("block", Integer, nullable=False),
    *(Column(name, ARRAY(BigInteger), nullable=False) for name in COUNTS),
    CheckConstraint("block >= 0", name="block"),
    CheckConstraint(
        " AND ".join(f"cardinality({name}) = {SERIES_BLOCK}" for name in COUNTS), name="length"
    ),
    PrimaryKeyConstraint(
        "dims",
        "grain",
        "province_code",
        "block",
        "value1",
        "value2",
        "kind",
        "status",
        name="pk_fatality_series",
    ),
)

# Counts below zero mean the rollups drifted from the data: a defect, never the client's.
register_internal_constraints(
    f"ck_{table.name}_{count}"
    for table in (
        fatality_rollup,
        fatality_daily,
        fatality_monthly,
        fatality_monthly_dim,
        fatality_dim,
    )
    for count in COUNTS
)
