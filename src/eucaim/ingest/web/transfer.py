"""The transfer step's use case in the server: run ``push`` in the background, pause it, report progress.

The options of ``eucaim-ingest push`` (``--max-rate``, ``--window``, ``--concurrency``, ``--workers``,
``--batch-mb``) are checked here with the CLI's own bounds and parsers, then handed to the same
runner. A run outside its time window waits inside the runner (its ``sleep`` hook): here that
sleep is one the page can see (until when) and a pause can cut short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eucaim.errors import ConfigError
from eucaim.ingest.pipeline.events import Notice, Stage
from eucaim.ingest.pipeline.pacing import TimeWindow
from eucaim.ingest.pipeline.resend import ResendScope, select_verified
from eucaim.ingest.pipeline.runner import PushOptions, options_from, push
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


@dataclass(frozen=True)
class TransferChoice:
    """The push options the user chose (None: the workspace's configured value)."""

    max_rate: float | None = None
    window: TimeWindow | None = None
    concurrency: int | None = None
    workers: int | None = None
    batch_mb: float | None = None
    # ``push --resend`` (or, with ``reverify``, ``--reverify``) for this scope; None: a plain push.
    resend: ResendScope | None = None
    reverify: bool = False

    def form_values(self) -> dict[str, str]:
        """The transfer form's fields as the user would type them (empty: the configured value)."""
        return {
            "max_rate": f"{self.max_rate:g}" if self.max_rate else "",
            "window": str(self.window) if self.window else "",
            "concurrency": str(self.concurrency or ""),
            "workers": str(self.workers or ""),
            "batch_mb": f"{self.batch_mb:g}" if self.batch_mb else "",
        }

    def cli_args(self) -> list[str]:
        """The ``eucaim-ingest push`` options that ask for the same."""
        args: list[str] = []
        for option, value in (("--max-rate", self.max_rate), ("--window", self.window),
                              ("--concurrency", self.concurrency), ("--workers", self.workers),
                              ("--batch-mb", self.batch_mb)):  # fmt: skip
            if value is not None:
                args += [option, f"{value:g}" if isinstance(value, float) else str(value)]
        if self.resend is not None:
            args.append("--reverify" if self.reverify else "--resend")
            for option, ids in (("--patient", self.resend.patients), ("--study", self.resend.studies),
                                ("--series", self.resend.series)):  # fmt: skip
                args += [a for i in ids for a in (option, i)]
            if self.resend.everything:
                args.append("--all")
        return args


RESEND_KINDS = ("study", "series", "patient", "all")


def parse_resend(ws: Workspace, form: dict[str, str]) -> tuple[TransferChoice, dict[str, str]]:
    """Check the "send again" form as ``push --resend``/``--reverify`` checks its scope.

    ``form`` holds ``kind`` (study, series, patient or all), ``ids`` (one per line or
    comma-separated) and ``mode`` (resend or reverify). Returns the choice and an error per field:
    no ids is refused here, ids matching no verified instance with the CLI's own message.
    """
    kind = form.get("kind", "study")
    if kind not in RESEND_KINDS:
        return TransferChoice(), {"resend_kind": "transfer.resend_bad_kind"}
    reverify = form.get("mode") == "reverify"
    option = "--reverify" if reverify else "--resend"
    ids = [] if kind == "all" else form.get("ids", "").replace("\r", "").replace("\n", ",").split(",")
    named = {{"patient": "patients", "study": "studies", "series": "series"}.get(kind, "series"): ids}
    try:
        scope = ResendScope.parse(**named, everything=kind == "all", option=option)
        select_verified(ws.state, scope, option=option)
    except ConfigError as exc:
        if not any(i.strip() for i in ids) and kind != "all":
            return TransferChoice(), {"resend_ids": "transfer.resend_no_ids"}
        return TransferChoice(), {"resend_ids": str(exc)}
    return TransferChoice(resend=scope, reverify=reverify), {}


# Form field → (bounds as in `eucaim-ingest push`, integer?). None: no upper bound.
_NUMBERS: dict[str, tuple[float, float | None, bool]] = {
    "max_rate": (0.01, 10_000, False),
    "concurrency": (1, 16, True),
    "workers": (1, 64, True),
    "batch_mb": (0.01, None, False),
}


def parse_choice(form: dict[str, str]) -> tuple[TransferChoice, dict[str, str]]:
    """Check the transfer form; the choice, and an error per field (empty when all are usable)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, (low, high, integer) in _NUMBERS.items():
        raw = form.get(name, "").strip()
        if not raw:
            continue
        try:
            number: float = int(raw) if integer else float(raw)
        except ValueError:
            number = float("nan")
        if not (low <= number and (high is None or number <= high)):
            errors[name] = f"transfer.bad_{name}"
        else:
            values[name] = number
    raw_window = form.get("window", "").strip()
    if raw_window:
        try:
            values["window"] = TimeWindow.parse(raw_window)
        except ConfigError as exc:
            errors["window"] = str(exc)
    return TransferChoice(**values), errors


@dataclass
class PushJob(Job):
    """A push run: the options it was given, and whether it is waiting for its time window."""

    options: PushOptions | None = None
    choice: TransferChoice = field(default_factory=TransferChoice)
    wake: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    waiting_until: datetime | None = None
    _waiters: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def sleep(self, seconds: float) -> None:
        """The runner's sleep while outside the window: shown on the page, cut short by a pause."""
        with self._lock:
            self._waiters += 1
            self.waiting_until = datetime.now() + timedelta(seconds=seconds)
        try:
            self.wake.wait(seconds)
        finally:
            with self._lock:
                self._waiters -= 1
                if self._waiters == 0:
                    self.waiting_until = None

    def request_pause(self) -> None:
        self.pause_requested = True
        self.wake.set()


def run_push(
    ws: Workspace,
    job: Job,
    inner: Target | None = None,
    max_rate: float | None = None,
    choice: TransferChoice | None = None,
) -> str:
    """``eucaim-ingest push``: the same runner, options and target, with the job as event handler.

    ``inner`` replaces the workspace's target (tests); ``max_rate`` caps the upload in MB/s, as
    ``--max-rate`` does; ``choice`` holds the other push options. Returns "complete", "paused" or
    why not.
    """
    choice = choice or TransferChoice(max_rate=max_rate)
    options = options_from(
        ws,
        window=choice.window,
        concurrency=choice.concurrency,
        workers=choice.workers,
        batch_bytes=int(choice.batch_mb * 1e6) if choice.batch_mb else None,
        resend=choice.resend,
        reverify=choice.reverify or None,
    )
    sleep = job.sleep if isinstance(job, PushJob) else None
    if isinstance(job, PushJob):
        job.options = options
    target = PausableTarget(inner or build_target(ws, max_rate_mb_s=choice.max_rate or max_rate), job)
    try:
        summary = push(ws, target, options, on_event=job.handle, sleep=sleep)
    finally:
        target.close()
    if summary.resend_selected:  # the CLI's summary line, kept on the page with the run's notices
        job.handle(Notice(f"re-sent: {summary.resent} of {summary.resend_reopened} instances"))
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
        waiting = job.waiting_until if isinstance(job, PushJob) and job.status.value == "running" else None
        options = job.options if isinstance(job, PushJob) else None
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
            "waiting_until": waiting.strftime("%H:%M") if waiting else None,
            "window": str(job.choice.window) if isinstance(job, PushJob) and job.choice.window else None,
            "options": _options_view(options, job.choice) if isinstance(job, PushJob) else None,
        }
    return snapshot


def _options_view(options: PushOptions | None, choice: TransferChoice) -> dict[str, Any] | None:
    """The options the runner was given (not what the form asked): what this run really uses."""
    if options is None:
        return None
    return {
        "concurrency": options.concurrency,
        "workers": options.workers,
        "batch_mb": f"{options.batch_bytes / 1e6:g}",
        "window": str(options.window) if options.window else None,
        "max_rate": f"{choice.max_rate:g}" if choice.max_rate else None,
    }
