"""The roles of API keys, declared once: reader < analyst < editor < admin."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["reader", "analyst", "editor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
RANK = {role: i for i, role in enumerate(ROLES)}


def at_least(role: str, required: str) -> bool:
    """Whether `role` ranks at or above `required`."""
    return RANK[role] >= RANK[required]
