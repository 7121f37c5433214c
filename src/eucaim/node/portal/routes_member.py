"""Portal pages for signed-in users: their node, a dataset with its history, and the validator's review.

=========  ================================  ==============================================
method     path                              what
=========  ================================  ==============================================
GET        /portal/me                        biobanks, received studies, datasets
GET        /portal/my/datasets/{id}          a dataset: state, metadata, history, actions
POST       /portal/my/datasets/{id}/{action} release, publish, reject, aggregate, restart, ...
GET        /portal/review                    released datasets waiting (validators, admins)
GET        /portal/review/{id}               review: metadata, statistics, declarations, audit
=========  ================================  ==============================================

Every action calls the service function behind its API endpoint (``apply_action`` for
``POST /datasets/{id}/{action}``, ``request_aggregation``, ``restart_job``); a refusal is shown
next to the form that caused it.

"Recompute statistics" is a job (on PostgreSQL, run by a queue worker). The form waits up to
``PORTAL_WAIT_S`` for it and says "Done" only once it has finished; a job still queued or running
then is shown on the dataset's page with its state and progress, as is a job that failed after
the page was left, until the statistics are recomputed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from eucaim.errors import Conflict, EucaimError
from eucaim.node.api.errors import status_for
from eucaim.node.api.routes.datasets import job_runner, node_job_queue
from eucaim.node.context import NodeContext
from eucaim.node.db import session_scope
from eucaim.node.jobs.aggregation import request_aggregation
from eucaim.node.jobs.models import JobKind, JobStatus
from eucaim.node.jobs.records import JobRecord, job_view, latest_job
from eucaim.node.jobs.start import start_job
from eucaim.node.lifecycle import Action, DatasetState
from eucaim.node.portal.declarations import read_declarations
from eucaim.node.portal.figures import figures
from eucaim.node.portal.metadata_form import CHOICE_FIELDS, form_values
from eucaim.node.portal.overview import biobank_summaries, recent_studies
from eucaim.node.portal.web import PortalRoute, check_csrf, context_of, redirect, render, require_user
from eucaim.node.roles import Role
from eucaim.node.services import audit, dataset_jobs, datasets

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)

ACTIONS = {a.value: a for a in Action}
RESTART = "restart"
# How long the recompute form waits for its job before showing the page with the job's state: a
# browser left hanging looks broken, and the page says how far the job got.
PORTAL_WAIT_S = 10.0


def _perform(
    request: Request, node: NodeContext, user_id: int, dataset_id: str, action: str, reason: str
) -> JobRecord | None:
    """Run one action through the service its API endpoint uses; return its job, if it is one."""
    now = datetime.now(UTC)
    if action == Action.AGGREGATE.value:  # a job, started as POST /datasets/{id}/aggregate starts it
        job = request_aggregation(node.sessions, dataset_id=dataset_id, user_id=user_id, now=now)
        job = start_job(node, node_job_queue(request), job, wait_s=PORTAL_WAIT_S)
        if job.status is JobStatus.ERROR:
            raise Conflict(f"recomputing the statistics failed: {job.message}")
        return job
    with session_scope(node.sessions) as session:
        if action == RESTART:
            dataset_jobs.restart_job(session, dataset_id=dataset_id, user_id=user_id, now=now)
        else:
            datasets.apply_action(
                session,
                dataset_id=dataset_id,
                user_id=user_id,
                action=ACTIONS[action],
                now=now,
                reason=reason or None,
            )
    if action == RESTART:  # queued only once the restart is committed, as POST .../job/restart does
        job_runner(request, node).submit(dataset_id)
    return None


def _aggregation_to_show(
    node: NodeContext, dataset_id: str, aggregated_at: str | None
) -> dict[str, Any] | None:
    """Return the dataset's aggregation job while unfinished, or failed after the last success."""
    job = latest_job(node.sessions, kind=JobKind.AGGREGATE, subject=dataset_id)
    if job is None or job.status is JobStatus.FINISHED:
        return None
    failed_at = job.finished_at if job.status is JobStatus.ERROR else None
    if failed_at is not None and aggregated_at and datetime.fromisoformat(aggregated_at) >= failed_at:
        return None  # recomputed successfully since (through the API, say)
    return job_view(job)


