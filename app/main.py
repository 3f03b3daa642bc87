"""The FastAPI application: create_app() and the lifespan that owns the database engine."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

# Every domain's ORM models, imported here so that foreign keys between packages resolve
# and Base.metadata holds the whole schema (migrations/env.py and the drift test read it).
from app import __version__
from app.auth import models as auth_models
from app.auth.dependencies import document_optional_keys
from app.auth.router import router as apikeys_router
from app.core import audit, dataversion, idempotency
from app.core.config import Settings, cors_origins, get_settings
from app.core.db import create_engine, create_probe_pool, create_read_pool, create_sessionmaker
from app.core.docs import install_docs
from app.core.errors import document_problems, install_error_handlers, problems_router
from app.core.health import router as health_router
from app.core.middleware import BodyLimit, Cors, LastResort
from app.core.migrations import head_revision
from app.core.openapi import add_referenced
from app.core.params import reject_unknown_query
from app.crossings import models as crossings_models
from app.crossings.router import router as crossings_router
from app.crossings.stats_router import router as crossing_stats_router
from app.exports.router import router as exports_router
from app.geo.ogc.router import router as ogc_router
from app.geo.tiles_router import router as tiles_router
from app.incidents import models as incidents_models
from app.incidents.lane import ListLane
from app.incidents.router import router as incidents_router
from app.reference import models as reference_models
from app.reference.router import router as reference_router
from app.stats import models as stats_models
from app.stats.cache import StatsCache
from app.stats.router import router as stats_router

MODELS = (
    auth_models,
    audit,
    dataversion,
    idempotency,
    reference_models,
    crossings_models,
    incidents_models,
    stats_models,
)

DESCRIPTION = """
Borderwatch records militant attacks in Pakistan's border regions since the Taliban took
Kabul on 15 August 2021: incidents, casualties, perpetrators and the border crossings.

Reads are public unless the server says otherwise; writes need an API key
(`Authorization: Bearer <key>`). Every error is `application/problem+json` (RFC 9457).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the engine is created when the lifespan starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.probe = await create_probe_pool(settings)
        app.state.reads = await create_read_pool(settings)
        # What is loaded by now (the modules, the app, the schemas) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise walk it all
        # every few hundred requests that allocate (a statistics answer's rows).
        if not gc.get_freeze_count():  # once per process, not once per app (tests make many)
            gc.freeze()
        try:
            yield
        finally:
            await app.state.reads.close()
            await app.state.probe.close()
            await engine.dispose()

    app = FastAPI(
        dependencies=[Depends(reject_unknown_query)],
        title="Borderwatch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "MIT"},
        docs_url=None,  # install_docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.head_revision = head_revision()
    install_error_handlers(app, settings.retry_after_s)
    install_docs(app)
    app.include_router(health_router)
    app.include_router(problems_router)
    app.include_router(reference_router)
    app.include_router(crossings_router)
    app.include_router(incidents_router)
    app.include_router(apikeys_router)
    app.include_router(stats_router)
    app.include_router(crossing_stats_router)
    app.include_router(exports_router)
    app.include_router(tiles_router)
    app.include_router(ogc_router)
    # The last added runs first: CORS wraps everything, so every answer carries its headers.
    app.add_middleware(BodyLimit)
    app.add_middleware(StatsCache)
    app.add_middleware(ListLane)
    app.add_middleware(LastResort)
    if origins := cors_origins(settings):
        app.add_middleware(Cors, origins=origins)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = add_referenced(FastAPI.openapi(app))
            app.openapi_schema = document_problems(document_optional_keys(app, schema))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
