"""PACS search and retrieve as background jobs of the web UI: live counts, and a stop mid-study.

The work is the CLI's: ``find_studies`` and ``retrieve_studies`` from ``pacs_intake``. This module
only counts what they report (queries answered, studies done, instances arrived) for the page to
poll, and stops them when the user asks. A retrieve's stop is the engine's ``should_stop``: the
running C-GET/C-MOVE gets a DIMSE C-CANCEL within a fraction of a second (the association is
aborted if the PACS ignores it), every file already arrived stays indexed, and no other study
starts. Running the same retrieve again fetches the rest. A search stops before its next query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eucaim.errors import EucaimError
from eucaim.ingest.pacs_intake import (
    InstanceArrived,
    IntakeEvent,
    RetrieveMethod,
    StudyFinished,
    describe_query,
    find_studies,
    pacs_config,
    retrieve_studies,
)
from eucaim.ingest.sources.pacs import PacsClient, PacsConfig
from eucaim.ingest.sources.query import StudyMatch, StudyQuery
from eucaim.ingest.web.jobs import Job, StageProgress
from eucaim.ingest.web.messages import text
from eucaim.ingest.web.receiver import UiReceiver
from eucaim.ingest.workspace import Workspace


class StopRequested(EucaimError):
    """The user stopped the search or retrieve; raised from the engine's own hooks, caught here."""

    def __init__(self) -> None:
        super().__init__("stopped by the user")


@dataclass
class PacsJob(Job):
    """A find or retrieve: counters (``stages``: queries, studies, instances) updated from DIMSE threads."""

    method: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def advance(self, name: str, items: int = 1) -> None:
        with self.lock:
            stage = self.stages.setdefault(name, StageProgress(started=time.monotonic()))
            stage.items += items

    def begin(self, name: str, total: int | None) -> None:
        with self.lock:
            self.stages[name] = StageProgress(total_items=total or 0, started=time.monotonic())


class CountingClient(PacsClient):
    """The PACS client, counting each answered query and stopping before the next when asked."""

    def __init__(self, config: PacsConfig, job: PacsJob) -> None:
        super().__init__(config)
        self._job = job

    def find_studies(self, query: StudyQuery) -> list[StudyMatch]:
        if self._job.pause_requested:
            raise StopRequested()
        matches = super().find_studies(query)
        self._job.advance("queries")
        return matches


@dataclass
class FindOutcome:
    """What a finished search leaves for the page: the studies and the queries that found nothing."""

    studies: list[StudyMatch]
    unmatched: list[str]


def run_find(ws: Workspace, job: PacsJob, queries: Sequence[StudyQuery]) -> tuple[str, FindOutcome | None]:
    """``eucaim-ingest pacs find``: the result line and what was found (None when stopped)."""
    job.begin("queries", len(queries))
    try:
        result = find_studies(CountingClient(pacs_config(ws.config), job), queries)
    except StopRequested:
        return text("pacs.find_stopped", done=job.stages["queries"].items, total=len(queries)), None
    outcome = FindOutcome(result.studies, [describe_query(q) for q in result.unmatched])
    return text("pacs.find_done", n=len(result.studies), queries=len(queries)), outcome


def run_retrieve(
    ws: Workspace,
    job: PacsJob,
    studies: Sequence[StudyMatch],
    method: RetrieveMethod,
    receiver: UiReceiver | None,
) -> str:
    """``eucaim-ingest pacs retrieve`` of ``studies``: the line the page shows when it ends.

    ``receiver`` is the UI's running receiver, used by C-MOVE instead of binding the port again.
    """
    counts = [s.instance_count for s in studies]
    job.begin("studies", len(studies))
    job.begin("instances", sum(c for c in counts if c is not None) if None not in counts else None)

    def on_event(event: IntakeEvent) -> None:
        if isinstance(event, InstanceArrived):
            job.advance("instances")
            if lent is not None:
                lent.count_moved(usable=event.usable)
        elif isinstance(event, StudyFinished):
            job.advance("studies")
            earlier = event.outcome.present - event.outcome.received  # fetched by an earlier run
            if earlier > 0:
                job.advance("instances", earlier)
            if event.outcome.error or event.outcome.cancelled:
                job.notices = [*job.notices[-19:], f"{event.outcome.study_uid}: {event.outcome.reason}"]

    lent = receiver if method is RetrieveMethod.MOVE else None
    pacs = ws.config.pacs
    report = retrieve_studies(
        PacsClient(pacs_config(ws.config)),
        ws.state,
        ws.incoming,
        studies,
        method=method,
        receiver_port=pacs.receiver_port if pacs else None,
        receiver=lent.receiver if lent is not None else None,
        on_event=on_event,
        should_stop=lambda: job.pause_requested,
    )
    if report.stopped:
        return text(
            "pacs.retrieve_stopped",
            complete=len(report.studies) - len(report.incomplete),
            total=len(studies),
            cancelled=len(report.cancelled),
            not_started=len(report.not_started),
            instances=job.stages["instances"].items,
        )
    job.pause_requested = False  # a stop asked as the last study ended changed nothing
    for outcome in report.incomplete:
        if not outcome.error:
            job.notices = [
                *job.notices[-19:],
                f"{outcome.study_uid}: {len(outcome.missing)} instances missing",
            ]
    complete = len(report.studies) - len(report.incomplete)
    return text(
        "pacs.retrieve_done",
        complete=complete,
        total=len(report.studies),
        indexed=report.indexed,
        method=method.value.upper(),
    )


def progress(job: Job | None) -> dict[str, Any]:
    """The PACS job's counts for the page's polling: queries, studies, instances and their rate."""
    if not isinstance(job, PacsJob):
        return {"kind": None}
    now = job.ended or time.monotonic()
    with job.lock:
        stages = {name: (s.items, s.total_items, s.started) for name, s in job.stages.items()}
    items, total, started = stages.get("instances", (0, 0, now))
    elapsed = now - started
    return {
        "kind": job.kind,
        "status": job.status.value,
        "method": job.method,
        "queries": stages.get("queries", (0, 0, 0))[:2],
        "studies": stages.get("studies", (0, 0, 0))[:2],
        "instances": items,
        "expected": total or None,
        "rate": round(items / elapsed, 1) if elapsed > 0.2 else 0.0,
        "result": job.result,
        "error": job.error,
        "notices": job.notices[-5:],
    }
