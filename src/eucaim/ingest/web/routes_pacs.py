"""Step 2 from the PACS: configure it, test the connection, search (form or list), retrieve studies.

Search and retrieve run as background jobs (``pacs_jobs``): the request only starts them, the
page polls their counts and reloads when they end. A search only reads the PACS, so it runs beside
a transfer or an index (a side job); a retrieve writes the workspace and waits its turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from eucaim.errors import EucaimError
from eucaim.ingest.config import PacsSettings, load_config, save_config
from eucaim.ingest.pacs_intake import RetrieveMethod, build_queries, pacs_config
from eucaim.ingest.sources.querylist import QueryColumn
from eucaim.ingest.web.deps import UiSettings, cli, has_workspace, open_workspace, settings_of, upload_path
from eucaim.ingest.web.jobs import Job, JobStatus
from eucaim.ingest.web.pacs_jobs import PacsJob, progress, run_find, run_retrieve
from eucaim.ingest.web.receiver import running_receiver
from eucaim.ingest.web.routes_receiver import receiver_context
from eucaim.ingest.web.routes_receiver import router as receiver_router

router = APIRouter(prefix="/sources/pacs")
router.include_router(receiver_router)


def latest_pacs_job(settings: UiSettings) -> PacsJob | None:
    """The search or retrieve started last (a search may run beside other jobs)."""
    jobs = [
        j
        for j in (settings.jobs.last.get("find"), settings.jobs.last.get("retrieve"))
        if isinstance(j, PacsJob)
    ]
    return max(jobs, key=lambda j: j.started, default=None)


def pacs_context(settings: UiSettings) -> dict[str, Any]:
    """What the sources page shows about the PACS: its settings, the last search, the commands."""
    pacs = None
    search = settings.pacs_search or ["--date-from", "2024-01-01", "--modality", "CT"]
    if has_workspace(settings):
        with open_workspace(settings) as ws:
            pacs = ws.config.pacs
    pacs_job = latest_pacs_job(settings)
    rx = running_receiver(settings.workspace)
    return {
        "pacs": pacs,
        "found": settings.pacs_found,
        "unmatched": settings.pacs_unmatched,
        "pacs_job": progress(pacs_job) if pacs_job is not None else None,
        "move_receiver": rx.request if rx is not None else None,
        "list_columns": [c.value for c in QueryColumn if c.value in _LIST_COLUMNS],
        "pacs_commands": [
            cli(settings, "pacs", "config", *_config_args(pacs)),
            cli(settings, "pacs", "echo"),
            cli(settings, "pacs", "find", *search),
            pacs_job.command
            if pacs_job is not None and pacs_job.kind == "retrieve"
            else cli(settings, "pacs", "retrieve", *search),
        ],
        **receiver_context(settings),
    }


_LIST_COLUMNS = ("patient_id", "accession_number", "study_uid")


def _config_args(pacs: PacsSettings | None) -> list[str]:
    if pacs is None:
        return ["--host", "HOST", "--port", "104", "--called-aet", "PACS"]
    args = ["--host", pacs.host, "--port", str(pacs.port), "--called-aet", pacs.called_aet,
            "--calling-aet", pacs.calling_aet]  # fmt: skip
    if pacs.receiver_port:
        args += ["--receiver-port", str(pacs.receiver_port)]
    return [*args, "--timeout", f"{pacs.timeout_s:g}"]


def _search_args(form: dict[str, str | None], list_file: Path | None) -> list[str]:
    """The ``pacs find``/``retrieve`` options that ask what the form asked."""
    options = (("patient_id", "--patient-id"), ("accession", "--accession"),
               ("study_uid", "--study-uid"), ("date_from", "--date-from"), ("date_to", "--date-to"),
               ("modality", "--modality"))  # fmt: skip
    args = [part for name, option in options if form.get(name) for part in (option, str(form[name]))]
    if not list_file:
        return args
    column = ["--list-column", str(form["list_column"])] if form.get("list_column") else []
    return [*args, "--list", str(list_file), *column]


def _back(request: Request, form: dict[str, str] | None = None, **messages: str) -> Response:
    """The sources page again, with an action's outcome (and the user's entries, when refused)."""
    from eucaim.ingest.web.routes_setup import render_sources

    return render_sources(request, pacs_messages=messages, pacs_form=form)


@router.post("/config", response_class=HTMLResponse)
def pacs_save(
    request: Request,
    host: Annotated[str, Form()] = "",
    port: Annotated[str, Form()] = "",
    called_aet: Annotated[str, Form()] = "",
    calling_aet: Annotated[str, Form()] = "EUCAIM",
    receiver_port: Annotated[str, Form()] = "",
    timeout: Annotated[str, Form()] = "30",
) -> Response:
    """``eucaim-ingest pacs config --host --port --called-aet --calling-aet --receiver-port --timeout``."""
    settings = settings_of(request)
    config = load_config(settings.workspace)
    entered = {"host": host, "port": port, "called_aet": called_aet, "calling_aet": calling_aet,
               "receiver_port": receiver_port, "timeout": timeout}  # fmt: skip
    try:
        pacs = PacsSettings.model_validate(
            {"host": host.strip(), "port": port.strip(), "called_aet": called_aet.strip(),
             "calling_aet": calling_aet.strip() or "EUCAIM", "receiver_port": receiver_port.strip() or None,
             "timeout_s": timeout.strip() or 30}
        )  # fmt: skip
        config.pacs = pacs
        pacs_config(config)  # AE title rules are checked here
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _back(request, entered, pacs_error=f"{where}: {first['msg']}")
    except EucaimError as exc:
        return _back(request, entered, pacs_error=str(exc))
    save_config(settings.workspace, config)
    return RedirectResponse("/sources", status_code=303)


@router.post("/echo", response_class=HTMLResponse)
def pacs_echo(request: Request) -> Response:
    """``eucaim-ingest pacs echo``: C-ECHO, with the round-trip time."""
    from eucaim.ingest.sources.pacs import PacsClient

    with open_workspace(settings_of(request)) as ws:
        try:
            elapsed = PacsClient(pacs_config(ws.config)).echo()
        except EucaimError as exc:
            return _back(request, echo_error=str(exc))
    return _back(request, echo_ok=f"{elapsed * 1000:.0f}")


@router.post("/find", response_class=HTMLResponse)
async def pacs_find(request: Request, accession_list: UploadFile | None = None) -> Response:
    """``eucaim-ingest pacs find`` with the form's criteria, or one query per row of an uploaded list."""
    settings = settings_of(request)
    form = await request.form()

    def value(name: str) -> str | None:
        return str(form.get(name) or "").strip() or None

    list_file = upload_path(settings.workspace / "lists", accession_list.filename if accession_list else None)
    if accession_list is not None and list_file is not None:
        list_file.write_bytes(await accession_list.read())
    names = ("patient_id", "accession", "study_uid", "date_from", "date_to", "modality", "list_column")
    criteria = {n: value(n) for n in names}
    column = criteria["list_column"]
    try:
        queries = build_queries(
            patient_id=criteria["patient_id"], accession=criteria["accession"],
            study_uid=criteria["study_uid"],
            date_from=criteria["date_from"], date_to=criteria["date_to"], modality=criteria["modality"],
            list_file=list_file, list_column=QueryColumn(column) if column in _LIST_COLUMNS else None,
        )  # fmt: skip
    except EucaimError as exc:
        return _back(request, {k: v or "" for k, v in criteria.items()}, find_error=str(exc))
    search = _search_args(criteria, list_file)
    job = PacsJob("find", cli(settings, "pacs", "find", *search))

    def work(_: Job) -> str:
        with open_workspace(settings) as ws:
            line, outcome = run_find(ws, job, queries)
        if outcome is not None:
            settings.pacs_found, settings.pacs_unmatched = outcome.studies, outcome.unmatched
        return line

    if not settings.jobs.start(job, work, exclusive=False):
        return _back(request, find_error="pacs.find_running")
    settings.pacs_search = search
    settings.pacs_found, settings.pacs_unmatched = [], []
    return RedirectResponse("/sources#pacs-search", status_code=303)


