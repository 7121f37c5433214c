"""Steps 5 to 7: clinical data (validate, link, send), the dataset (metadata, release), datasets' status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.errors import ConfigError, EucaimError
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.web.deps import (
    UiSettings,
    cli,
    has_workspace,
    open_workspace,
    render,
    settings_of,
    upload_path,
)
from eucaim.ingest.web.messages import DATASET_FIELDS

router = APIRouter()
LIST_FIELDS = frozenset({"type", "collectionMethod", "keywords"})


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


def _clinical_page(request: Request, error: str = "", outcome: str = "", status_code: int = 200) -> Response:
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
        outcome=outcome,
        commands=[cli(settings, "clinical", "validate", name), cli(settings, "clinical", "push", name)],
    )


@router.get("/clinical", response_class=HTMLResponse)
def clinical_page(request: Request, outcome: str = "") -> Response:
    if not has_workspace(settings_of(request)):
        return RedirectResponse("/", status_code=303)
    return _clinical_page(request, outcome=outcome)


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
    """``eucaim-ingest clinical push FILE``: nothing is sent when the file is invalid."""
    from eucaim.ingest.clinical_push import push_clinical

    settings = settings_of(request)
    if settings.clinical_file is None:
        return _clinical_page(request, error="clinical.empty", status_code=422)
    try:
        result, _ = _check(settings, settings.clinical_file)
        with open_workspace(settings) as ws:
            summary = push_clinical(ws, result)
    except EucaimError as exc:
        return _clinical_page(request, error=str(exc), status_code=422)
    return RedirectResponse("/clinical?" + urlencode({"outcome": summary.line()}), status_code=303)


@contextmanager
def _client(settings: UiSettings) -> Iterator[tuple[Any, str]]:
    """The dataset client ``eucaim-ingest dataset`` uses, for this workspace's node."""
    from eucaim.ingest.dataset_client import DatasetClient

    with open_workspace(settings) as ws:
        node = ws.config.node
        if node.kind != "eucaim":
            raise ConfigError(f"datasets are made on a EUCAIM node; this workspace sends to {node.kind}")
        with DatasetClient(
            node.url, token_provider=lambda: ws.token, ca_bundle=ws.ca_bundle, timeout_s=node.timeout_s
        ) as client:
            yield client, node.biobank


def field_value(dataset: dict[str, Any], key: str) -> str:
    """The form value of a (possibly dotted) metadata property."""
    name, _, sub = key.partition(".")
    value = dataset.get(name)
    if sub:
        value = (value or {}).get(sub)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def completeness(dataset: dict[str, Any]) -> int:
    """Percent of the release-required properties the node no longer lists as missing."""
    missing = set(dataset.get("missingForRelease") or [])
    # The node has the last word: a property it requires that the form does not know still counts.
    required = {key.partition(".")[0] for key, _, needed in DATASET_FIELDS if needed} | missing
    return round(100 * (len(required) - len(missing)) / len(required))


def _dataset_page(
    request: Request,
    dataset_id: str | None,
    error: str = "",
    notice: str = "",
    scope_error: str = "",
    entered: dict[str, str] | None = None,
) -> Response:
    settings = settings_of(request)
    dataset: dict[str, Any] | None = None
    try:
        with _client(settings) as (client, _):
            if dataset_id is None:
                drafts = [d for d in client.list() if d["state"] == "draft"]
                dataset_id = drafts[-1]["id"] if drafts else None
            if dataset_id is not None:
                dataset = client.get(dataset_id)
    except EucaimError as exc:
        error = error or str(exc)
    ident = dataset_id or "ID"
    with open_workspace(settings) as ws:
        # Patients with something on the node, by pseudonym: the ids the node knows them by.
        subjects = sorted(
            {pseudonym for _, pseudonym, counts in ws.state.counts_by_group("patient")
             if pseudonym and counts[InstanceState.VERIFIED]}
        )  # fmt: skip
    return render(
        request,
        "dataset.html",
        "dataset",
        dataset=dataset,
        fields=DATASET_FIELDS,
        subjects=subjects,
        scope_error=scope_error,
        entered=entered or {},
        error=error,
        notice=notice,
        value=lambda k: field_value(dataset or {}, k),
        percent=completeness(dataset) if dataset else 0,
        status_code=422 if error or scope_error else 200,
        commands=[
            cli(settings, "dataset", "create", "--name", "NAME"),
            cli(settings, "dataset", "set", ident, "version=1.0", "..."),
            cli(settings, "dataset", "release", ident),
        ],
    )


