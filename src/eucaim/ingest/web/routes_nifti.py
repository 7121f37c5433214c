"""The NIfTI step (XNAT workspaces only): push NIfTI files into their study's session, as a job.

The same use case as ``eucaim-ingest nifti push`` (``ingest.nifti_push``). The files are given as a
path inside the folder picker's root (one file, or a folder of them, each with ``<name>.json``
beside it); the study they come from is either named by their sidecars or chosen from the
studies this workspace already sent. On a DICOMweb workspace the page says why there is none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.ingest.config import load_config
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.web.deps import (
    TEMPLATES,
    UiSettings,
    cli,
    has_workspace,
    open_workspace,
    render,
    settings_of,
)
from eucaim.ingest.web.jobs import Job
from eucaim.ingest.web.messages import text

router = APIRouter()
NIFTI = "nifti"
# A select past a few hundred studies is unusable; the sidecar (or the CLI) names any other study.
MAX_STUDIES = 500


def is_nifti_workspace(settings: UiSettings) -> bool:
    """True when the workspace sends to XNAT, the one target that takes NIfTI files."""
    return has_workspace(settings) and load_config(settings.workspace).node.kind == "xnat"


def _shows_nifti_step(request: Request) -> bool:
    return is_nifti_workspace(settings_of(request))


# base.html adds the NIfTI step to the stepper for XNAT workspaces only.
TEMPLATES.env.globals["shows_nifti_step"] = _shows_nifti_step


def _sent_studies(settings: UiSettings) -> dict[str, str]:
    """Original study UID → patient ID, for the studies this workspace sent and verified."""
    with open_workspace(settings) as ws:
        rows = ws.state.instances([InstanceState.VERIFIED])
    studies: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r.patient_id, r.study_uid)):
        studies.setdefault(row.study_uid, row.patient_id)
    return dict(list(studies.items())[:MAX_STUDIES])


def _command(settings: UiSettings, files: list[str], study: str, patient: str) -> str:
    args = ["nifti", "push", *(files or ["FILE.nii.gz"])]
    if study:
        args += ["--patient-id", patient, "--study-uid", study]
    return cli(settings, *args)


def _render(
    request: Request,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    files: list[str] | None = None,
) -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    xnat = is_nifti_workspace(settings)
    studies = _sent_studies(settings) if xnat else {}
    job = settings.jobs.last.get(NIFTI)
    if form is None:
        form = dict(job.detail["form"]) if job is not None else {"path": str(settings.browse_root)}
        files = list(job.detail["files"]) if job is not None else []
    study = form.get("study", "")
    return render(
        request,
        "nifti.html",
        NIFTI,
        status_code=422 if errors else 200,
        xnat=xnat,
        studies=studies,
        form=form,
        errors=errors or {},
        sent=job if not errors else None,
        root=settings.browse_root,
        commands=[_command(settings, files or [], study, studies.get(study, ""))],
    )


@router.get("/nifti", response_class=HTMLResponse)
def nifti_page(request: Request) -> Response:
    return _render(request)


def _files_at(root: Path, path: str) -> tuple[list[Path], str]:
    """The NIfTI files ``path`` names (a file, or a folder's own), or the reason it names none."""
    chosen = Path(path).resolve() if path else root
    if not (chosen == root or root in chosen.parents) or not chosen.exists():
        return [], text("nifti.path_outside", root=root)
    if chosen.is_file():
        return ([chosen], "") if chosen.name.endswith((".nii", ".nii.gz")) else ([], text("nifti.not_nifti"))
    found = sorted(p for p in chosen.iterdir() if p.is_file() and p.name.endswith((".nii", ".nii.gz")))
    return found, "" if found else text("nifti.none_in_folder")


@router.post("/nifti/push", response_class=HTMLResponse)
def nifti_push(
    request: Request, path: Annotated[str, Form()] = "", study: Annotated[str, Form()] = ""
) -> Response:
    """Push the NIfTI files at ``path`` in a background job, as ``eucaim-ingest nifti push`` does."""
    from eucaim.ingest.nifti_push import NiftiPushed, push_nifti, sidecar_of

    settings = settings_of(request)
    if not is_nifti_workspace(settings):
        return RedirectResponse("/nifti", status_code=303)
    form = {"path": path.strip(), "study": study}
    files, problem = _files_at(settings.browse_root.resolve(), form["path"])
    studies = _sent_studies(settings)
    errors: dict[str, str] = {}
    if problem:
        errors["path"] = problem
    elif missing := [f.name for f in files if not sidecar_of(f).is_file()]:
        errors["path"] = text("nifti.no_sidecar", files=", ".join(missing))
    if study and study not in studies:
        errors["study"] = text("nifti.study_unknown")
    names = [str(f) for f in files]
    if errors:
        return _render(request, form, errors, names)
    patient = studies.get(study)

    def work(job: Job) -> str:
        def pushed(one: NiftiPushed) -> None:
            job.detail["pushed"].append(
                text("nifti.pushed_one", name=one.name, n=one.files, session=one.session)
            )
            job.progress = text("nifti.progress", done=len(job.detail["pushed"]), total=len(files))

        with open_workspace(settings) as ws:
            done = push_nifti(ws, files, patient_id=patient, study_uid=study or None, on_pushed=pushed)
        return text("nifti.pushed", n=len(done))

    job = Job(
        NIFTI,
        _command(settings, names, study, patient or ""),
        detail={"form": form, "files": names, "pushed": []},
    )
    if not settings.jobs.start(job, work):
        return render(request, "busy.html", NIFTI, commands=[])
    settings.jobs.wait(timeout=2.0)  # a file or two lands at once; more show the running job
    return RedirectResponse("/nifti", status_code=303)
