"""Attach the portal to the node's application: its routers and its static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from eucaim.node.portal import (
    routes_admin,
    routes_member,
    routes_metadata,
    routes_oidc,
    routes_public,
    routes_requests,
    routes_users,
)

STATIC = Path(__file__).parent / "static"


def install_portal(app: FastAPI) -> None:
    """Serve the portal under /portal (pages) and /portal/static (CSS, JS, icons)."""
    app.mount("/portal/static", StaticFiles(directory=STATIC), name="portal-static")
    app.include_router(routes_oidc.router)
    app.include_router(routes_public.router)
    # The metadata form before the member routes: their /{action} would swallow /metadata.
    app.include_router(routes_metadata.router)
    app.include_router(routes_member.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_users.router)
    app.include_router(routes_requests.router)

    @app.get("/portal", include_in_schema=False)
    def portal_root() -> RedirectResponse:
        return RedirectResponse("/portal/", status_code=307)
