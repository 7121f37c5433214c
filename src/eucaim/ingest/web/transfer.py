"""The transfer step's use case in the server: run ``push`` in the background, pause it, report progress."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eucaim.ingest.pipeline.events import Stage
from eucaim.ingest.pipeline.runner import options_from, push
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.targets import build_target
from eucaim.ingest.upload.base import OutgoingInstance, SendResult, Target
from eucaim.ingest.web.jobs import Job, PausedByUser
from eucaim.ingest.workspace import Workspace


class PausableTarget:
    """Wraps the workspace's target so that a pause request stops new batches (in-flight ones finish)."""

    def __init__(self, inner: Target, job: Job) -> None:
        self._inner = inner
        self._job = job
        self.name = inner.name

    def send(self, study_uid: str, batch: Sequence[OutgoingInstance]) -> SendResult:
        if self._job.pause_requested:
            raise PausedByUser()
        return self._inner.send(study_uid, batch)

    def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
        return self._inner.list_instances(study_uid, series_uid)

    def close(self) -> None:
        self._inner.close()


def run_push(ws: Workspace, job: Job, inner: Target | None = None, max_rate: float | None = None) -> str:
    """``eucaim-ingest push``: the same runner, options and target, with the job as event handler.

    ``inner`` replaces the workspace's target (tests); ``max_rate`` caps the upload in MB/s, as
    ``--max-rate`` does. Returns "complete", "paused" or why not.
    """
    target = PausableTarget(inner or build_target(ws, max_rate_mb_s=max_rate), job)
    try:
        summary = push(ws, target, options_from(ws), on_event=job.handle)
    finally:
        target.close()
    if summary.ok:
        return "complete"
    if job.pause_requested:
        return "paused"
    # The page already says the transfer is incomplete; keep only the why.
    return summary.why_not_ok().removeprefix("not complete: ")


def progress_snapshot(ws: Workspace, job: Job | None) -> dict[str, Any]:
    """What the transfer page shows, as JSON for polling: state counts, per-study status, live rates."""
    counts = {s.value: n for s, n in ws.state.counts_by_state().items()}
    total = sum(counts.values())
    studies = []
    for key, out_key, per_state in ws.state.counts_by_group("study"):
        n = sum(per_state.values())
        verified = per_state[InstanceState.VERIFIED]
        quarantined = per_state[InstanceState.QUARANTINED]
        status = "verified" if verified == n else "quarantined" if quarantined else "pending"
        if status == "pending" and verified + per_state[InstanceState.SENT] > 0:
            status = "in progress"
        studies.append({"study": out_key or key, "instances": n, "verified": verified, "status": status})
    snapshot: dict[str, Any] = {
        "counts": counts,
        "total": total,
        "verified": counts.get("verified", 0),
        "studies": studies,
        "job": None,
    }
    if job is not None and job.kind == "push":
        send = job.stage(Stage.SEND)
        now = job.ended or time.monotonic()
        left = send.seconds_left(now)
        snapshot["job"] = {
            "status": job.status.value,
            "result": job.result,
            "error": job.error,
            "sent_items": send.items,
            "total_items": send.total_items,
            "mb": round(send.bytes / 1e6, 1),
            "total_mb": round(send.total_bytes / 1e6, 1),
            "rate": round(send.rate_bytes_s(now) / 1e6, 2),
            "seconds_left": None if left is None else round(left),
            "notices": job.notices[-5:],
        }
    return snapshot
