"""The emulator's ASGI app: routes, plus one middleware for aliases, authentication and faults.

The middleware, in order: rewrites ``/REST/...`` and ``/data/archive/...`` to ``/data/...``; records
the request; fires an armed failure; authenticates (JSESSIONID cookie, else HTTP Basic, which opens
a session and sets the cookie, as XNAT does) and answers 401 on a protected path without a user;
drops the connection of an import when a test armed that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import routes_services as services
from . import routes_site as site
from .http_error import HttpError
from .routes_archive import archive_endpoint

if TYPE_CHECKING:
    from .emulator import XnatEmulator

logger = logging.getLogger(__name__)

# Paths anyone may call without logging in (the login itself, and what xnatpy probes first).
OPEN_PATHS = frozenset({"/", "/data/services/auth", "/data/version", "/xapi/siteConfig/buildInfo"})


def normalise_path(path: str) -> str:
    """``/REST/x`` and ``/data/archive/x`` are XNAT aliases of ``/data/x``."""
    if path == "/REST" or path.startswith("/REST/"):
        path = "/data" + path[len("/REST") :]
    if path == "/data/archive" or path.startswith("/data/archive/"):
        path = "/data" + path[len("/data/archive") :]
    return path


class EmulatorMiddleware:
    """Aliases, request log, injected failures, authentication and dropped imports."""

    def __init__(self, app: ASGIApp, emulator: XnatEmulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = normalise_path(scope["path"])
        scope = dict(scope, path=path, raw_path=path.encode())
        method = scope["method"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        entry = self.emulator.log_request(method, path, query)
        send = self._recording(send, entry)
        rule = self.emulator.faults.take_failure(method, path)
        if rule is not None:
            await PlainTextResponse(rule.body, rule.status)(scope, receive, send)
            return
        login, token, is_new = self._authenticate(Headers(scope=scope))
        if login is None and (token == "rejected" or not self._is_open(method, path)):
            response = PlainTextResponse(
                "Authentication required: log in with PUT /data/services/auth or HTTP Basic",
                401,
                headers={"WWW-Authenticate": 'Basic realm="XNAT"'},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})
        scope["state"].update(login=login, session_token=token if login else None)
        if method == "POST" and path == "/data/services/import":
            after = self.emulator.faults.take_drop()
            if after is not None:
                await _drop_connection(receive, after)
                return
        if is_new and token:
            send = self._with_cookie(send, token)
        await self.app(scope, receive, send)

    @staticmethod
    def _is_open(method: str, path: str) -> bool:
        return path in OPEN_PATHS or (path == "/data/JSESSION" and method == "DELETE")

    def _authenticate(self, headers: Headers) -> tuple[str | None, str | None, bool]:
        """(login, session token, whether the session is new); token ``rejected`` for bad Basic auth."""
        security = self.emulator.security
        cookie = Request({"type": "http", "headers": headers.raw}).cookies.get(site.SESSION_COOKIE)
        if cookie:
            login = security.session_user(cookie)
            if login is not None:
                return login, cookie, False
        basic = security.basic_credentials(headers.get("authorization", ""))
        if basic is None:
            return None, None, False
        login = security.check_password(*basic)
        if login is None:
            return None, "rejected", False
        return login, security.open_session(login), True

    def _with_cookie(self, send: Send, token: str) -> Send:
        security, store = self.emulator.security, self.emulator.store

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                carrier = Response()
                site.set_session_cookies(carrier, token, security.session_timeout, store.clock())
                headers = MutableHeaders(scope=message)
                for key, value in carrier.raw_headers:
                    if key == b"set-cookie":
                        headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        return wrapped

    @staticmethod
    def _recording(send: Send, entry: dict[str, Any]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        return wrapped


async def _drop_connection(receive: Receive, after_bytes: int) -> None:
    """Read about ``after_bytes`` of the body, then reset the TCP connection without answering.

    ASGI has no way to drop a connection; uvicorn's ``receive`` is a method of its request cycle,
    which holds the asyncio transport, so the emulator aborts that (a real RST, as when a proxy or
    the server dies mid-upload).
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("Cannot drop the connection: the emulator must be served by uvicorn")
    received = 0
    while received < after_bytes:
        message = await receive()
        received += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    logger.info("Dropping the import connection after %d body bytes, as a test asked", received)
    transport.abort()
    # Let the loop run connection_lost, so uvicorn knows not to answer on the dead connection.
    await asyncio.sleep(0.05)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return PlainTextResponse(exc.message, exc.status)


def create_app(emulator: XnatEmulator) -> ASGIApp:
    """The ASGI app serving ``emulator``'s archive."""
    archive_methods = ["GET", "PUT", "DELETE", "POST"]
    routes = [
        Route("/", site.root),
        Route("/data/services/auth", site.login, methods=["PUT", "POST"]),
        Route("/data/auth", site.auth_status),
        Route("/data/JSESSION", site.jsession, methods=["GET", "DELETE"]),
        Route("/data/version", site.version),
        Route("/xapi/siteConfig/buildInfo", site.build_info),
        Route("/xapi/schemas", site.schemas),
        Route("/xapi/schemas/{name:path}", site.schema),
        Route("/xapi/access/projects", site.access_levels),
        Route("/data/search/elements", site.search_elements),
        Route("/data/search/elements/{element}", site.search_element_fields),
        Route("/data/services/import", services.import_service, methods=["POST"]),
        Route("/data/services/archive", services.archive_service, methods=["POST"]),
        Route("/data/services/tokens/issue", site.issue_token),
        Route("/data/services/prearchive/delete", services.prearchive_delete, methods=["POST"]),
        Route("/data/prearchive/projects", services.prearchive),
        Route("/data/prearchive/projects/{rest:path}", services.prearchive),
        Route("/data/{rest:path}", archive_endpoint, methods=archive_methods),
    ]
    app = Starlette(routes=routes, exception_handlers={HttpError: _http_error})
    app.state.emulator = emulator
    return EmulatorMiddleware(app, emulator)
