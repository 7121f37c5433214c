"""Node jobs (aggregation, store migration): their status, progress and outcome.

=========  ==================  ============================================================
method     path                what
=========  ==================  ============================================================
GET        /jobs               the newest jobs (admins)
GET        /jobs/{id}          one job: admins, and for an aggregation whoever sees its dataset
=========  ==================  ============================================================

A dataset's creation job stays at ``GET /datasets/{id}/job``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from eucaim.errors import PermissionDenied
from eucaim.node.api.deps import Context, CurrentCaller
from eucaim.node.db import session_scope
from eucaim.node.jobs.models import JobKind
from eucaim.node.jobs.records import get_job, job_view, list_jobs
from eucaim.node.roles import Role
from eucaim.node.services.datasets import visible_dataset

router = APIRouter(tags=["operations"])


@router.get("/jobs", summary="The newest node jobs (admins)")
def read_jobs(context: Context, caller: CurrentCaller, limit: int = 50) -> list[dict[str, Any]]:
    if caller.role is not Role.ADMIN:
        raise PermissionDenied("the list of node jobs is readable by admins only")
    return [job_view(job) for job in list_jobs(context.sessions, limit=max(1, min(limit, 1000)))]


@router.get("/jobs/{job_id}", summary="One node job: status, progress, message")
def read_job(job_id: str, context: Context, caller: CurrentCaller) -> dict[str, Any]:
    job = get_job(context.sessions, job_id)
    if caller.role is not Role.ADMIN:
        if job.kind is not JobKind.AGGREGATE:
            raise PermissionDenied(f"job {job_id} is readable by admins only")
        with session_scope(context.sessions) as session:
            visible_dataset(session, job.subject, caller.user_id)  # raises when the caller may not see it
    return job_view(job)