@router.post("/retrieve", response_class=HTMLResponse)
async def pacs_retrieve(request: Request) -> Response:
    """``eucaim-ingest pacs retrieve [--method move]`` of the ticked studies, indexed as they arrive."""
    settings = settings_of(request)
    form = await request.form()
    chosen_uids = set(form.getlist("study"))
    chosen = [s for s in settings.pacs_found if s.study_uid in chosen_uids]
    if not chosen:
        return _back(request, retrieve_error="pacs.none_ticked")
    method = RetrieveMethod.MOVE if form.get("method") == "move" else RetrieveMethod.GET
    rx = running_receiver(settings.workspace)
    with open_workspace(settings) as ws:
        pacs = ws.config.pacs
    if method is RetrieveMethod.MOVE and rx is None and (pacs is None or pacs.receiver_port is None):
        return _back(request, retrieve_error="pacs.move_no_receiver")
    job = PacsJob("retrieve", _retrieve_command(settings, chosen, method), method=method.value)

    def work(_: Job) -> str:
        with open_workspace(settings) as ws:
            return run_retrieve(ws, job, chosen, method, rx)

    if not settings.jobs.start(job, work):
        return _back(request, retrieve_error="app.busy")
    return RedirectResponse("/sources#pacs-progress", status_code=303)


def _retrieve_command(settings: UiSettings, chosen: list[Any], method: RetrieveMethod) -> str:
    """The command that retrieves exactly the ticked studies: the search itself, one UID, or a UID list."""
    method_args = ["--method", "move"] if method is RetrieveMethod.MOVE else []
    if len(chosen) == len(settings.pacs_found) and settings.pacs_search:
        return cli(settings, "pacs", "retrieve", *settings.pacs_search, *method_args)
    if len(chosen) == 1:
        return cli(settings, "pacs", "retrieve", "--study-uid", chosen[0].study_uid, *method_args)
    listing = upload_path(settings.workspace / "lists", "ticked-studies.csv")
    assert listing is not None
    listing.write_text("StudyInstanceUID\n" + "".join(f"{s.study_uid}\n" for s in chosen), encoding="utf-8")
    return cli(settings, "pacs", "retrieve", "--list", str(listing), *method_args)


@router.post("/stop", response_class=HTMLResponse)
def pacs_stop(request: Request) -> Response:
    """Stop the search before its next query, or cancel the retrieve mid-study (C-CANCEL).

    The running retrieve reads the flag between the PACS's responses and from a watcher thread
    (every 0.1 s), so the PACS gets its C-CANCEL well before the page polls again.
    """
    job = latest_pacs_job(settings_of(request))
    if job is not None and job.status is JobStatus.RUNNING:
        job.pause_requested = True
    return RedirectResponse("/sources#pacs-progress", status_code=303)


@router.get("/progress")
def pacs_progress(request: Request) -> JSONResponse:
    """Polled by the sources page every second while a search or retrieve runs."""
    return JSONResponse(progress(latest_pacs_job(settings_of(request))))
