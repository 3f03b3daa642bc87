"""The controlled vocabularies of SPEC "Vocabularies"; the database CHECKs hold the same codes."""

from __future__ import annotations

from typing import Literal, get_args

from app.auth.roles import Role

AttackType = Literal[
    "suicide_bombing",
    "ied",
    "armed_assault",
    "targeted_killing",
    "ambush",
    "rocket_mortar",
    "cross_border_fire",
    "air_drone_strike",
    "kidnapping",
    "other",
]
TargetType = Literal[
    "military",
    "paramilitary",
    "police",
    "civilians",
    "religious",
    "political",
    "government",
    "education",
    "health_polio",
    "foreign_nationals",
    "infrastructure",
    "militants",
    "other",
]
CasualtyCategory = Literal["security_forces", "police", "civilians", "militants", "unknown"]
DatePrecision = Literal["day", "week", "month"]
GeoPrecision = Literal["exact", "town", "district", "province"]
Attribution = Literal["claimed", "suspected", "unattributed"]
Status = Literal["reported", "verified", "disputed", "retracted"]
Kind = Literal["attack", "security_operation", "border_clash", "cross_border_strike"]
CrossingStatus = Literal["open", "closed", "restricted"]

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "attack_type": get_args(AttackType),
    "target_type": get_args(TargetType),
    "casualty_category": get_args(CasualtyCategory),
    "date_precision": get_args(DatePrecision),
    "geo_precision": get_args(GeoPrecision),
    "attribution": get_args(Attribution),
    "status": get_args(Status),
    "kind": get_args(Kind),
    "role": get_args(Role),
    "crossing_status": get_args(CrossingStatus),
}

# Statuses that lists, exports and statistics show: retracted incidents never appear.
LIVE_STATUSES: tuple[str, ...] = tuple(s for s in get_args(Status) if s != "retracted")


def live_statuses(values: list[str]) -> list[str]:
    """Check a status filter: only live statuses, with a reason when `retracted` is asked."""
    if "retracted" in values:
        raise ValueError("retracted incidents are never listed, exported or counted")
    unknown = [v for v in values if v not in LIVE_STATUSES]
    if unknown:
        raise ValueError(f"unknown value {unknown[0]!r}; one of {', '.join(LIVE_STATUSES)}")
    return values