@router.get("/dataset", response_class=HTMLResponse)
def dataset_page(request: Request, id: str | None = None, notice: str = "") -> Response:
    if not has_workspace(settings_of(request)):
        return RedirectResponse("/", status_code=303)
    return _dataset_page(request, id, notice=notice)


@router.post("/dataset/create", response_class=HTMLResponse)
async def dataset_create(request: Request) -> Response:
    """``eucaim-ingest dataset create --name [--subjects]``, waiting for the node's job."""
    settings = settings_of(request)
    form = await request.form()
    name, description = str(form.get("name") or ""), str(form.get("description") or "")
    chosen = [str(s) for s in form.getlist("subject")]
    selection: dict[str, Any] = {"kind": "biobank"}
    if form.get("scope") == "subjects":
        if not chosen:
            entered = {"name": name, "description": description}
            return _dataset_page(request, None, scope_error="dataset.scope_none", entered=entered)
        selection = {"kind": "subjects", "ids": chosen}
    try:
        with _client(settings) as (client, biobank):
            created = client.create(
                name=name.strip(),
                description=description.strip(),
                biobank=biobank,
                selection=selection,
                metadata={},
            )
            job = client.wait_for_job(created["id"])
            if job["status"] == "error":
                raise ConfigError(f"the node could not create dataset {created['id']}: {job['message']}")
    except EucaimError as exc:
        return _dataset_page(request, None, error=str(exc))
    query = urlencode({"id": created["id"], "notice": f"created:{created['id']}"})
    return RedirectResponse(f"/dataset?{query}", status_code=303)


@router.post("/dataset/{dataset_id}/metadata", response_class=HTMLResponse)
async def dataset_metadata(request: Request, dataset_id: str) -> Response:
    """``eucaim-ingest dataset set ID key=value ...`` with the form's filled fields."""
    from eucaim.ingest.dataset_client import parse_assignments

    form = await request.form()
    pairs = [f"{key}={str(form.get(key, '')).strip()}" for key, _, _ in DATASET_FIELDS if form.get(key)]
    try:
        with _client(settings_of(request)) as (client, _):
            client.update(dataset_id, parse_assignments(pairs, client.get(dataset_id)))
    except EucaimError as exc:
        return _dataset_page(request, dataset_id, error=str(exc))
    return RedirectResponse(f"/dataset?{urlencode({'id': dataset_id})}", status_code=303)


@router.post("/dataset/{dataset_id}/release", response_class=HTMLResponse)
def dataset_release(request: Request, dataset_id: str) -> Response:
    try:
        with _client(settings_of(request)) as (client, _):
            client.act(dataset_id, "release")
    except EucaimError as exc:
        return _dataset_page(request, dataset_id, error=str(exc))
    query = urlencode({"id": dataset_id, "notice": f"released:{dataset_id}"})
    return RedirectResponse(f"/dataset?{query}", status_code=303)


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request) -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    datasets: list[dict[str, Any]] = []
    error = ""
    try:
        with _client(settings) as (client, _):
            datasets = client.list()
    except EucaimError as exc:
        error = str(exc)
    return render(
        request,
        "status.html",
        "status",
        datasets=datasets,
        error=error,
        commands=[cli(settings, "dataset", "status")],
    )
