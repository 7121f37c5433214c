"""The FastAPI application factory of eucaim-node: no app or engine exists until it is called."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from eucaim import __version__
from eucaim.node.api.errors import register_exception_handlers
from eucaim.node.api.routes import accounts as account_routes
from eucaim.node.api.routes import biobank_requests as biobank_request_routes
from eucaim.node.api.routes import catalogue as catalogue_routes
from eucaim.node.api.routes import clinical as clinical_routes
from eucaim.node.api.routes import datasets as dataset_routes
from eucaim.node.api.routes import health, qido, stow, wado
from eucaim.node.api.routes import jobs as job_routes
from eucaim.node.context import NodeContext, build_context
from eucaim.node.jobs.worker import install_jobs
from eucaim.node.migration import upgrade_database
from eucaim.node.observability.install import install_observability
from eucaim.node.portal.mount import install_portal
from eucaim.node.settings import Settings

logger = logging.getLogger(__name__)

# A spool older than this belongs to no live request (uploads of hours are not expected).
STALE_SPOOL_AGE_S = 24 * 3600.0


def create_app(settings: Settings, *, context: NodeContext | None = None) -> FastAPI:
    """Return the node's application for ``settings``.

    ``context`` lets a caller that already built one (the CLI, a test) share its engine. The
    database schema is not touched here: run :func:`prepare_storage` (``serve`` does) first.
    """
    node = context or build_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        verifier = getattr(app.state, "oidc_verifier", None)
        if verifier is not None:
            verifier.close()  # its cached JWKS client holds connections to the issuer
        node.engine.dispose()

    app = FastAPI(
        title="eucaim-node",
        version=__version__,
        summary="EUCAIM reference node: per-biobank DICOMweb for de-identified imaging data.",
        lifespan=lifespan,
    )
    app.state.node = node
    register_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(account_routes.router)
    app.include_router(biobank_request_routes.router)
    app.include_router(stow.router)
    app.include_router(qido.router)
    # WADO after QIDO: /studies/{study}/series must reach the search, not a retrieve.
    app.include_router(wado.router)
    app.include_router(dataset_routes.router)
    app.include_router(job_routes.router)
    app.include_router(catalogue_routes.router)
    app.include_router(clinical_routes.router)
    install_portal(app)
    install_observability(app, engine=node.engine)
    install_jobs(app, node)
    return app


def prepare_storage(context: NodeContext) -> None:
    """Create the data folders and bring the embedded SQLite schema up to date.

    Other databases are left alone: upgrading shared PostgreSQL is an operator's step
    (``eucaim-node db upgrade``), not something each worker should race to do.
    """
    context.settings.data_dir.mkdir(parents=True, exist_ok=True)
    context.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    context.settings.resolved_store_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_spools(context.settings.tmp_dir, now=time.time())
    context.store.remove_leftovers(now=time.time())
    if context.settings.is_sqlite:
        upgrade_database(context.engine)


def remove_stale_spools(tmp_dir: Path, *, now: float, max_age_s: float = STALE_SPOOL_AGE_S) -> int:
    """Delete request spools a killed process left behind; return how many were removed.

    Only spools older than ``max_age_s`` go: other workers sharing the folder may be receiving now.
    """
    removed = 0
    for spool in tmp_dir.glob("stow-*"):
        try:
            if now - spool.stat().st_mtime > max_age_s:
                shutil.rmtree(spool, ignore_errors=True)
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        logger.info("removed %d stale STOW spool folder(s)", removed)
    return removed


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory eucaim.node.app:app_from_environment`` (settings from env)."""
    settings = Settings()
    context = build_context(settings)
    prepare_storage(context)
    return create_app(settings, context=context)
