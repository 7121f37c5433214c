"""Step 4: transfer: start, pause, resume and retry-failed push runs; live progress by polling JSON."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from eucaim.ingest.web.deps import cli, has_workspace, open_workspace, render, settings_of
from eucaim.ingest.web.jobs import Job
from eucaim.ingest.web.transfer import (
    PushJob,
    TransferChoice,
    parse_choice,
    parse_resend,
    progress_snapshot,
    run_push,
)

router = APIRouter()


def _snapshot(request: Request) -> dict[str, Any]:
    settings = settings_of(request)
    with open_workspace(settings) as ws:
        return progress_snapshot(ws, settings.jobs.current)


@router.get("/transfer", response_class=HTMLResponse)
def transfer_page(request: Request, notice: str = "") -> Response:
    return _transfer_page(request, notice=notice)


def _transfer_page(
    request: Request,
    notice: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    job = settings.jobs.current
    last = job if isinstance(job, PushJob) else None
    # The run on screen, as the command line would have started it (with its options).
    push_command = job.command if job is not None and job.kind == "push" else cli(settings, "push")
    if form is None:  # the form starts from the last run's options (a resume keeps them)
        form = last.choice.form_values() if last is not None else TransferChoice().form_values()
    form = {"resend_kind": "study", "resend_mode": "resend", **form}
    with open_workspace(settings) as ws:
        transfer = ws.config.transfer
    return render(
        request,
        "transfer.html",
        "transfer",
        status_code=422 if errors else 200,
        snap=_snapshot(request),
        notice=notice,
        form=form,
        errors=errors or {},
        configured={
            "concurrency": transfer.concurrency,
            "workers": transfer.workers,
            "batch_mb": f"{transfer.batch_bytes / 1e6:g}",
        },
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
def transfer_start(
    request: Request,
    max_rate: Annotated[str, Form()] = "",
    window: Annotated[str, Form()] = "",
    concurrency: Annotated[str, Form()] = "",
    workers: Annotated[str, Form()] = "",
    batch_mb: Annotated[str, Form()] = "",
) -> Response:
    """Start (or resume: the same) a push with ``push``'s options; it continues where the last stopped."""
    form = {"max_rate": max_rate, "window": window, "concurrency": concurrency, "workers": workers,
            "batch_mb": batch_mb}  # fmt: skip
    choice, errors = parse_choice(form)
    if errors:
        return _transfer_page(request, form=form, errors=errors)
    return _start(request, choice)


@router.post("/transfer/resend")
def transfer_resend(
    request: Request,
    kind: Annotated[str, Form()] = "study",
    ids: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "resend",
) -> Response:
    """``push --resend``/``--reverify`` with a scope: verified instances go back to be sent, then a push."""
    with open_workspace(settings_of(request)) as ws:
        choice, errors = parse_resend(ws, {"kind": kind, "ids": ids, "mode": mode})
    if errors:
        form = {"resend_kind": kind, "resend_ids": ids, "resend_mode": mode}
        return _transfer_page(request, form=form, errors=errors)
    return _start(request, choice)


def _start(request: Request, choice: TransferChoice) -> Response:
    settings = settings_of(request)

    def work(job: Job) -> str:
        with open_workspace(settings) as ws:
            return run_push(ws, job, choice=choice)

    job = PushJob("push", cli(settings, "push", *choice.cli_args()), choice=choice)
    if not settings.jobs.start(job, work):
        return render(request, "busy.html", "transfer", commands=[])
    return RedirectResponse("/transfer", status_code=303)


@router.post("/transfer/pause")
def transfer_pause(request: Request) -> Response:
    """Batches in flight finish, nothing new is sent; a wait for the time window ends at once."""
    job = settings_of(request).jobs.current
    if isinstance(job, PushJob):
        job.request_pause()
    elif job is not None and job.kind == "push":
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
    job = settings.jobs.current
    choice = job.choice if isinstance(job, PushJob) else TransferChoice()
    return _start(request, dataclasses.replace(choice, resend=None, reverify=False))  # not a re-send again
