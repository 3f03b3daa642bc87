"""Liveness and readiness probes (root paths, not under /v1)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from app.core.errors import problem_response, unavailable
from app.core.migrations import current_revision

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """The answer of a ready server."""

    model_config = ConfigDict(extra="forbid")

    status: str = "ready"
    database: str = "ok"
    migration: str | None


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always 200 while the process runs; touches nothing else."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrated to head",
    responses={
        200: {"model": Readiness, "description": "Ready"},
        503: {"description": "Database unreachable or not migrated to head"},
    },
)
async def readyz(request: Request) -> Any:
    """200 when PostgreSQL answers within the readiness timeout and is at the head revision."""
    settings = request.app.state.settings
    head: str = request.app.state.head_revision
    try:
        current = await asyncio.wait_for(
            current_revision(request.app.state.engine), settings.readiness_timeout_s
        )
    except Exception as exc:  # any failure to read the revision means "not ready"
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return problem_response(
            unavailable(f"The database is not reachable ({reason}).", settings.retry_after_s),
            request,
        )
    if current != head:
        return problem_response(
            unavailable(
                f"The database is at migration {current}, not {head}.", settings.retry_after_s
            ),
            request,
        )
    return JSONResponse({"status": "ready", "database": "ok", "migration": current})
