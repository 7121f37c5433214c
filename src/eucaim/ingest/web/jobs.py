"""Long operations of the web UI: one background thread per workspace, its state kept for page reloads.

Every action that can take longer than a moment (indexing, retrieving, pushing, doctor checks,
sending clinical data, creating a dataset, releasing an XNAT project) runs as a :class:`Job`:
the request only starts it and the page follows it (``/job`` polling). The last job of each kind
stays readable (``JobRunner.last``), so a page shows its own action's outcome next to its form
even after another kind of job ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eucaim.errors import EucaimError, UploadError
from eucaim.ingest.pipeline.events import Advanced, Event, Notice, Stage, StageFinished, StageStarted


class JobStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    PAUSED = "paused"


class PausedByUser(UploadError):
    """Raised by the pausable target once the user asked to pause; the pipeline stops sending.

    A 403-like status makes the send stage treat it as final for this run (batches in flight
    finish, nothing new starts); the rows stay de-identified and the next push sends them.
    """

    def __init__(self) -> None:
        super().__init__("paused by the user", status_code=403)


@dataclass
class StageProgress:
    """Items and bytes of one pipeline stage, fed by the pipeline's events."""

    total_items: int = 0
    total_bytes: int = 0
    items: int = 0
    bytes: int = 0
    started: float = 0.0
    finished: bool = False

    def rate_bytes_s(self, now: float) -> float:
        elapsed = now - self.started
        return self.bytes / elapsed if elapsed > 0.2 else 0.0

    def seconds_left(self, now: float) -> float | None:
        rate = self.rate_bytes_s(now)
        if rate <= 0 or self.finished:
            return None
        return max(0.0, (self.total_bytes - self.bytes) / rate)


@dataclass
class Job:
    """One long operation: what it is, the CLI command it stands for, and how far it got.

    ``progress`` is a short line the page shows while it runs; ``detail`` holds what the page
    needs afterwards (the checks of a doctor run, the form a dataset was created from, its id).
    Neither may carry PHI or a secret: both are shown in the browser.
    """

    kind: str
    command: str
    detail: dict[str, Any] = field(default_factory=dict)
    progress: str = ""
    status: JobStatus = JobStatus.RUNNING
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    result: str = ""
    error: str = ""
    notices: list[str] = field(default_factory=list)
    stages: dict[str, StageProgress] = field(default_factory=dict)
    pause_requested: bool = False

    def handle(self, event: Event) -> None:
        """Record one pipeline event (the same events the CLI progress bar renders)."""
        now = time.monotonic()
        if isinstance(event, StageStarted):
            self.stages[event.stage.value] = StageProgress(event.total_items, event.total_bytes, started=now)
        elif isinstance(event, Advanced):
            stage = self.stages.setdefault(event.stage.value, StageProgress(started=now))
            stage.items += event.items
            stage.bytes += event.bytes
        elif isinstance(event, StageFinished):
            self.stages.setdefault(event.stage.value, StageProgress(started=now)).finished = True
        elif isinstance(event, Notice):
            # Keep the last few: notices never carry PHI, but a long run could produce thousands.
            self.notices = [*self.notices[-19:], event.text]

    def stage(self, stage: Stage) -> StageProgress:
        return self.stages.get(stage.value, StageProgress())


class JobRunner:
    """Runs at most one workspace-changing job at a time; read-only checks run beside it.

    Exclusive jobs (indexing, pushing, sending, creating) are ``current`` and make the runner
    ``busy``; a job started with ``exclusive=False`` (the doctor checks, which only read) neither
    waits for them nor blocks them, so a user who just opened the first page is never told to wait
    for the checks that page started. Every job stays in ``last`` until the next of its kind.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._side: dict[str, threading.Thread] = {}
        self.current: Job | None = None
        self.last: dict[str, Job] = {}

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, job: Job, work: Callable[[Job], str], *, exclusive: bool = True) -> bool:
        """Start ``work(job)`` in a thread; False when a job that would clash is still running."""
        with self._lock:
            thread = threading.Thread(target=self._run, args=(job, work), name=f"ui-{job.kind}", daemon=True)
            if exclusive:
                if self.busy:
                    return False
                self.current = job
                self._thread = thread
            else:
                side = self._side.get(job.kind)
                if side is not None and side.is_alive():
                    return False
                self._side[job.kind] = thread
            self.last[job.kind] = job
            thread.start()
            return True

    def _run(self, job: Job, work: Callable[[Job], str]) -> None:
        try:
            job.result = work(job)
            job.status = JobStatus.PAUSED if job.pause_requested else JobStatus.FINISHED
        except EucaimError as exc:
            job.error = str(exc)
            job.status = JobStatus.FAILED
        except Exception as exc:  # a bug must still end the job visibly, not leave it "running"
            job.error = f"unexpected error: {type(exc).__name__}"
            job.status = JobStatus.FAILED
        finally:
            job.ended = time.monotonic()

    def wait(self, timeout: float | None = None, kind: str | None = None) -> None:
        """Wait for the running exclusive job, or for the side job ``kind`` (tests and shutdown)."""
        thread = self._thread if kind is None else self._side.get(kind)
        if thread is not None:
            thread.join(timeout)
