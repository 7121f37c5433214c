"""Dataset routes for data holders, validators and admins: create, read, edit, lifecycle, audit log.

=========  ==================================  ===============================================
method     path                                what
=========  ==================================  ===============================================
POST       /datasets                           create (202 + creation job)
GET        /datasets                           the datasets the caller may see
GET        /datasets/{id}                      one, with editableProperties and allowedActions
PATCH      /datasets/{id}                      change metadata properties
GET        /datasets/{id}/job                  creation job: status, progress, message
POST       /datasets/{id}/job/restart          run a failed creation job again (202)
POST       /datasets/{id}/aggregate            recompute the aggregates (a job; 200 when done, else 202)
POST       /datasets/{id}/{action}             release, publish, reject, invalidate, reactivate
GET        /audit                              the audit log and its verification (admins)
=========  ==================================  ===============================================
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from eucaim.errors import Conflict, PermissionDenied
from eucaim.node.api.deps import Context, CurrentCaller
from eucaim.node.db import session_scope
from eucaim.node.jobs.aggregation import request_aggregation
from eucaim.node.jobs.models import JobStatus
from eucaim.node.jobs.records import job_view
from eucaim.node.jobs.start import REQUEST_WAIT_S, QueuedJobs, start_job
from eucaim.node.lifecycle import Action
from eucaim.node.roles import Role
from eucaim.node.services import audit, dataset_jobs, datasets
from eucaim.node.services.dataset_jobs import JobRunner, ThreadJobRunner

router = APIRouter(tags=["datasets"])
_runner_lock = threading.Lock()


class Selection(BaseModel):
    """What goes into the dataset: the whole biobank, or the listed subjects, studies or series."""

    kind: str = Field(description="biobank | subjects (pseudonyms) | studies (StudyInstanceUIDs) | series")
    ids: list[str] = Field(default_factory=list)


class DatasetCreate(BaseModel):
    """The body of POST /datasets; any other metadata property may be given as well."""

    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    biobank: str
    selection: Selection = Field(default_factory=lambda: Selection(kind="biobank"))


class ActionBody(BaseModel):
    """The optional body of a lifecycle action; reject and invalidate need a reason."""

    reason: str | None = None


def job_runner(request: Request, context: Context) -> JobRunner:
    """Return the process's job runner (created on first use; tests may set app.state.dataset_jobs)."""
    with _runner_lock:
        runner: JobRunner | None = getattr(request.app.state, "dataset_jobs", None)
        if runner is None:
            runner = ThreadJobRunner(context.sessions)
            request.app.state.dataset_jobs = runner
        return runner


def node_job_queue(request: Request) -> QueuedJobs | None:
    """Return the queue node jobs go to, or None when this node runs them in process (SQLite)."""
    queue: QueuedJobs | None = getattr(request.app.state, "node_jobs", None)
    return queue


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/datasets", status_code=202, summary="Create a dataset from a biobank's data (a creation job)")
def create_dataset(
    body: DatasetCreate, request: Request, context: Context, caller: CurrentCaller
) -> JSONResponse:
    """Create the dataset in state ``creating`` and start its job; poll ``GET /datasets/{id}/job``."""
    extra: dict[str, Any] = dict(body.model_extra or {})
    with session_scope(context.sessions) as session:
        dataset = datasets.create_dataset(
            session,
            user_id=caller.user_id,
            biobank_code=body.biobank,
            name=body.name,
            description=body.description,
            selection=body.selection.model_dump(),
            properties=extra,
            now=_now(),
        )
        dataset_id = dataset.id
    job_runner(request, context).submit(dataset_id)
    with session_scope(context.sessions) as session:
        view = datasets.show_dataset(session, dataset_id=dataset_id, user_id=caller.user_id)
    return JSONResponse(view, status_code=202, headers={"Location": f"/datasets/{dataset_id}/job"})


@router.get("/datasets", summary="List the datasets the caller may see")
def list_datasets(context: Context, caller: CurrentCaller) -> list[dict[str, Any]]:
    with session_scope(context.sessions) as session:
        return datasets.list_datasets(session, user_id=caller.user_id)


@router.get(
    "/datasets/{dataset_id}", summary="One dataset, with the caller's editableProperties and allowedActions"
)
def show_dataset(dataset_id: str, context: Context, caller: CurrentCaller) -> dict[str, Any]:
    with session_scope(context.sessions) as session:
        return datasets.show_dataset(session, dataset_id=dataset_id, user_id=caller.user_id)


