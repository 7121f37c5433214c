"""What every route shares: the UI's settings, the open workspace, page rendering and CLI hints."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from eucaim.ingest.web.jobs import JobRunner
from eucaim.ingest.web.messages import text
from eucaim.ingest.web.oidc_signin import DeviceSignIn
from eucaim.ingest.web.password import Throttle
from eucaim.ingest.web.sessions import Sessions
from eucaim.ingest.workspace import Workspace

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["t"] = text

# The stepper: (key, path). Order is the order a data manager follows.
STEPS: tuple[tuple[str, str], ...] = (
    ("connect", "/"),
    ("sources", "/sources"),
    ("review", "/review"),
    ("transfer", "/transfer"),
    ("clinical", "/clinical"),
    ("dataset", "/dataset"),
    ("status", "/status"),
)


@dataclass
class UiSettings:
    """One server's settings: the workspace it serves, where the folder picker may look, the access token.

    ``token`` is this run's start token (the printed link); ``sessions`` are the signed-in browsers,
    ``throttle`` slows password guessing, ``sign_ins`` are OIDC device sign-ins in progress.
    """

    workspace: Path
    browse_root: Path
    token: str
    jobs: JobRunner = field(default_factory=JobRunner)
    sessions: Sessions = field(default_factory=Sessions)
    throttle: Throttle = field(default_factory=Throttle)
    sign_ins: dict[str, DeviceSignIn] = field(default_factory=dict)
    # Per-server memory of the page flow (last clinical file, last PACS search); reloads keep it.
    clinical_file: Path | None = None
    pacs_found: list[Any] = field(default_factory=list)
    pacs_unmatched: list[str] = field(default_factory=list)
    pacs_search: list[str] = field(default_factory=list)  # the last search's CLI options


def settings_of(request: Request) -> UiSettings:
    settings: UiSettings = request.app.state.ui
    return settings


def has_workspace(settings: UiSettings) -> bool:
    return (settings.workspace / "config.toml").is_file()


@contextmanager
def open_workspace(settings: UiSettings) -> Iterator[Workspace]:
    """The workspace for one request (its own DB connection, closed afterwards)."""
    with Workspace.open(settings.workspace) as ws:
        yield ws


def upload_path(folder: Path, filename: str | None) -> Path | None:
    """Where an uploaded file goes inside ``folder``: its base name only, or None if it has none.

    A crafted name ("../config.toml", "..") must not write outside ``folder`` or onto it.
    """
    name = Path(filename or "").name
    if name in ("", ".", ".."):
        return None
    folder.mkdir(exist_ok=True, mode=0o700)
    return folder / name


def cli(settings: UiSettings, *args: str) -> str:
    """The command line that does what a page's action does, ready to copy."""
    return shlex.join(["eucaim-ingest", *args, "-w", str(settings.workspace)])


def render(request: Request, name: str, step: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page of the stepper; ``context['commands']`` lists what the CLI would run."""
    settings = settings_of(request)
    job = settings.jobs.current
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "steps": STEPS,
            "step": step,
            "job": job,
            "busy": settings.jobs.busy,
            "has_workspace": has_workspace(settings),
            "session": getattr(request.state, "session", None),
            **context,
        },
        status_code=status_code,
    )
