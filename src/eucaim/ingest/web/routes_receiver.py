"""Step 2, the receiver (/sources/pacs/receiver): start and stop `eucaim-ingest receive`; its live counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from eucaim.ingest.web.deps import UiSettings, cli, has_workspace, open_workspace, settings_of
from eucaim.ingest.web.pacs_jobs import PacsJob
from eucaim.ingest.web.receiver import (
    ReceiverInputError,
    last_counts,
    parse_request,
    running_receiver,
    start_receiver,
    stop_receiver,
)


@asynccontextmanager
async def _stop_on_shutdown(app: FastAPI) -> AsyncIterator[None]:
    """The port is freed and the last files indexed when the server stops, not left to the process's end."""
    yield
    settings: UiSettings = app.state.ui
    stop_receiver(settings.workspace)


# Included by routes_pacs's router (the receiver serves the PACS): /sources/pacs/receiver/...
router = APIRouter(prefix="/receiver", lifespan=_stop_on_shutdown)


def receiver_context(settings: UiSettings) -> dict[str, Any]:
    """What the sources page shows about the receiver: its state, the defaults, the command."""
    running = running_receiver(settings.workspace)
    defaults = {"ae_title": "EUCAIM", "port": "", "bind": "0.0.0.0", "allow": ""}
    if has_workspace(settings):
        with open_workspace(settings) as ws:
            pacs = ws.config.pacs
        if pacs is not None:
            defaults |= {"ae_title": pacs.calling_aet, "port": str(pacs.receiver_port or "")}
    if running is not None:
        r = running.request
        defaults = {
            "ae_title": r.ae_title,
            "port": str(r.port),
            "bind": r.bind,
            "allow": " ".join(r.allow_aets),
        }
    return {
        "receiver": running.snapshot() if running is not None else None,
        "receiver_final": last_counts(settings.workspace),
        "receiver_defaults": defaults,
        "receiver_command": cli(settings, "receive", *_receive_args(defaults)),
    }


def _receive_args(values: dict[str, str]) -> list[str]:
    args = ["--ae-title", values["ae_title"] or "AET", "--port", values["port"] or "PORT"]
    if values["bind"] and values["bind"] != "0.0.0.0":
        args += ["--bind", values["bind"]]
    for aet in values["allow"].replace(",", " ").split():
        args += ["--allow-aet", aet]
    return args


def _back(request: Request, form: dict[str, str] | None = None, **messages: str) -> Response:
    from eucaim.ingest.web.routes_setup import render_sources

    return render_sources(
        request, pacs_messages=messages, pacs_form={f"rx_{k}": v for k, v in (form or {}).items()}
    )


@router.post("/start", response_class=HTMLResponse)
def receiver_start(
    request: Request,
    ae_title: Annotated[str, Form()] = "",
    port: Annotated[str, Form()] = "",
    bind: Annotated[str, Form()] = "0.0.0.0",
    allow: Annotated[str, Form()] = "",
) -> Response:
    """``eucaim-ingest receive --ae-title --port [--bind] [--allow-aet ...]``, kept running in the server."""
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    entered = {"ae_title": ae_title, "port": port, "bind": bind, "allow": allow}
    try:
        start_receiver(settings.workspace, parse_request(ae_title, port, bind, allow))
    except ReceiverInputError as exc:
        return _back(request, entered, **{f"receiver_{exc.field}_error": str(exc)})
    return RedirectResponse("/sources#receiver", status_code=303)


@router.post("/stop", response_class=HTMLResponse)
def receiver_stop(request: Request) -> Response:
    """Ctrl-C of ``eucaim-ingest receive``: stop listening, index what is left; the page shows the counts."""
    settings = settings_of(request)
    job = settings.jobs.current
    if isinstance(job, PacsJob) and job.method == "move" and settings.jobs.busy:
        # The PACS is sending through it: stopping now would fail the studies still to come.
        return _back(request, receiver_stop_error="receiver.in_use")
    stop_receiver(settings.workspace)  # the page shows its final counts (last_counts)
    return RedirectResponse("/sources#receiver", status_code=303)


@router.get("/status")
def receiver_status(request: Request) -> JSONResponse:
    """Polled by the sources page every second while the receiver listens."""
    running = running_receiver(settings_of(request).workspace)
    return JSONResponse(running.snapshot() if running is not None else {"running": False})
