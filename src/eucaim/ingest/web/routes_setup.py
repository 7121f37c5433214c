"""Steps 1 and 2: connect to the node (init form, doctor checks as a job), choose sources (folder, PACS)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.errors import EucaimError
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.doctor import run_checks
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.upload.http import check_url_security
from eucaim.ingest.web.deps import UiSettings, cli, has_workspace, open_workspace, render, settings_of
from eucaim.ingest.web.jobs import Job
from eucaim.ingest.web.messages import text
from eucaim.ingest.web.routes_pacs import pacs_context
from eucaim.ingest.workspace import Workspace

router = APIRouter()
DOCTOR = "doctor"


@router.get("/", response_class=HTMLResponse)
def connect_page(request: Request) -> Response:
    """The init form, or the doctor checklist (run as a job the first time the page is seen)."""
    settings = settings_of(request)
    if not has_workspace(settings):
        return render(
            request,
            "connect.html",
            "connect",
            form={},
            errors={},
            doctor=None,
            node=None,
            commands=[cli(settings, "init", "--node", "URL", "--biobank", "CODE", "--token-file", "FILE")],
        )
    with open_workspace(settings) as ws:
        node = ws.config.node
    if DOCTOR not in settings.jobs.last:
        start_doctor(settings)
    doctor = settings.jobs.last.get(DOCTOR)
    checks = doctor.detail.get("checks") if doctor is not None else None
    return render(
        request,
        "connect.html",
        "connect",
        form={},
        errors={},
        doctor=doctor,
        checks=checks,
        node=node,
        failed=sum(1 for c in checks or [] if not c.ok),
        commands=[cli(settings, "doctor")],
    )


def start_doctor(settings: UiSettings) -> bool:
    """Run ``eucaim-ingest doctor`` beside other jobs (it only reads); False while it already runs."""

    def work(job: Job) -> str:
        checks = run_checks(settings.workspace)
        job.detail["checks"] = checks
        job.detail["at"] = datetime.now().strftime("%H:%M:%S")
        failed = sum(1 for c in checks if not c.ok)
        return f"{failed} check(s) failed" if failed else "every check passed"

    started = settings.jobs.start(Job(DOCTOR, cli(settings, "doctor")), work, exclusive=False)
    if started:
        # Local checks answer at once; a slow node shows the running job.
        settings.jobs.wait(timeout=1.0, kind=DOCTOR)
    return started


@router.post("/doctor", response_class=HTMLResponse)
def doctor_again(request: Request) -> Response:
    settings = settings_of(request)
    if has_workspace(settings):
        start_doctor(settings)  # already running: the page shows that run
    return RedirectResponse("/", status_code=303)


@router.post("/init", response_class=HTMLResponse)
def init_workspace(
    request: Request,
    node: Annotated[str, Form()] = "",
    biobank: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
) -> Response:
    """Create the workspace as ``eucaim-ingest init --node --biobank --token`` does."""
    settings = settings_of(request)
    errors: dict[str, str] = {}
    node, biobank = node.strip(), biobank.strip()
    if not node.startswith(("http://", "https://")):
        errors["node"] = text("connect.node_missing")
    else:
        try:
            check_url_security(node)
        except EucaimError as exc:
            errors["node"] = str(exc)
    if not biobank:
        errors["biobank"] = text("connect.biobank_missing")
    if not token.strip():
        errors["token"] = text("connect.token_missing")
    if errors:
        return render(
            request,
            "connect.html",
            "connect",
            status_code=422,
            form={"node": node, "biobank": biobank},
            errors=errors,
            doctor=None,
            node=None,
            commands=[
                cli(
                    settings,
                    "init",
                    "--node",
                    node or "URL",
                    "--biobank",
                    biobank or "CODE",
                    "--token-file",
                    "FILE",
                )
            ],
        )
    Workspace.create(settings.workspace, NodeConfig(url=node, biobank=biobank), token=token).close()
    settings.jobs.last.pop(DOCTOR, None)  # the new workspace gets its own checks
    return RedirectResponse("/", status_code=303)


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, dir: str | None = None) -> Response:
    return render_sources(request, dir)


def render_sources(
    request: Request,
    dir: str | None = None,
    pacs_messages: dict[str, str] | None = None,
    pacs_form: dict[str, str] | None = None,
) -> Response:
    """The sources page; ``pacs_messages`` are the PACS actions' outcomes, shown next to their forms."""
    settings = settings_of(request)
    root = settings.browse_root.resolve()
    current = Path(dir).resolve() if dir else root
    error = None
    if not _inside(root, current):
        error, current = "sources.outside", root
    elif not current.is_dir():
        error, current = "sources.missing", root
    subdirs = sorted(
        (p for p in current.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )
    totals, problems = None, []
    if has_workspace(settings):
        with open_workspace(settings) as ws:
            totals = ws.state.totals()
            problems = ws.state.scan_problems()
    return render(
        request,
        "sources.html",
        "sources",
        status_code=422 if pacs_messages and any(k.endswith("error") for k in pacs_messages) else 200,
        root=root,
        current=current,
        subdirs=subdirs,
        parent=current.parent if current != root else None,
        error=error,
        totals=totals,
        problems=problems,
        messages=pacs_messages or {},
        pacs_form=pacs_form or {},
        commands=[cli(settings, "scan", str(current))],
        **pacs_context(settings),
    )


@router.post("/sources/scan", response_class=HTMLResponse)
def scan_folder(request: Request, path: Annotated[str, Form()] = "") -> Response:
    """Index a folder in the background, as ``eucaim-ingest scan PATH`` does."""
    settings = settings_of(request)
    root = settings.browse_root.resolve()
    folder = Path(path).resolve() if path else root
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    if not _inside(root, folder) or not folder.is_dir():
        return sources_page(request, dir=str(root))

    def work(job: Job) -> str:
        with open_workspace(settings) as ws:
            summary = scan_paths(ws.state, [folder])
        return f"{summary.indexed} indexed, {len(summary.problems)} not usable"

    started = settings.jobs.start(Job("scan", cli(settings, "scan", str(folder))), work)
    if not started:
        return render(request, "busy.html", "sources", commands=[])
    settings.jobs.wait(timeout=2.0)  # small folders finish at once; larger ones show the running job
    return RedirectResponse("/sources?" + urlencode({"dir": str(folder)}), status_code=303)
