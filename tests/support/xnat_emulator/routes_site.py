"""Site-level routes: login and JSESSION, version, data-model schemas and search elements.

These are the calls ``xnat.connect()`` makes before any data is touched (see the emulator README):
``GET /``, ``PUT /data/services/auth``, ``GET /data/auth``, ``GET /data/JSESSION``, ``GET /data/version``
(404 on XNAT >= 1.7), ``GET /xapi/siteConfig/buildInfo``, ``GET /xapi/schemas[/{name}]`` and
``GET /data/search/elements[/{xsi}]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from . import views
from .http_error import HttpError

if TYPE_CHECKING:
    from .emulator import XnatEmulator

SCHEMA_DIR = Path(__file__).parent / "schemas"
XNAT_VERSION = "1.8.10"
SESSION_COOKIE = "JSESSIONID"

# Data types listed by /data/search/elements, and the display fields each one offers.
SEARCH_ELEMENTS: dict[str, tuple[str, ...]] = {
    "xnat:projectData": ("ID", "SECONDARY_ID", "NAME", "DESCRIPTION", "KEYWORDS", "PI", "INSERT_DATE"),
    "xnat:subjectData": ("SUBJECT_ID", "SUBJECT_LABEL", "GENDER_TEXT", "AGE", "INSERT_DATE", "INSERT_USER"),
    "xnat:mrSessionData": ("SESSION_ID", "LABEL", "DATE", "SUBJECT_ID", "SCANNER", "MR_SCAN_COUNT_AGG"),
    "xnat:ctSessionData": ("SESSION_ID", "LABEL", "DATE", "SUBJECT_ID", "SCANNER"),
    "xnat:petSessionData": ("SESSION_ID", "LABEL", "DATE", "SUBJECT_ID", "SCANNER"),
    "xnat:otherDicomSessionData": ("SESSION_ID", "LABEL", "DATE", "SUBJECT_ID"),
    "xnat:mrScanData": ("IMAGE_SESSION_ID", "TYPE", "SERIES_DESCRIPTION", "QUALITY"),
    "xnat:ctScanData": ("IMAGE_SESSION_ID", "TYPE", "SERIES_DESCRIPTION", "QUALITY"),
}


def _emulator(request: Request) -> XnatEmulator:
    emulator: XnatEmulator = request.app.state.emulator
    return emulator


async def root(request: Request) -> Response:
    """The start page; shows who is logged in, the way xnatpy's guest check reads it."""
    login = request.state.login
    if login is None:
        return HTMLResponse(
            '<html><body><form name="form1" method="post" action="/xnat/login"></form></body></html>'
        )
    return HTMLResponse(
        '<html><body><span id="user_info">Logged in as: &nbsp;'
        f'<a id="username-link" href="/app/template/XDATScreen_UpdateUser.vm">{login}</a>'
        "</span></body></html>"
    )


async def login(request: Request) -> Response:
    """``PUT /data/services/auth`` (form: username, password); body and cookie are the JSESSIONID."""
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    emulator = _emulator(request)
    account = emulator.security.check_password(username, password)
    if account is None:
        return HTMLResponse("<html><body><h3>Login attempt failed. Please try again.</h3></body></html>", 401)
    token = emulator.security.open_session(account)
    response = PlainTextResponse(token)
    set_session_cookies(response, token, emulator.security.session_timeout, emulator.store.clock())
    return response


def set_session_cookies(response: Response, token: str, timeout: float, now: float) -> None:
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True)
    # xnatpy reads this cookie to time its keep-alive heartbeat ("<millis>,<timeout millis>").
    response.set_cookie("SESSION_EXPIRATION_TIME", f'"{int(now * 1000)},{int(timeout * 1000)}"', path="/")


async def auth_status(request: Request) -> Response:
    return PlainTextResponse(f"User '{request.state.login}' is logged in")


async def jsession(request: Request) -> Response:
    """GET returns the caller's session ID; DELETE ends it (always 200, like XNAT's logout)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if request.method == "DELETE":
        _emulator(request).security.close_session(token)
        return PlainTextResponse("")
    return PlainTextResponse(request.state.session_token or token)


async def version(request: Request) -> Response:
    raise HttpError(
        404, "The /data/version resource does not exist on XNAT 1.7 and later; see /xapi/siteConfig/buildInfo"
    )


async def build_info(request: Request) -> Response:
    return JSONResponse(
        {"version": XNAT_VERSION, "buildNumber": "emulator", "commit": "emulator", "isRelease": "true"}
    )


async def schemas(request: Request) -> Response:
    return JSONResponse(sorted(p.stem for p in SCHEMA_DIR.glob("*.xsd")))


async def schema(request: Request) -> Response:
    name = str(request.path_params["name"]).rsplit("/", 1)[-1].removesuffix(".xsd")
    path = SCHEMA_DIR / f"{name}.xsd"
    if not name.isidentifier() or not path.is_file():
        raise HttpError(404, f"No schema named {name}")
    return Response(path.read_bytes(), media_type="application/xml")


async def search_elements(request: Request) -> Response:
    store = _emulator(request).store
    rows = []
    for element in SEARCH_ELEMENTS:
        count = sum(1 for e in store.experiments.values() if e.xsi_type == element)
        singular = element.split(":")[1].removesuffix("Data")
        rows.append(
            {"ELEMENT_NAME": element, "SINGULAR": singular, "PLURAL": f"{singular}s", "COUNT": str(count)}
        )
    return JSONResponse(views.result_set(rows))


async def search_element_fields(request: Request) -> Response:
    element = str(request.path_params["element"])
    fields = SEARCH_ELEMENTS.get(element)
    if fields is None:
        raise HttpError(404, f"No search element {element}")
    rows = [{"FIELD_ID": f, "HEADER": f.replace("_", " ").title(), "TYPE": "string"} for f in fields]
    return JSONResponse(views.result_set(rows))


async def issue_token(request: Request) -> Response:
    """``GET /data/services/tokens/issue``: a new alias token and secret for the caller."""
    alias, secret = _emulator(request).security.issue_alias_token(request.state.login)
    expires = int((_emulator(request).store.clock() + 2 * 24 * 3600) * 1000)
    return JSONResponse({"alias": alias, "secret": secret, "estimatedExpirationTime": expires})


async def access_levels(request: Request) -> Response:
    """``/xapi/access/projects``: the caller's role per project they can see."""
    emulator = _emulator(request)
    login = request.state.login
    rows = []
    for project in emulator.store.projects.values():
        role = project.roles.get(login)
        if role is not None:
            rows.append({"ID": project.id, "role": role.group})
        elif emulator.security.is_admin(login):
            rows.append({"ID": project.id, "role": "Owners"})
    return JSONResponse(rows)
