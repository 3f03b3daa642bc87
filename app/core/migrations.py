"""Where the Alembic migrations live, which revision is head, and running them."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_ini() -> Path:
    """alembic.ini of this checkout: $BW_ALEMBIC_INI, ./alembic.ini, or beside the package."""
    candidates = [
        os.environ.get("BW_ALEMBIC_INI"),
        Path.cwd() / "alembic.ini",
        Path(__file__).resolve().parent.parent / "alembic.ini",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError("alembic.ini not found: set BW_ALEMBIC_INI")


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic Config for the migrations, bound to database_url when given."""
    config = Config(str(alembic_ini()))
    if database_url:
        # Config values go through ConfigParser interpolation, hence the doubled %.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The single head revision of the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def upgrade(database_url: str, revision: str = "head") -> None:
    """Run the migrations up to revision (blocking; call it outside the event loop)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Run the migrations down to revision (blocking; call it outside the event loop)."""
    command.downgrade(alembic_config(database_url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is migrated to (None before the first migration)."""
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