@router.get("/me", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """Show the user's biobanks with what they hold, the latest studies received and the datasets."""
    user = require_user(request)
    node = context_of(request)
    with session_scope(node.sessions) as session:
        biobanks = biobank_summaries(session, user_id=user.user_id)
        received = recent_studies(session, user_id=user.user_id)
        mine = datasets.list_datasets(session, user_id=user.user_id)
    return render(request, "home.html", biobanks=biobanks, received=received, datasets=mine)


def dataset_page_response(
    request: Request,
    dataset_id: str,
    *,
    review: bool = False,
    error: str = "",
    error_action: str = "",
    status: int = 200,
    form_errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    """Render a dataset's page for the signed-in user (the review variant for validators).

    ``error``/``error_action`` put a refused action's message at that action's form;
    ``form_errors``/``form`` show the metadata form again as submitted, errors at their fields.
    """
    user = require_user(request, Role.VALIDATOR, Role.ADMIN) if review else require_user(request)
    node = context_of(request)
    with session_scope(node.sessions) as session:
        view = datasets.show_dataset(session, dataset_id=dataset_id, user_id=user.user_id)
        history = audit.list_entries(session, dataset_id=dataset_id)
        declared = read_declarations(session, node.store, dataset_id=dataset_id) if review else None
    values: dict[str, Any] = {
        "dataset": view,
        "aggregation": _aggregation_to_show(node, dataset_id, view.get("aggregatedAt")),
        "history": history,
        "declared": declared,
        "figures": figures(view.get("aggregates"), threshold=1) if review else [],
        "review": review,
        "error": error,
        "error_action": error_action,
        "done": request.query_params.get("done", ""),
        "form": form or form_values(view),
        "form_errors": form_errors or {},
        "choices": CHOICE_FIELDS,
    }
    return render(request, "dataset.html", status_code=status, **values)


@router.get("/my/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(dataset_id: str, request: Request) -> Response:
    """Show a dataset the user may see, with the actions open to them."""
    return dataset_page_response(request, dataset_id, review=False)


@router.post("/my/datasets/{dataset_id}/{action}", response_class=HTMLResponse)
def dataset_action(
    dataset_id: str,
    action: str,
    request: Request,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Perform a lifecycle action through the dataset service; show its refusal next to the form."""
    user = require_user(request)
    check_csrf(request, csrf)
    review = back == "review"
    if action not in ACTIONS and action != RESTART:
        return dataset_page_response(
            request, dataset_id, review=review, error=f"unknown action {action!r}", status=404
        )
    node = context_of(request)
    try:
        job = _perform(request, node, user.user_id, dataset_id, action, reason)
    except EucaimError as exc:
        message = exc.args[0] if exc.args else str(exc)
        if exc.hint:
            message = f"{message} ({exc.hint})"
        return dataset_page_response(
            request, dataset_id, review=review, error=message, error_action=action, status=status_for(exc)
        )
    if job is not None and job.status is not JobStatus.FINISHED:
        return redirect(f"/portal/my/datasets/{dataset_id}")  # the page shows the job under way
    return redirect(f"/portal/my/datasets/{dataset_id}?done={action}")


@router.get("/review", response_class=HTMLResponse)
def review_queue(request: Request) -> Response:
    """List the released datasets waiting for a validator's decision, oldest release first."""
    user = require_user(request, Role.VALIDATOR, Role.ADMIN)
    node = context_of(request)
    with session_scope(node.sessions) as session:
        waiting = [
            d
            for d in datasets.list_datasets(session, user_id=user.user_id)
            if d["state"] == DatasetState.RELEASED.value
        ]
    waiting.sort(key=lambda d: d.get("releasedAt") or "")
    return render(request, "review_queue.html", datasets=waiting)


@router.get("/review/{dataset_id}", response_class=HTMLResponse)
def review_page(dataset_id: str, request: Request) -> Response:
    """Show what a validator needs to decide: metadata, exact statistics, declarations, audit trail."""
    return dataset_page_response(request, dataset_id, review=True)
