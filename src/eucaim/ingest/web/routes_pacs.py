"""Step 2 from the PACS: configure it, test the connection, search (form or list), retrieve studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from eucaim.errors import EucaimError
from eucaim.ingest.config import PacsSettings, load_config, save_config
from eucaim.ingest.pacs_intake import (
    RetrieveMethod,
    build_queries,
    describe_query,
    find_studies,
    pacs_config,
    retrieve_studies,
)
from eucaim.ingest.web.deps import UiSettings, cli, has_workspace, open_workspace, settings_of, upload_path
from eucaim.ingest.web.jobs import Job

router = APIRouter(prefix="/sources/pacs")


def pacs_context(settings: UiSettings) -> dict[str, Any]:
    """What the sources page shows about the PACS: its settings, the last search, the commands."""
    pacs = None
    search = settings.pacs_search or ["--date-from", "2024-01-01", "--modality", "CT"]
    if has_workspace(settings):
        with open_workspace(settings) as ws:
            pacs = ws.config.pacs
    return {
        "pacs": pacs,
        "found": settings.pacs_found,
        "unmatched": settings.pacs_unmatched,
        "pacs_commands": [
            cli(settings, "pacs", "config", *_config_args(pacs)),
            cli(settings, "pacs", "echo"),
            cli(settings, "pacs", "find", *search),
            cli(settings, "pacs", "retrieve", *search),
        ],
    }


def _config_args(pacs: PacsSettings | None) -> list[str]:
    if pacs is None:
        return ["--host", "HOST", "--port", "104", "--called-aet", "PACS"]
    return ["--host", pacs.host, "--port", str(pacs.port), "--called-aet", pacs.called_aet,
            "--calling-aet", pacs.calling_aet]  # fmt: skip


def _search_args(form: dict[str, str | None], list_file: Path | None) -> list[str]:
    """The ``pacs find``/``retrieve`` options that ask what the form asked."""
    options = (("patient_id", "--patient-id"), ("accession", "--accession"), ("date_from", "--date-from"),
               ("date_to", "--date-to"), ("modality", "--modality"))  # fmt: skip
    args = [part for name, option in options if form.get(name) for part in (option, str(form[name]))]
    return [*args, "--list", str(list_file)] if list_file else args


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
) -> Response:
    """``eucaim-ingest pacs config --host --port --called-aet --calling-aet``."""
    settings = settings_of(request)
    config = load_config(settings.workspace)
    entered = {"host": host, "port": port, "called_aet": called_aet, "calling_aet": calling_aet}
    try:
        pacs = PacsSettings.model_validate(
            {"host": host.strip(), "port": port.strip(), "called_aet": called_aet.strip(),
             "calling_aet": calling_aet.strip() or "EUCAIM"}
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
    from eucaim.ingest.sources.pacs import PacsClient

    settings = settings_of(request)
    form = await request.form()

    def value(name: str) -> str | None:
        return str(form.get(name) or "").strip() or None

    list_file = upload_path(settings.workspace / "lists", accession_list.filename if accession_list else None)
    if accession_list is not None and list_file is not None:
        list_file.write_bytes(await accession_list.read())
    criteria = {n: value(n) for n in ("patient_id", "accession", "date_from", "date_to", "modality")}
    settings.pacs_search = _search_args(criteria, list_file)
    try:
        queries = build_queries(
            patient_id=value("patient_id"), accession=value("accession"), date_from=value("date_from"),
            date_to=value("date_to"), modality=value("modality"), list_file=list_file,
        )  # fmt: skip
        with open_workspace(settings) as ws:
            result = find_studies(PacsClient(pacs_config(ws.config)), queries)
    except EucaimError as exc:
        return _back(request, find_error=str(exc))
    settings.pacs_found = result.studies
    settings.pacs_unmatched = [describe_query(q) for q in result.unmatched]
    return RedirectResponse("/sources#pacs-results", status_code=303)


@router.post("/retrieve", response_class=HTMLResponse)
async def pacs_retrieve(request: Request) -> Response:
    """``eucaim-ingest pacs retrieve`` of the ticked studies (C-GET), each file indexed as it arrives."""
    from eucaim.ingest.sources.pacs import PacsClient

    settings = settings_of(request)
    chosen_uids = set((await request.form()).getlist("study"))
    chosen = [s for s in settings.pacs_found if s.study_uid in chosen_uids]
    if not chosen:
        return _back(request, find_error="pacs.none_ticked")

    def work(job: Job) -> str:
        with open_workspace(settings) as ws:
            report = retrieve_studies(
                PacsClient(pacs_config(ws.config)), ws.state, ws.incoming, chosen, method=RetrieveMethod.GET
            )
        complete = len(report.studies) - len(report.incomplete)
        job.notices = [f"{o.study_uid}: {o.error or 'incomplete'}" for o in report.incomplete]
        return f"{complete} of {len(report.studies)} studies complete, {report.indexed} instances indexed"

    command = cli(settings, "pacs", "retrieve", "--study-uid", chosen[0].study_uid)
    if not settings.jobs.start(Job("retrieve", command), work):
        return _back(request, find_error="app.busy")
    settings.jobs.wait(timeout=5.0)  # a few studies finish at once; more show as a running job
    return RedirectResponse("/sources#pacs-results", status_code=303)
