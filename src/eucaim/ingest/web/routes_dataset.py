"""Steps 6 and 7: the dataset (what goes in, new versions, metadata, release; XNAT: the project) and status.

Creating a dataset, running a failed creation again and releasing an XNAT project run as
background jobs (the node builds the dataset asynchronously; XNAT is asked series by series); the
page follows the job and shows its outcome next to the form it came from. Every action is the call
``eucaim-ingest dataset ...`` makes, through the same client and selection code, and the page shows
that command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eucaim.errors import ConfigError, EucaimError
from eucaim.ingest.dataset_selection import KINDS, selection, selection_options, verified_choices
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.web.deps import UiSettings, cli, has_workspace, open_workspace, render, settings_of
from eucaim.ingest.web.jobs import Job, JobStatus
from eucaim.ingest.web.messages import DATASET_FIELDS

router = APIRouter()
CREATE, XNAT_RELEASE = "dataset-create", "xnat-release"


@contextmanager
def dataset_client(settings: UiSettings) -> Iterator[tuple[Any, str]]:
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


def _node_kind(settings: UiSettings) -> str:
    with open_workspace(settings) as ws:
        return ws.config.node.kind


def _choose_dataset(client: Any, settings: UiSettings, dataset_id: str | None) -> str | None:
    """The dataset to show: the one asked for, else the last one created here, else the newest draft."""
    if dataset_id is not None:
        return dataset_id
    job = settings.jobs.last.get(CREATE)
    if job is not None and job.status is JobStatus.FINISHED and job.detail.get("id"):
        return str(job.detail["id"])
    drafts = [d for d in client.list() if d["state"] == "draft"]
    return str(drafts[-1]["id"]) if drafts else None


def _dataset_page(
    request: Request,
    dataset_id: str | None,
    *,
    new: bool = False,
    previous: str | None = None,
    error: str = "",
    notice: str = "",
    scope_error: str = "",
    entered: dict[str, Any] | None = None,
) -> Response:
    settings = settings_of(request)
    job = settings.jobs.last.get(CREATE)
    creating = job is not None and job.status is JobStatus.RUNNING
    failed = job is not None and job.status is JobStatus.FAILED and not (dataset_id or new or previous)
    if failed and job is not None:
        entered = entered or dict(job.detail.get("form") or {})
        previous = previous or entered.get("previous")
    dataset: dict[str, Any] | None = None
    previous_dataset: dict[str, Any] | None = None
    restartable: str | None = None  # the dataset whose failed creation the page offers to run again
    try:
        with dataset_client(settings) as (client, _):
            if not (new or previous or creating or failed):
                dataset_id = _choose_dataset(client, settings, dataset_id)
                if dataset_id is not None:
                    dataset = client.get(dataset_id)
                    restartable = dataset_id if "restart" in dataset.get("allowedActions", []) else None
            elif failed and job is not None and job.detail.get("id"):
                # The node accepted the dataset but could not build it: it may be run again.
                failed_id = str(job.detail["id"])
                allowed = client.get(failed_id).get("allowedActions", [])
                restartable = failed_id if "restart" in allowed else None
            if previous:
                previous_dataset = client.get(previous)
    except EucaimError as exc:
        error = error or str(exc)
    if dataset is None and not entered and previous_dataset is not None:
        entered = {
            "name": previous_dataset.get("name", ""),
            "description": previous_dataset.get("description", ""),
        }
    if dataset is not None and job is not None and job.detail.get("id") == dataset["id"] and not notice:
        notice = f"created:{dataset['id']}" if job.status is JobStatus.FINISHED else ""
    choices = verified_choices([])
    if dataset is None and not creating:  # only the create form lists what can go in
        with open_workspace(settings) as ws:
            choices = verified_choices(ws.state.instances([InstanceState.VERIFIED]))
    return render(
        request,
        "dataset.html",
        "dataset",
        dataset=dataset,
        create_job=job if (creating or failed) else None,
        restartable=restartable,
        previous=previous_dataset,
        fields=DATASET_FIELDS,
        choices=choices,
        kinds=KINDS,
        scope_error=scope_error,
        entered=entered or {},
        error=error,
        notice=notice,
        value=lambda k: field_value(dataset or {}, k),
        percent=completeness(dataset) if dataset else 0,
        status_code=422 if error or scope_error else 200,
        commands=[
            *_commands(settings, dataset, job, previous),
            *([cli(settings, "dataset", "restart", restartable)] if restartable else []),
        ],
    )


def _commands(
    settings: UiSettings, dataset: dict[str, Any] | None, job: Job | None, previous: str | None
) -> list[str]:
    """What the command line would run here; ``job`` is the last creation (shown with its dataset)."""
    if dataset is None:
        if job is not None and job.status is not JobStatus.FINISHED:
            return [job.command]
        extra = ["--previous", previous] if previous else []
        return [
            cli(settings, "dataset", "create", "--name", "NAME", *extra),
            cli(settings, "dataset", "create", "--name", "NAME", "--subjects", "PSEUDONYM,...", *extra),
        ]
    ident = dataset["id"]
    made_here = [job.command] if job is not None and job.detail.get("id") == ident else []
    if dataset["state"] == "creating":
        return [*made_here, cli(settings, "dataset", "status", ident)]
    if dataset["state"] == "draft":
        return [
            *made_here,
            cli(settings, "dataset", "set", ident, "version=1.0", "..."),
            cli(settings, "dataset", "release", ident),
        ]
    return [
        *made_here,
        cli(settings, "dataset", "show", ident),
        cli(settings, "dataset", "create", "--name", dataset["name"], "--previous", ident),
    ]


@router.get("/dataset", response_class=HTMLResponse)
def dataset_page(
    request: Request, id: str | None = None, notice: str = "", new: bool = False, previous: str | None = None
) -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    if _node_kind(settings) == "xnat":
        return _xnat_page(request)
    return _dataset_page(request, id, new=new, previous=previous, notice=notice)


@router.post("/dataset/create", response_class=HTMLResponse)
async def dataset_create(request: Request) -> Response:
    """``eucaim-ingest dataset create --name [--subjects|--studies|--series] [--previous]`` as a job."""
    settings = settings_of(request)
    form = await request.form()
    scope = str(form.get("scope") or "biobank")
    ids = {kind: [str(v) for v in form.getlist(kind)] for kind in KINDS}
    previous = str(form.get("previous") or "") or None
    entered: dict[str, Any] = {
        "name": str(form.get("name") or "").strip(),
        "description": str(form.get("description") or "").strip(),
        "scope": scope,
        "ids": ids,
        "previous": previous,
    }
    if scope in KINDS and not ids[scope]:
        return _dataset_page(
            request, None, new=True, previous=previous, scope_error="dataset.scope_empty", entered=entered
        )
    chosen = selection(*(ids[k] if k == scope else [] for k in KINDS))
    options = [*(["--description", entered["description"]] if entered["description"] else []),
               *selection_options(chosen), *(["--previous", previous] if previous else [])]  # fmt: skip
    command = cli(settings, "dataset", "create", "--name", entered["name"], *options)

    def work(job: Job) -> str:
        with dataset_client(settings) as (client, biobank):
            created = client.create(
                name=entered["name"],
                description=entered["description"],
                biobank=biobank,
                selection=chosen,
                metadata={"previousId": previous} if previous else {},
            )
            job.detail["id"] = created["id"]
            return _follow(job, client, created["id"], "queued")

    if not settings.jobs.start(Job(CREATE, command, detail={"form": entered}), work):
        return render(request, "busy.html", "dataset", commands=[])
    settings.jobs.wait(timeout=1.0)  # a small dataset is built at once; a big one shows its progress
    return RedirectResponse("/dataset", status_code=303)


def _follow(job: Job, client: Any, dataset_id: str, first: str) -> str:
    """Follow the node's creation job of ``dataset_id`` in ``job.progress``, as the CLI's ``_follow`` does.

    Raises:
        ConfigError: the node's job ended in error (its message, and how to run it again).
    """
    job.progress = f"dataset {dataset_id}: {first}"

    def show(state: dict[str, Any]) -> None:
        job.progress = f"dataset {dataset_id}: {state['message']} ({state['progress']:.0%})"

    state = client.wait_for_job(dataset_id, on_progress=show)
    if state["status"] == "error":
        raise ConfigError(
            f"the node could not create dataset {dataset_id}: {state['message']}",
            hint=f"fix the cause, then run `eucaim-ingest dataset restart {dataset_id}`",
        )
    return f"dataset {dataset_id} created"


@router.post("/dataset/{dataset_id}/restart", response_class=HTMLResponse)
def dataset_restart(request: Request, dataset_id: str) -> Response:
    """``eucaim-ingest dataset restart ID``: the node runs the failed creation job again; followed as a job.

    It runs as a creation job (same kind): the page follows it, and shows the dataset once built,
    or the node's reason (with the button again) when it fails anew.
    """
    settings = settings_of(request)
    last = settings.jobs.last.get(CREATE)
    form = dict(last.detail.get("form") or {}) if last and last.detail.get("id") == dataset_id else {}

    def work(job: Job) -> str:
        with dataset_client(settings) as (client, _):
            if not job.detail["form"].get("name"):
                job.detail["form"] = {**job.detail["form"], "name": client.get(dataset_id).get("name", "")}
            client.restart(dataset_id)
            return _follow(job, client, dataset_id, "queued again")

    command = cli(settings, "dataset", "restart", dataset_id)
    if not settings.jobs.start(Job(CREATE, command, detail={"id": dataset_id, "form": form}), work):
        return render(request, "busy.html", "dataset", commands=[])
    settings.jobs.wait(timeout=1.0)
    return RedirectResponse("/dataset", status_code=303)


@router.post("/dataset/{dataset_id}/metadata", response_class=HTMLResponse)
async def dataset_metadata(request: Request, dataset_id: str) -> Response:
    """``eucaim-ingest dataset set ID key=value ...`` with the form's filled fields."""
    from eucaim.ingest.dataset_client import parse_assignments

    form = await request.form()
    pairs = [f"{key}={str(form.get(key, '')).strip()}" for key, _, _ in DATASET_FIELDS if form.get(key)]
    try:
        with dataset_client(settings_of(request)) as (client, _):
            client.update(dataset_id, parse_assignments(pairs, client.get(dataset_id)))
    except EucaimError as exc:
        return _dataset_page(request, dataset_id, error=str(exc))
    return RedirectResponse(f"/dataset?{urlencode({'id': dataset_id})}", status_code=303)


