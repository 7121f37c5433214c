"""Step 4: transfer: start, pause, resume and retry-failed push runs; live progress by polling JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from eucaim.ingest.web.deps import cli, has_workspace, open_workspace, render, settings_of
from eucaim.ingest.web.jobs import Job
from eucaim.ingest.web.transfer import progress_snapshot, run_push

router = APIRouter()


def _snapshot(request: Request) -> dict[str, Any]:
    settings = settings_of(request)
    with open_workspace(settings) as ws:
        return progress_snapshot(ws, settings.jobs.current)


@router.get("/transfer", response_class=HTMLResponse)
def transfer_page(request: Request, notice: str = "") -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    return render(
        request,
        "transfer.html",
        "transfer",
        snap=_snapshot(request),
        notice=notice,
        commands=[
            cli(settings, "push"),
            cli(settings, "push", "--retry-quarantined"),
            cli(settings, "status"),
        ],
    )


@router.get("/transfer/progress")
def transfer_progress(request: Request) -> JSONResponse:
    """Polled by the page's script every second; the same numbers the page renders."""
    return JSONResponse(_snapshot(request))


@router.post("/transfer/start")
def transfer_start(request: Request) -> Response:
    """Start (or resume: the same thing) a push; it continues wherever the last one stopped."""
    settings = settings_of(request)

    def work(job: Job) -> str:
        with open_workspace(settings) as ws:
            return run_push(ws, job)

    if not settings.jobs.start(Job("push", cli(settings, "push")), work):
        return render(request, "busy.html", "transfer", commands=[])
    return RedirectResponse("/transfer", status_code=303)


@router.post("/transfer/pause")
def transfer_pause(request: Request) -> Response:
    job = settings_of(request).jobs.current
    if job is not None and job.kind == "push":
        job.pause_requested = True
    return RedirectResponse("/transfer", status_code=303)


@router.post("/transfer/retry")
def transfer_retry(request: Request) -> Response:
    """Requeue quarantined instances (``push --retry-quarantined``), then push them."""
    settings = settings_of(request)
    if settings.jobs.busy:
        return render(request, "busy.html", "transfer", commands=[])
    with open_workspace(settings) as ws:
        ws.state.requeue_quarantined()
    return transfer_start(request)
