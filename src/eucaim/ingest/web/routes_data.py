"""Step 5: clinical data: upload, the validation table, linkage with the images, and the send (a job).

Validation and linkage run in the request (they read one local file); sending talks to the node
and runs as a background job whose outcome the page shows next to the send button.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.errors import EucaimError
from eucaim.ingest.web.deps import (
    UiSettings,
    cli,
    has_workspace,
    open_workspace,
    render,
    settings_of,
    upload_path,
)
from eucaim.ingest.web.jobs import Job

router = APIRouter()
PUSH = "clinical-push"


def _check(settings: UiSettings, path: Path) -> tuple[Any, Any]:
    """Validation and linkage, as ``eucaim-ingest clinical validate FILE`` computes them."""
    from eucaim.clinical.intake import check_file
    from eucaim.clinical.linkage import link
    from eucaim.ingest.clinical_link import workspace_imaging

    result = check_file(path, today=date.today())
    imaging = workspace_imaging(settings.workspace)
    linkage = None
    if imaging is not None:
        linkage = link(
            result.patient_rows(),
            imaging.studies,
            secret=imaging.secret,
            pseudonym_format=imaging.pseudonym_format,
            baselines=result.baseline_dates(),
        )
    return result, linkage


def _clinical_page(request: Request, error: str = "", status_code: int = 200) -> Response:
    settings = settings_of(request)
    path = settings.clinical_file
    result = linkage = None
    if path is not None and path.is_file() and not error:
        try:
            result, linkage = _check(settings, path)
        except EucaimError as exc:
            error = str(exc)
    name = path.name if path else "FILE"
    return render(
        request,
        "clinical.html",
        "clinical",
        status_code=status_code,
        file=path,
        result=result,
        linkage=linkage,
        error=error,
        push_job=settings.jobs.last.get(PUSH),
        commands=[cli(settings, "clinical", "validate", name), cli(settings, "clinical", "push", name)],
    )


@router.get("/clinical", response_class=HTMLResponse)
def clinical_page(request: Request) -> Response:
    if not has_workspace(settings_of(request)):
        return RedirectResponse("/", status_code=303)
    return _clinical_page(request)


@router.post("/clinical/upload", response_class=HTMLResponse)
async def clinical_upload(request: Request, file: UploadFile | None = None) -> Response:
    settings = settings_of(request)
    target = upload_path(settings.workspace / "clinical", file.filename if file else None)
    if file is None or target is None:
        return _clinical_page(request, error="clinical.empty", status_code=422)
    target.write_bytes(await file.read())
    settings.clinical_file = target
    return RedirectResponse("/clinical", status_code=303)


@router.post("/clinical/push", response_class=HTMLResponse)
def clinical_push(request: Request) -> Response:
    """``eucaim-ingest clinical push FILE`` as a job: nothing is sent when the file is invalid."""
    from eucaim.ingest.clinical_push import push_clinical

    settings = settings_of(request)
    path = settings.clinical_file
    if path is None:
        return _clinical_page(request, error="clinical.empty", status_code=422)

    def work(job: Job) -> str:
        job.progress = "validating"
        result, _ = _check(settings, path)
        job.progress = "sending"

        def show(done: int, total: int) -> None:
            job.progress = f"sent {done} of {total} records"

        with open_workspace(settings) as ws:
            return push_clinical(ws, result, on_progress=show).line()

    if not settings.jobs.start(Job(PUSH, cli(settings, "clinical", "push", path.name)), work):
        return render(request, "busy.html", "clinical", commands=[])
    settings.jobs.wait(timeout=1.0)  # a small table is sent at once; a big one shows the running job
    return RedirectResponse("/clinical", status_code=303)
