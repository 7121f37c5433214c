"""The web application's factory: routes, static files, and the sign-in and same-origin checks in front.

Access: a browser gets in with the start link printed by ``eucaim-ingest ui`` (a random token per
run, as Jupyter does), the workspace's password, or the node's OIDC sign-in (``routes_login``).
Each opens a session whose random id sits in an HttpOnly, SameSite=Strict cookie; every other
request without one goes to the sign-in page. Form posts must come from this application's own
pages (Origin or Referer naming this host and port): SameSite alone would let another local
web application on a different port post forms here, since ports do not make sites.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from eucaim.ingest.web import (
    routes_biobank,
    routes_data,
    routes_dataset,
    routes_login,
    routes_nifti,
    routes_pacs,
    routes_profile,
    routes_review,
    routes_setup,
    routes_transfer,
)
from eucaim.ingest.web.deps import UiSettings, settings_of
from eucaim.ingest.web.routes_login import COOKIE

OPEN_PATHS = ("/login", "/static/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    """A fresh access token for one server run."""
    return secrets.token_urlsafe(24)


def is_same_origin(request: Request) -> bool:
    """True when the request's Origin (or, lacking it, its Referer) is this server itself.

    Behind a TLS proxy the browser names the proxy's host: the proxy passes it on as Host or as
    X-Forwarded-Host. A page of another site cannot set that header on a form post (a custom header
    makes the browser ask first, and this server answers no such question).
    """
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    parts = urlsplit(source)
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")} - {""}
    return parts.scheme in ("http", "https") and parts.netloc in hosts


def create_app(settings: UiSettings) -> FastAPI:
    """The web UI for ``settings.workspace``."""
    app = FastAPI(title="eucaim-ingest ui", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = settings
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    @app.middleware("http")
    async def require_session(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        session = settings_of(request).sessions.get(request.cookies.get(COOKIE, ""))
        request.state.session = session
        response: Response
        if request.method not in SAFE_METHODS and not is_same_origin(request):
            response = PlainTextResponse(
                "refused: this form was not sent from this application's own page; "
                "open the page again and send it from there",
                status_code=403,
            )
        elif path.startswith(OPEN_PATHS) or session is not None:
            response = await call_next(request)
        else:
            response = RedirectResponse("/login", status_code=303)
        # The pages show workspace data: nothing may be cached or framed by another site.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
        return response

    @app.get("/job")
    def job_state(request: Request, kind: str | None = None) -> JSONResponse:
        """The current long operation (or the last of ``kind``), polled by pages while it runs."""
        jobs = settings_of(request).jobs
        job = jobs.current if kind is None else jobs.last.get(kind)
        if job is None:
            return JSONResponse({"status": None})
        return JSONResponse(
            {"kind": job.kind, "status": job.status.value, "result": job.result, "progress": job.progress}
        )

    app.include_router(routes_login.router)
    app.include_router(routes_setup.router)
    app.include_router(routes_pacs.router)
    app.include_router(routes_review.router)
    app.include_router(routes_transfer.router)
    app.include_router(routes_data.router)
    app.include_router(routes_dataset.router)
    app.include_router(routes_biobank.router)
    app.include_router(routes_nifti.router)
    app.include_router(routes_profile.router)
    return app
