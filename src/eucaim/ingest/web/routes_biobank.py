"""The Biobank page, linked from Connect: ask the node for a biobank and follow the answers.

The same use cases as ``eucaim-ingest biobank request|requests`` (``ingest.biobank_requests``).
Sending a request is a short job (the node may be slow to answer); the page then shows its outcome
next to the form, and the requests with their state, read from the node when the page is drawn.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.errors import EucaimError
from eucaim.ingest.web.deps import UiSettings, cli, has_workspace, open_workspace, render, settings_of
from eucaim.ingest.web.jobs import Job, JobStatus
from eucaim.ingest.web.messages import text

router = APIRouter()
BIOBANK = "biobank request"
FIELDS = ("code", "name", "description", "url")


def _request_command(settings: UiSettings, form: dict[str, str]) -> str:
    args = ["biobank", "request", "--code", form.get("code") or "CODE", "--name", form.get("name") or "NAME"]
    if form.get("description"):
        args += ["--description", form["description"]]
    if form.get("url"):
        args += ["--url", form["url"]]
    return cli(settings, *args)


def _form_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form["code"]:
        errors["code"] = text("biobank.code_missing")
    if not form["name"]:
        errors["name"] = text("biobank.name_missing")
    if form["url"] and not form["url"].startswith(("http://", "https://")):
        errors["url"] = text("biobank.url_bad")
    return errors


@router.get("/biobank", response_class=HTMLResponse)
def biobank_page(request: Request) -> Response:
    """The request form and the caller's requests with their answers."""
    return _render(request)


def _render(
    request: Request, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Response:
    from eucaim.ingest.biobank_requests import answer_of, my_biobank_requests

    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    with open_workspace(settings) as ws:
        code = ws.config.node.biobank
        kind = ws.config.node.kind
    job = settings.jobs.last.get(BIOBANK)
    asked = form is not None
    if form is None:
        # After a refused request, the form keeps what was typed; otherwise it offers the workspace's code.
        failed = job is not None and job.status is JobStatus.FAILED
        form = dict(job.detail["form"]) if failed and job is not None else {"code": code}
    requests: list[dict[str, Any]] = []
    mine: list[str] = []
    list_error = ""
    if kind == "eucaim":
        try:
            found = my_biobank_requests(settings.workspace, with_biobanks=True)
            requests, mine = found.requests, found.my_biobanks
        except EucaimError as exc:
            list_error = str(exc)
    for item in requests:
        item["answer"] = answer_of(item)
    return render(
        request,
        "biobank.html",
        "connect",
        status_code=422 if errors else 200,
        kind=kind,
        code=code,
        has_biobank=code in mine,
        form=form,
        errors=errors or {},
        sent=job,
        requests=requests,
        list_error=list_error,
        # The command of what was just sent (or refused), else of the form as it stands.
        commands=[
            job.command if job is not None and not asked else _request_command(settings, form),
            cli(settings, "biobank", "requests"),
        ],
    )


@router.post("/biobank/request", response_class=HTMLResponse)
def biobank_request(
    request: Request,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
) -> Response:
    """Ask for a biobank as ``eucaim-ingest biobank request`` does, in a short background job."""
    from eucaim.ingest.biobank_requests import ask_for_biobank

    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    form = {
        "code": code.strip(),
        "name": name.strip(),
        "description": description.strip(),
        "url": url.strip(),
    }
    errors = _form_errors(form)
    if errors:
        return _render(request, form, errors)

    def work(job: Job) -> str:
        asked = ask_for_biobank(
            settings.workspace,
            code=form["code"],
            name=form["name"],
            description=form["description"],
            url=form["url"] or None,
        )
        return text("biobank.sent", id=asked["id"], code=asked["code"], status=asked["status"])

    job = Job(BIOBANK, _request_command(settings, form), detail={"form": form})
    if not settings.jobs.start(job, work, exclusive=False):
        return _render(request, form, {"code": text("biobank.already_sending")})
    settings.jobs.wait(timeout=10.0, kind=BIOBANK)  # the node usually answers at once
    return RedirectResponse("/biobank", status_code=303)
