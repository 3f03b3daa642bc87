"""Reference data: provinces, districts (KP and Balochistan as of 2024, Islamabad), actors,
crossing points and their closures.

The facts are frozen beside this migration in migrations/data/; later corrections come as
new migrations. Rows are inserted only when absent, so an editor's changes are never undone.

Revision ID: 0002_reference_data
Revises: 0001_schema
Create Date: 2026-11-27
"""

import csv
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002_reference_data"
down_revision: str | None = "0001_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA = Path(__file__).resolve().parent.parent / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _aliases(value: str) -> list[str]:
    return [a.strip() for a in value.split("|") if a.strip()]


def _flag(value: str) -> bool:
    return value.strip().lower() == "true"


def _none(value: str) -> str | None:
    return value.strip() or None


def _insert(sql: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        op.get_bind().execute(sa.text(sql), rows)


def upgrade() -> None:
    _insert(
        "INSERT INTO provinces (code, name) VALUES (:code, :name) ON CONFLICT DO NOTHING",
        [{"code": r["code"], "name": r["name"]} for r in _rows("provinces.csv")],
    )
    _insert(
        "INSERT INTO districts (slug, name, province_code, is_merged, aliases)"
        " VALUES (:slug, :name, :province, :is_merged, :aliases) ON CONFLICT DO NOTHING",
        [
            {
                "slug": r["slug"],
                "name": r["name"],
                "province": r["province"],
                "is_merged": _flag(r["is_merged"]),
                "aliases": _aliases(r["aliases"]),
            }
            for r in _rows("districts.csv")
        ],
    )
    _insert(
        "INSERT INTO actors (slug, name, aliases, is_state_force, description)"
        " VALUES (:slug, :name, :aliases, :state, :description) ON CONFLICT DO NOTHING",
        [
            {
                "slug": r["slug"],
                "name": r["name"],
                "aliases": _aliases(r["aliases"]),
                "state": _flag(r["is_state_force"]),
                "description": _none(r["description"]),
            }
            for r in _rows("actors.csv")
        ],
    )
    _insert(
        "INSERT INTO crossing_points (slug, name, geom, province_code, district_slug, afghan_name,"
        " afghan_province_code, notified_for_trade, pedestrians, notes)"
        " VALUES (:slug, :name, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :province, :district,"
        " :afghan_name, :afghan_province, :trade, :pedestrians, :notes) ON CONFLICT DO NOTHING",
        [
            {
                "slug": r["slug"],
                "name": r["name"],
                "lon": float(r["lon"]),
                "lat": float(r["lat"]),
                "province": r["province"],
                "district": _none(r["district"]),
                "afghan_name": _none(r["afghan_name"]),
                "afghan_province": _none(r["afghan_province"]),
                "trade": _flag(r["notified_for_trade"]),
                "pedestrians": _flag(r["pedestrians"]),
                "notes": _none(r["notes"]),
            }
            for r in _rows("crossings.csv")
        ],
    )
    _insert(
        "INSERT INTO crossing_status_events (crossing_slug, status, valid_from, valid_to, reason,"
        " source_url) VALUES (:slug, :status, :from, :to, :reason, :url)"
        " ON CONFLICT DO NOTHING",
        [
            {
                "slug": r["slug"],
                "status": r["status"],
                "from": date.fromisoformat(r["from"]),
                "to": date.fromisoformat(r["to"]) if r["to"] else None,
                "reason": _none(r["reason"]),
                "url": _none(r["source_url"]),
            }
            for r in _rows("closures.csv")
        ],
    )


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM crossing_status_events WHERE created_by IS NULL"))
    bind.execute(
        sa.text("DELETE FROM crossing_points WHERE slug = ANY(:s)"),
        {"s": [r["slug"] for r in _rows("crossings.csv")]},
    )
    bind.execute(
        sa.text("DELETE FROM actors WHERE slug = ANY(:s)"),
        {"s": [r["slug"] for r in _rows("actors.csv")]},
    )
    bind.execute(
        sa.text("DELETE FROM districts WHERE slug = ANY(:s)"),
        {"s": [r["slug"] for r in _rows("districts.csv")]},
    )
    bind.execute(
        sa.text("DELETE FROM provinces WHERE code = ANY(:s)"),
        {"s": [r["code"] for r in _rows("provinces.csv")]},
    )
