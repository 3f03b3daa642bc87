"""Settings read from the environment; every knob of the service lives here."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://borderwatch:borderwatch@127.0.0.1:5432/borderwatch"


def to_asyncpg_url(url: str) -> str:
    """Return a SQLAlchemy URL that uses the asyncpg driver, whatever scheme was given."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


class Settings(BaseSettings):
    """Runtime configuration; environment variables are prefixed `BW_` (DATABASE_URL also works)."""

    model_config = SettingsConfigDict(env_prefix="BW_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("BW_DATABASE_URL", "DATABASE_URL"),
        description="Primary PostgreSQL/PostGIS database (writes and reads).",
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=15_000, ge=0)
    connect_timeout_s: float = Field(default=3.0, gt=0)
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    public_read: bool = Field(default=True, description="Reads need no API key when true.")
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After on 503 answers.")
    cursor_secret: str | None = Field(
        default=None,
        description="Key that signs list cursors; default: derived from the database URL, "
        "the same for every worker that shares the database.",
    )
    stats_cache: bool = Field(
        default=True, description="Keep rendered statistics per data version in memory."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=500,
        description="The service's public base URL (https://api.example.org), written into "
        "documents that name absolute URLs (TileJSON, OGC links). Unset: the request's own "
        "scheme and Host, which a client chooses; set it wherever shared caches sit in front.",
    )
    tile_point_cap: int = Field(
        default=2000,
        ge=1,
        le=1_000_000,
        description="Most incidents a vector tile shows one by one; a tile that would hold "
        "more shows them aggregated on a grid (count and summed killed_total).",
    )
    cors_origins: str = Field(
        default="*",
        description="Comma-separated origins that browsers may call the API from: `*` for "
        "any (no credentials: the API uses no cookies), empty for none.",
    )

    @field_validator("database_url")
    @classmethod
    def _asyncpg(cls, v: str) -> str:
        return to_asyncpg_url(v)

    @field_validator("public_url", "cursor_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        # Compose passes an unset variable on as "" (BW_PUBLIC_URL: ${BW_PUBLIC_URL:-}).
        return None if v == "" else v


def cors_origins(settings: Settings) -> list[str]:
    """The origins of BW_CORS_ORIGINS, as a list (`["*"]` for any)."""
    return [o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()]


def cursor_key(settings: Settings) -> bytes:
    """The secret that signs list cursors."""
    return (settings.cursor_secret or settings.database_url).encode()


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once from the environment."""
    return Settings()