@router.post("/dataset/{dataset_id}/release", response_class=HTMLResponse)
def dataset_release(request: Request, dataset_id: str) -> Response:
    try:
        with dataset_client(settings_of(request)) as (client, _):
            client.act(dataset_id, "release")
    except EucaimError as exc:
        return _dataset_page(request, dataset_id, error=str(exc))
    query = urlencode({"id": dataset_id, "notice": f"released:{dataset_id}"})
    return RedirectResponse(f"/dataset?{query}", status_code=303)


def _xnat_page(request: Request, status_code: int = 200) -> Response:
    settings = settings_of(request)
    with open_workspace(settings) as ws:
        project = ws.config.node.project
        counts = ws.state.counts_by_state()
    job = settings.jobs.last.get(XNAT_RELEASE)
    release = [cli(settings, "dataset", "release"), cli(settings, "dataset", "release", "--public")]
    return render(
        request,
        "dataset_xnat.html",
        "dataset",
        status_code=status_code,
        project=project,
        counts=counts,
        release_job=job,
        commands=[job.command] if job else release,
    )


@router.post("/xnat/release", response_class=HTMLResponse)
async def xnat_release(request: Request) -> Response:
    """``eucaim-ingest dataset release [--public]`` on an XNAT workspace, as a job."""
    from eucaim.ingest.targets import build_xnat_target
    from eucaim.ingest.upload.xnat_publish import release_xnat_project

    settings = settings_of(request)
    form = await request.form()
    access: Literal["protected", "public"] = "public" if form.get("access") == "public" else "protected"

    def work(job: Job) -> str:
        with open_workspace(settings) as ws:
            target = build_xnat_target(ws)
            try:
                return release_xnat_project(ws.state, target, accessibility=access).describe()
            finally:
                target.close()

    command = cli(settings, "dataset", "release", *(["--public"] if access == "public" else []))
    if not settings.jobs.start(Job(XNAT_RELEASE, command, detail={"access": access}), work):
        return render(request, "busy.html", "dataset", commands=[])
    settings.jobs.wait(timeout=1.0)
    return RedirectResponse("/dataset", status_code=303)


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request) -> Response:
    settings = settings_of(request)
    if not has_workspace(settings):
        return RedirectResponse("/", status_code=303)
    datasets: list[dict[str, Any]] = []
    error = ""
    xnat = _node_kind(settings) == "xnat"
    if not xnat:
        try:
            with dataset_client(settings) as (client, _):
                datasets = client.list()
        except EucaimError as exc:
            error = str(exc)
    return render(
        request,
        "status.html",
        "status",
        datasets=datasets,
        error=error,
        xnat=xnat,
        commands=[cli(settings, "dataset", "status")] if not xnat else [cli(settings, "status")],
    )
