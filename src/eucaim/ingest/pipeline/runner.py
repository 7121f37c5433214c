"""Run a push: reconcile what is in flight, de-identify and send at once, verify, clean up, report.

Every step reads its work from the state DB and writes each outcome back at once, so running
``push`` again after any interruption continues where the last one stopped and never sends an
instance the node already holds.

De-identification (a process pool) and sending (a few threads) overlap: a study's instances are
sent as soon as a batch's worth is ready or the study is complete, so the run takes about as
long as the slower of the two, not their sum.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from eucaim.errors import EucaimError
from eucaim.ingest.pipeline.batching import plan_batches
from eucaim.ingest.pipeline.deid_stage import outbox_instance_id, run_deidentify
from eucaim.ingest.pipeline.events import EventHandler, Notice, Stage, StageFinished, StageStarted, ignore
from eucaim.ingest.pipeline.pacing import TimeWindow
from eucaim.ingest.pipeline.report import PushSummary, write_reports
from eucaim.ingest.pipeline.resend import Reopened, ResendScope, missing_on_node, reopen, select_verified
from eucaim.ingest.pipeline.send_stage import (
    BatchSender,
    SendStats,
    outgoing,
    run_send,
    run_verify,
    submit_planned,
)
from eucaim.ingest.state.db import DeidRecord, InstanceRow, StateDB
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.base import OutgoingInstance, Target
from eucaim.ingest.workspace import Workspace

logger = logging.getLogger(__name__)
S = InstanceState


@dataclass(frozen=True)
class PushOptions:
    workers: int
    concurrency: int
    batch_bytes: int
    keep_outbox: bool = False
    resend_rounds: int = 2
    window: TimeWindow | None = None
    # Send these verified instances again (``--resend``); with ``reverify``, only those the node no
    # longer lists (``--reverify``).
    resend: ResendScope | None = None
    reverify: bool = False


def options_from(ws: Workspace, **overrides: object) -> PushOptions:
    t = ws.config.transfer
    values: dict[str, object] = {
        "workers": t.workers,
        "concurrency": t.concurrency,
        "batch_bytes": t.batch_bytes,
        "keep_outbox": t.keep_outbox,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return PushOptions(**values)  # type: ignore[arg-type]


def push(
    ws: Workspace,
    target: Target,
    options: PushOptions,
    *,
    on_event: EventHandler = ignore,
    now: Callable[[], datetime] = datetime.now,
    sleep: Callable[[float], None] | None = None,
) -> PushSummary:
    """Bring every indexed instance to ``verified`` on ``target``, or say why not.

    With ``options.resend``, the verified instances of that scope are sent again first (with
    ``options.reverify``, only those the node no longer lists).

    Raises:
        StateError: another push is running in this workspace.
        ConfigError: ``options.resend`` selects no verified instance.
    """
    with ws.exclusive("eucaim-ingest push"):
        return _push(ws, target, options, on_event=on_event, now=now, sleep=sleep)


def _push(
    ws: Workspace,
    target: Target,
    options: PushOptions,
    *,
    on_event: EventHandler,
    now: Callable[[], datetime],
    sleep: Callable[[float], None] | None,
) -> PushSummary:
    state = ws.state
    option = "--reverify" if options.reverify else "--resend"
    selected = select_verified(state, options.resend, option=option) if options.resend else None
    run_id = state.start_run("push")
    summary = PushSummary()
    reopened = Reopened()
    try:
        if selected is not None:
            reopened = _reopen(state, target, selected, options, summary, on_event)
        # Instances a previous run may have sent before it died: ask the node before anything else.
        # Rows no STOW ever carried cannot be there, so a first push asks nothing.
        in_flight = state.in_flight()
        if in_flight:
            before = run_verify(
                state,
                target,
                in_flight,
                on_event=on_event,
                stage=Stage.RECONCILE,
                concurrency=options.concurrency,
            )
            summary.already_on_node = before.verified
        _recover_outbox(ws)
        waiter = _window_waiter(options.window, on_event, now, sleep)
        _deidentify_and_send(ws, target, options, summary, on_event, waiter, reopened.expected_sha256)
        for _ in range(options.resend_rounds):
            if summary.fatal:
                break
            verify = run_verify(
                state,
                target,
                state.instances([S.SENT, S.DEIDENTIFIED]),
                on_event=on_event,
                concurrency=options.concurrency,
            )
            summary.verified_now += verify.verified
            leftovers = state.instances([S.DEIDENTIFIED])
            if not leftovers:
                break
            sent = run_send(
                state,
                target,
                leftovers,
                batch_bytes=options.batch_bytes,
                concurrency=options.concurrency,
                on_event=on_event,
                before_send=waiter,  # a resend respects the transfer window like the first send
            )
            _add_send(summary, sent)
        else:
            if not summary.fatal:
                summary.verified_now += run_verify(
                    state,
                    target,
                    state.instances([S.SENT]),
                    on_event=on_event,
                    concurrency=options.concurrency,
                ).verified
        if not options.keep_outbox:
            _clean_outbox(ws)
    except EucaimError as exc:
        summary.fatal = str(exc)
        raise
    finally:
        summary.counts = {s.value: n for s, n in state.counts_by_state().items()}
        summary.totals = state.totals()
        summary.verified_totals = state.verified_totals()
        summary.scan_problems = len(state.scan_problems())
        if selected is not None:
            _count_resent(state, reopened, summary)
        write_reports(state, summary, ws.reports, run_id)
        state.finish_run(run_id, "ok" if summary.ok else "incomplete", summary.report_json)
    return summary


def _reopen(
    state: StateDB,
    target: Target,
    selected: list[InstanceRow],
    options: PushOptions,
    summary: PushSummary,
    on_event: EventHandler,
) -> Reopened:
    """Put the selected verified rows (or, to reverify, those the node lacks) back to be sent."""
    rows = selected
    assert options.resend is not None
    summary.resend_unmatched = options.resend.unmatched(selected)
    if summary.resend_unmatched:
        on_event(Notice("no verified instance matches " + ", ".join(summary.resend_unmatched)))
    if options.reverify:
        rows = missing_on_node(target, selected, on_event=on_event, concurrency=options.concurrency)
        summary.reverified = len(selected) - len(rows)
    reopened = reopen(state, rows, on_event=on_event)
    reopened.selected = len(selected)
    summary.resend_selected = len(selected)
    summary.resend_reopened = len(rows)
    summary.resend_deidentified_again = len(reopened.expected_sha256)
    return reopened


def _count_resent(state: StateDB, reopened: Reopened, summary: PushSummary) -> None:
    """How many reopened rows are verified again, and why the others are not (state or reason)."""
    verified = state.verified_among(reopened.ids)
    summary.resent = len(verified)
    failed: Counter[str] = Counter()
    for instance_id in reopened.ids:
        if instance_id not in verified:
            row = state.get(instance_id)
            failed[row.reason or row.state.value] += 1
    summary.resend_not_verified = dict(failed)


def _add_send(summary: PushSummary, sent: SendStats) -> None:
    summary.sent += sent.sent
    summary.verified_now += sent.verified
    summary.refused += sent.refused
    summary.unsettled += sent.unsettled
    summary.errors.extend(sent.errors)
    if sent.fatal is not None and summary.fatal is None:
        summary.fatal = str(sent.fatal)


class _StudyBatcher:
    """Collects de-identified instances per study and hands out batches as they fill or complete.

    When a study's last pending instance is done, its last batch goes out and the study is closed
    (``close`` with its de-identified UID), so the sender verifies it as soon as it is answered.
    """

    def __init__(
        self,
        pending: list[InstanceRow],
        batch_bytes: int,
        sender: BatchSender,
        out_studies: dict[str, str],
    ) -> None:
        self._remaining = Counter(r.study_uid for r in pending)
        self._open: dict[str, list[OutgoingInstance]] = defaultdict(list)
        self._bytes: Counter[str] = Counter()
        self._batch_bytes = batch_bytes
        self._sender = sender
        self._out_study = out_studies  # original study UID -> de-identified one, as they are learnt

    def add(self, row: InstanceRow, item: OutgoingInstance | None) -> None:
        if item is not None:
            self._out_study[row.study_uid] = item.study_instance_uid
            if self._bytes[row.study_uid] + item.size > self._batch_bytes:
                self._flush(row.study_uid)
            self._open[row.study_uid].append(item)
            self._bytes[row.study_uid] += item.size
        self._remaining[row.study_uid] -= 1
        if self._remaining[row.study_uid] <= 0:
            self._flush(row.study_uid)
            if row.study_uid in self._out_study:
                self._sender.close_study(self._out_study[row.study_uid])

    def flush_all(self) -> None:
        for study in list(self._open):
            self._flush(study)

    def _flush(self, study: str) -> None:
        batch = self._open.pop(study, [])
        self._bytes.pop(study, None)
        if batch:
            self._sender.submit(batch[0].study_instance_uid, batch)


def _deidentify_and_send(
    ws: Workspace,
    target: Target,
    options: PushOptions,
    summary: PushSummary,
    on_event: EventHandler,
    before_send: Callable[[], None] | None,
    expected_sha256: dict[int, str],
) -> None:
    state = ws.state
    ready_rows = state.instances([S.DEIDENTIFIED])
    ready = [outgoing(r) for r in ready_rows]
    pending = state.instances([S.PENDING])
    on_event(
        StageStarted(
            Stage.SEND, len(ready) + len(pending), sum(i.size for i in ready) + sum(r.size for r in pending)
        )
    )
    sender = BatchSender(
        state, target, concurrency=options.concurrency, on_event=on_event, before_send=before_send
    )
    out_studies = {r.study_uid: r.out_study_uid for r in ready_rows if r.out_study_uid}
    still_pending = {r.study_uid for r in pending}
    unfinished = {out for original, out in out_studies.items() if original in still_pending}
    # A study with nothing left to de-identify is closed after its last batch (verified early);
    # the others are closed by the batcher when their last pending instance is done.
    submit_planned(
        sender,
        plan_batches(ready, max_bytes=options.batch_bytes),
        is_complete=lambda study: study not in unfinished,
    )
    batcher = _StudyBatcher(pending, options.batch_bytes, sender, out_studies)

    def on_done(row: InstanceRow, record: DeidRecord | None) -> None:
        batcher.add(row, outgoing_from(row, record) if record is not None else None)

    deid = run_deidentify(
        ws,
        pending,
        workers=options.workers,
        on_event=on_event,
        on_done=on_done,
        should_stop=lambda: sender.stopped,
        expected_sha256=expected_sha256,
    )
    batcher.flush_all()
    summary.deidentified, summary.quarantined_now = deid.done, deid.quarantined
    _add_send(summary, sender.join())
    on_event(StageFinished(Stage.SEND))


def _window_waiter(
    window: TimeWindow | None,
    on_event: EventHandler,
    now: Callable[[], datetime],
    sleep: Callable[[float], None] | None,
) -> Callable[[], None] | None:
    if window is None:
        return None
    import time

    do_sleep = sleep or time.sleep

    def wait() -> None:
        seconds = window.seconds_until_open(now())
        if seconds > 0:
            on_event(Notice(f"outside the transfer window {window}; waiting {seconds / 60:.0f} min"))
            do_sleep(seconds)

    return wait


def outgoing_from(row: InstanceRow, record: DeidRecord) -> OutgoingInstance:
    """The instance to send, from what de-identification just recorded (no read-back)."""
    return OutgoingInstance(
        instance_id=row.id,
        path=Path(record.out_path),
        size=record.out_size,
        sop_instance_uid=record.out_sop_uid,
        study_instance_uid=record.out_study_uid,
        series_instance_uid=record.out_series_uid,
    )


def _recover_outbox(ws: Workspace) -> None:
    """A de-identified copy lost from the outbox is made again (de-identification is deterministic)."""
    lost = [
        r.id for r in ws.state.instances([S.DEIDENTIFIED]) if not (r.out_path and Path(r.out_path).exists())
    ]
    if lost:
        logger.info("%d outbox files are missing; they will be de-identified again", len(lost))
        ws.state.mark_many(lost, S.PENDING)


def _clean_outbox(ws: Workspace) -> None:
    """Delete the outbox copies of verified instances.

    Only the files still in the outbox are looked at (``<id>.dcm``, as de-identification names
    them), so the cost follows this run's instances, not every instance verified in the past; a
    copy left by a run killed between verification and this step is removed by the next push.
    """
    found: dict[int, Path] = {}
    with os.scandir(ws.outbox) as entries:
        for entry in entries:
            instance_id = outbox_instance_id(entry.name)
            if instance_id is not None and entry.is_file(follow_symlinks=False):
                found[instance_id] = Path(entry.path)
    for instance_id in ws.state.verified_among(sorted(found)):
        found[instance_id].unlink(missing_ok=True)
