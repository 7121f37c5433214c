"""The web application's factory: routes, static files and the access-token check in front of them.

Access: the server prints a URL with a random token when it starts (as Jupyter does). Opening it
sets an HttpOnly, SameSite=Strict cookie; every other request without that cookie goes to the
sign-in page. SameSite=Strict also keeps other sites' pages from posting forms here.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from eucaim.ingest.web import routes_data, routes_pacs, routes_review, routes_setup, routes_transfer
from eucaim.ingest.web.deps import TEMPLATES, UiSettings, settings_of

COOKIE = "eucaim_ingest_ui"
OPEN_PATHS = ("/login", "/static/")


def new_token() -> str:
    """A fresh access token for one server run."""
    return secrets.token_urlsafe(24)


def create_app(settings: UiSettings) -> FastAPI:
    """The web UI for ``settings.workspace``."""
    app = FastAPI(title="eucaim-ingest ui", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = settings
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith(OPEN_PATHS) or _signed_in(request):
            response = await call_next(request)
        else:
            response = RedirectResponse("/login", status_code=303)
        # The pages show workspace data: nothing may be cached or framed by another site.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
        return response

    @app.get("/login")
    def login_page(request: Request, token: str | None = None) -> Response:
        if token is not None:
            return _sign_in(request, token)
        return TEMPLATES.TemplateResponse(request, "login.html", {"error": None})

    @app.post("/login")
    def login_form(request: Request, token: Annotated[str, Form()] = "") -> Response:
        return _sign_in(request, token)

    @app.get("/job")
    def job_state(request: Request) -> JSONResponse:
        """The current long operation, polled by pages while it runs."""
        job = settings_of(request).jobs.current
        if job is None:
            return JSONResponse({"status": None})
        return JSONResponse({"kind": job.kind, "status": job.status.value, "result": job.result})

    app.include_router(routes_setup.router)
    app.include_router(routes_pacs.router)
    app.include_router(routes_review.router)
    app.include_router(routes_transfer.router)
    app.include_router(routes_data.router)
    return app


def _signed_in(request: Request) -> bool:
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie, settings_of(request).token)


def _sign_in(request: Request, token: str) -> Response:
    if not secrets.compare_digest(token.strip(), settings_of(request).token):
        return TEMPLATES.TemplateResponse(request, "login.html", {"error": "login.bad"}, status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, settings_of(request).token, httponly=True, samesite="strict")
    return response