@router.patch("/datasets/{dataset_id}", summary="Change metadata properties ({property: value, ...})")
def update_dataset(
    dataset_id: str, changes: dict[str, Any], context: Context, caller: CurrentCaller
) -> dict[str, Any]:
    with session_scope(context.sessions) as session:
        return datasets.update_properties(
            session, dataset_id=dataset_id, user_id=caller.user_id, changes=changes, now=_now()
        )


@router.get("/datasets/{dataset_id}/job", summary="The creation job: pending, running, finished or error")
def show_job(dataset_id: str, context: Context, caller: CurrentCaller) -> dict[str, Any]:
    with session_scope(context.sessions) as session:
        return datasets.show_job(session, dataset_id=dataset_id, user_id=caller.user_id)


@router.post("/datasets/{dataset_id}/job/restart", status_code=202, summary="Restart a failed creation job")
def restart_job(dataset_id: str, request: Request, context: Context, caller: CurrentCaller) -> dict[str, Any]:
    """Queue the failed job again (after fixing its cause, e.g. uploading the missing subjects)."""
    with session_scope(context.sessions) as session:
        dataset_jobs.restart_job(session, dataset_id=dataset_id, user_id=caller.user_id, now=_now())
    job_runner(request, context).submit(dataset_id)
    with session_scope(context.sessions) as session:
        return datasets.show_job(session, dataset_id=dataset_id, user_id=caller.user_id)


@router.post("/datasets/{dataset_id}/aggregate", summary="Recompute the aggregates from the frozen series")
def aggregate(
    dataset_id: str,
    request: Request,
    context: Context,
    caller: CurrentCaller,
    prefer: Annotated[str | None, Header(description="respond-async: answer 202 at once")] = None,
) -> JSONResponse:
    """Run the aggregation job; answer the dataset (200) once done, or the job (202) while it runs.

    The request waits up to 30 s for the job unless ``Prefer: respond-async`` is sent; a 202 names
    the job in ``Location`` (``GET /jobs/{id}``). Embedded SQLite nodes run the job in the request.
    """
    job = request_aggregation(context.sessions, dataset_id=dataset_id, user_id=caller.user_id, now=_now())
    wait_s = 0.0 if prefer and "respond-async" in prefer.lower() else REQUEST_WAIT_S
    job = start_job(context, node_job_queue(request), job, wait_s=wait_s)
    if job.status is JobStatus.ERROR:
        raise Conflict(f"the aggregation job {job.id} of dataset {dataset_id} failed: {job.message}")
    if job.status is not JobStatus.FINISHED:
        return JSONResponse(job_view(job), status_code=202, headers={"Location": f"/jobs/{job.id}"})
    with session_scope(context.sessions) as session:
        return JSONResponse(datasets.show_dataset(session, dataset_id=dataset_id, user_id=caller.user_id))


def _action_route(action: Action) -> None:
    def perform(
        dataset_id: str, context: Context, caller: CurrentCaller, body: ActionBody | None = None
    ) -> dict[str, Any]:
        with session_scope(context.sessions) as session:
            return datasets.apply_action(
                session,
                dataset_id=dataset_id,
                user_id=caller.user_id,
                action=action,
                now=_now(),
                reason=body.reason if body else None,
            )

    perform.__name__ = f"{action.value}_dataset"
    router.post(
        f"/datasets/{{dataset_id}}/{action.value}", summary=f"{action.value.capitalize()} the dataset"
    )(perform)


for _action in (Action.RELEASE, Action.PUBLISH, Action.REJECT, Action.INVALIDATE, Action.REACTIVATE):
    _action_route(_action)


@router.get("/audit", tags=["operations"], summary="The audit log with its hash-chain verification (admins)")
def read_audit(
    context: Context, caller: CurrentCaller, dataset: str | None = None, limit: int = 1000
) -> dict[str, Any]:
    if caller.role is not Role.ADMIN:
        raise PermissionDenied("the audit log is readable by admins only")
    with session_scope(context.sessions) as session:
        report = audit.verify_chain(session)
        entries = audit.list_entries(session, dataset_id=dataset, limit=max(1, min(limit, 10000)))
    return {
        "verified": report.ok,
        "entries": report.entries,
        "brokenAt": report.broken_at,
        "problem": report.reason or None,
        "log": entries,
    }
