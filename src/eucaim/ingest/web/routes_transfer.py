"""Step 4: transfer: start, pause, resume and retry-failed push runs; live progress by polling JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
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
    return _transfer_page(request, notice=notice)


def _transfer_page(request: Request, notice: str = "", rate_error: str = "", rate: str = "") -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    job = settings.jobs.current
    # The run on screen, as the command line would have started it (with its --max-rate).
    push_command = job.command if job is not None and job.kind == "push" else cli(settings, "push")
    return render(
        request,
        "transfer.html",
        "transfer",
        status_code=422 if rate_error else 200,
        snap=_snapshot(request),
        notice=notice,
        rate_error=rate_error,
        rate=rate,
        commands=[
            push_command,
            cli(settings, "push", "--retry-quarantined"),
            cli(settings, "status"),
        ],
    )


@router.get("/transfer/progress")
def transfer_progress(request: Request) -> JSONResponse:
    """Polled by the page's script every second; the same numbers the page renders."""
    return JSONResponse(_snapshot(request))


@router.post("/transfer/start")
def transfer_start(request: Request, max_rate: Annotated[str, Form()] = "") -> Response:
    """Start (or resume: the same thing) a push; it continues wherever the last one stopped."""
    settings = settings_of(request)
    rate: float | None = None
    if max_rate.strip():
        try:
            rate = float(max_rate)
        except ValueError:
            rate = -1.0
        if not 0.01 <= rate <= 10_000:
            return _transfer_page(request, rate_error="transfer.rate_bad", rate=max_rate)

    def work(job: Job) -> str:
        with open_workspace(settings) as ws:
            return run_push(ws, job, max_rate=rate)

    command = cli(settings, "push", *(["--max-rate", str(rate)] if rate else []))
    if not settings.jobs.start(Job("push", command), work):
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
    return transfer_start(request, "")
