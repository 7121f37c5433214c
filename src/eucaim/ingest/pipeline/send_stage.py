"""Send and verify stages: STOW batches through a target, then settle every instance by QIDO.

A study whose batches are all answered is verified at once, on the sending threads, while other
studies are still being sent: a node's QIDO answers (costly on Orthanc, a round trip each on a
real network) then overlap the upload instead of following it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from eucaim.errors import AuthenticationError, EucaimError, TransientError, UploadError
from eucaim.ingest.pipeline.batching import plan_batches
from eucaim.ingest.pipeline.events import Advanced, EventHandler, Notice, Stage, StageFinished, StageStarted
from eucaim.ingest.state.db import InstanceRow, StateDB
from eucaim.ingest.state.states import InstanceState, QuarantineReason
from eucaim.ingest.upload.base import OutgoingInstance, PayloadTooLarge, SendResult, Target

logger = logging.getLogger(__name__)


@dataclass
class SendStats:
    sent: int = 0
    refused: int = 0
    unsettled: int = 0
    errors: list[str] = field(default_factory=list)
    fatal: Exception | None = None
    verified: int = 0  # settled by the early verification of closed studies


def outgoing(row: InstanceRow) -> OutgoingInstance:
    assert row.out_path and row.out_sop_uid and row.out_study_uid and row.out_series_uid
    return OutgoingInstance(
        instance_id=row.id,
        path=Path(row.out_path),
        size=row.out_size or 0,
        sop_instance_uid=row.out_sop_uid,
        study_instance_uid=row.out_study_uid,
        series_instance_uid=row.out_series_uid,
    )


def _send_splitting(
    target: Target, study_uid: str, batch: list[OutgoingInstance]
) -> list[tuple[list[OutgoingInstance], SendResult | str]]:
    """Send a batch; on 413 split it in halves until it fits. Returns (items, result or reason)."""
    try:
        return [(batch, target.send(study_uid, batch))]
    except PayloadTooLarge:
        if len(batch) == 1:
            return [(batch, "larger than the node accepts in one request (413)")]
        half = len(batch) // 2
        return _send_splitting(target, study_uid, batch[:half]) + _send_splitting(
            target, study_uid, batch[half:]
        )


class BatchSender:
    """Sends STOW batches on a few threads while the caller keeps producing them.

    ``submit`` blocks when ``2 × concurrency`` batches are already waiting, so a fast producer
    (de-identification) cannot pile up work in memory. After a fatal error (credentials refused,
    no rights, unknown biobank) nothing more is sent and :attr:`stopped` turns true.

    ``close_study`` says no more batches of a study will come: once its last batch is answered,
    the instances the node acknowledged are verified by QIDO (one per series) on a sending
    thread. Whatever that cannot settle (a query that fails) stays ``sent`` for the caller's
    final verification.
    """

    def __init__(
        self,
        state: StateDB,
        target: Target,
        *,
        concurrency: int,
        on_event: EventHandler,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        self.stats = SendStats()
        self._state = state
        self._target = target
        self._on_event = on_event
        self._before_send = before_send
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="stow")
        self._slots = threading.BoundedSemaphore(2 * concurrency)
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open_batches: Counter[str] = Counter()  # per study: submitted, not yet answered
        self._closed: set[str] = set()
        self._acknowledged: dict[str, list[OutgoingInstance]] = defaultdict(list)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def submit(self, study_uid: str, batch: list[OutgoingInstance]) -> None:
        if self.stopped or not batch:
            return
        self._slots.acquire()
        with self._lock:
            self._open_batches[study_uid] += 1
        self._futures.append(self._pool.submit(self._run, study_uid, batch))

    def close_study(self, study_uid: str) -> None:
        """No more batches of ``study_uid`` will be submitted: verify it once they are answered."""
        with self._lock:
            self._closed.add(study_uid)
            items = self._take_if_settled(study_uid)
        if items:
            self._slots.acquire()
            self._futures.append(self._pool.submit(self._verify_early, study_uid, items))

    def _take_if_settled(self, study_uid: str) -> list[OutgoingInstance]:
        """With the lock held: the study's acknowledged instances, if it is closed and answered."""
        if study_uid in self._closed and self._open_batches[study_uid] == 0:
            return self._acknowledged.pop(study_uid, [])
        return []

    def join(self) -> SendStats:
        """Wait for every submitted batch and return the totals."""
        for future in self._futures:
            future.result()
        self._pool.shutdown(wait=True)
        return self.stats

    def _run(self, study_uid: str, batch: list[OutgoingInstance]) -> None:
        try:
            if self.stopped:
                return
            if self._before_send is not None:
                self._before_send()
            self._send(study_uid, batch)
        finally:
            self._slots.release()
            with self._lock:
                self._open_batches[study_uid] -= 1
                items = self._take_if_settled(study_uid)
        if items:
            self._verify_early(study_uid, items, slot_held=False)

    def _verify_early(self, study_uid: str, items: list[OutgoingInstance], slot_held: bool = True) -> None:
        """Verify a closed study's acknowledged instances, one QIDO per series."""
        try:
            by_series: dict[str, list[OutgoingInstance]] = defaultdict(list)
            for item in items:
                by_series[item.series_instance_uid].append(item)
            for series_uid, members in by_series.items():
                if self.stopped:
                    return
                try:
                    present = self._target.list_instances(study_uid, series_uid)
                except EucaimError as exc:
                    if _is_fatal(exc):
                        self._stop_for(exc)
                        return
                    # Left ``sent``: the final verification asks again and reports what it finds.
                    logger.info("early verification of a series deferred: %s", exc)
                    continue
                found = [i.instance_id for i in members if i.sop_instance_uid in present]
                lost = [i.instance_id for i in members if i.sop_instance_uid not in present]
                self._state.mark_many(found, InstanceState.VERIFIED)
                if lost:
                    self._state.mark_many(lost, InstanceState.DEIDENTIFIED)
                    self._state.record_attempt_error(
                        lost, "acknowledged by the node but missing from its listing"
                    )
                    self._on_event(
                        Notice(f"{len(lost)} acknowledged instances are missing on the node; resending")
                    )
                with self._lock:
                    self.stats.verified += len(found)
        finally:
            if slot_held:
                self._slots.release()

    def _send(self, study_uid: str, batch: list[OutgoingInstance]) -> None:
        size = sum(i.size for i in batch)
        ids = [i.instance_id for i in batch]
        # Durable before the first byte leaves: after a crash, only offered rows need a QIDO.
        self._state.mark_send_started(ids)
        try:
            outcomes = _send_splitting(self._target, study_uid, batch)
        except (AuthenticationError, UploadError) as exc:
            if _is_fatal(exc):
                self._stop_for(exc)
            self._state.record_attempt_error(ids, str(exc))
            self._count_failure(batch, str(exc), size)
            return
        except TransientError as exc:
            self._state.record_attempt_error(ids, str(exc))
            self._on_event(Notice(f"a batch of {len(batch)} instances could not be sent: {exc}"))
            self._count_failure(batch, str(exc), size)
            return
        for part, result in outcomes:
            with self._lock:
                _settle(self._state, part, result, self.stats, self._on_event)
                if not isinstance(result, str):
                    stored = [i for i in part if i.sop_instance_uid in result.stored]
                    self._acknowledged[study_uid].extend(stored)
            self._on_event(Advanced(Stage.SEND, len(part), sum(i.size for i in part)))

    def _stop_for(self, exc: Exception) -> None:
        """Nothing else will succeed (credentials, rights, biobank): stop, keep what was settled."""
        with self._lock:
            self.stats.fatal = self.stats.fatal or exc
        self._stop.set()

    def _count_failure(self, batch: list[OutgoingInstance], error: str, size: int) -> None:
        with self._lock:
            self.stats.errors.append(error)
            self.stats.unsettled += len(batch)
        self._on_event(Advanced(Stage.SEND, len(batch), size))


def _is_fatal(exc: Exception) -> bool:
    """Credentials refused after a refresh, no rights (403), or no such biobank (404)."""
    return isinstance(exc, AuthenticationError) or (
        isinstance(exc, UploadError) and exc.status_code in (403, 404)
    )


def submit_planned(
    sender: BatchSender,
    plan: Sequence[tuple[str, list[OutgoingInstance]]],
    *,
    is_complete: Callable[[str], bool] = lambda _study: True,
) -> None:
    """Submit planned batches; close each complete study right after its last batch.

    Closing early lets a study be verified while the next ones are still being sent.
    """
    last = {study_uid: i for i, (study_uid, _) in enumerate(plan)}
    for i, (study_uid, batch) in enumerate(plan):
        sender.submit(study_uid, batch)
        if last[study_uid] == i and is_complete(study_uid):
            sender.close_study(study_uid)


def run_send(
    state: StateDB,
    target: Target,
    rows: Sequence[InstanceRow],
    *,
    batch_bytes: int,
    concurrency: int,
    on_event: EventHandler,
    before_send: Callable[[], None] | None = None,
) -> SendStats:
    """Send de-identified ``rows`` in study batches; settle each instance from the target's answer.

    ``before_send`` runs before each batch (the time window waits there).
    """
    items = [outgoing(r) for r in rows]
    on_event(StageStarted(Stage.SEND, len(items), sum(i.size for i in items)))
    sender = BatchSender(state, target, concurrency=concurrency, on_event=on_event, before_send=before_send)
    submit_planned(sender, plan_batches(items, max_bytes=batch_bytes))
    stats = sender.join()
    on_event(StageFinished(Stage.SEND))
    return stats


def _settle(
    state: StateDB,
    part: list[OutgoingInstance],
    result: SendResult | str,
    stats: SendStats,
    on_event: EventHandler,
) -> None:
    if isinstance(result, str):
        for item in part:
            state.mark_quarantined(item.instance_id, QuarantineReason.REFUSED_BY_NODE, result)
        stats.refused += len(part)
        return
    stored = [i.instance_id for i in part if i.sop_instance_uid in result.stored]
    state.mark_many(stored, InstanceState.SENT)
    stats.sent += len(stored)
    later = [i.instance_id for i in part if i.sop_instance_uid in result.retry_later]
    if later:
        # The node could not store them for now (disk full, store down): keep them for a resend.
        why = f"the node could not store {len(later)} instances for now: "
        why += next(iter(result.retry_later.values()))
        state.record_attempt_error(later, why)
        stats.unsettled += len(later)
        stats.errors.append(why)
        on_event(Notice(why))
    for item in part:
        reason = result.failed.get(item.sop_instance_uid)
        if reason is not None:
            state.mark_quarantined(item.instance_id, QuarantineReason.REFUSED_BY_NODE, reason)
            stats.refused += 1
            on_event(Notice(f"the node refused an instance: {reason}"))
        elif item.sop_instance_uid not in result.stored and item.sop_instance_uid not in result.retry_later:
            # Not mentioned either way: verification decides.
            stats.unsettled += 1


@dataclass
class VerifyStats:
    verified: int = 0
    missing: int = 0


def run_verify(
    state: StateDB,
    target: Target,
    rows: Sequence[InstanceRow],
    *,
    on_event: EventHandler,
    stage: Stage = Stage.VERIFY,
    concurrency: int = 1,
) -> VerifyStats:
    """Ask the target which of ``rows`` it holds (one QIDO per series) and settle them.

    Present instances become ``verified``. Absent ones that the node had acknowledged (``sent``)
    go back to ``deidentified`` so they are sent again; absent ``deidentified`` ones stay as they are.
    Up to ``concurrency`` queries run at once (a node answers them in parallel, and over a real
    network each one waits a round trip); each series is settled, in order, as its answer arrives.
    """
    stats = VerifyStats()
    by_series: dict[tuple[str, str], list[InstanceRow]] = defaultdict(list)
    for row in rows:
        if row.out_study_uid and row.out_series_uid:
            by_series[(row.out_study_uid, row.out_series_uid)].append(row)
    on_event(StageStarted(stage, len(rows), sum(r.out_size or 0 for r in rows)))
    workers = max(1, min(concurrency, len(by_series)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qido") as pool:
        answers = pool.map(lambda key: target.list_instances(*key), list(by_series))
        for members, present in zip(by_series.values(), answers, strict=True):
            _settle_series(state, members, present, stats, on_event, stage)
    on_event(StageFinished(stage))
    return stats


def _settle_series(
    state: StateDB,
    members: list[InstanceRow],
    present: set[str],
    stats: VerifyStats,
    on_event: EventHandler,
    stage: Stage,
) -> None:
    """Settle one series' rows from the SOPInstanceUIDs the target listed."""
    found = [r.id for r in members if r.out_sop_uid in present]
    state.mark_many(found, InstanceState.VERIFIED)
    stats.verified += len(found)
    lost = [r.id for r in members if r.out_sop_uid not in present and r.state is InstanceState.SENT]
    if lost:
        state.mark_many(lost, InstanceState.DEIDENTIFIED)
        state.record_attempt_error(lost, "acknowledged by the node but missing from its listing")
        stats.missing += len(lost)
        on_event(Notice(f"{len(lost)} acknowledged instances are missing on the node; resending"))
    on_event(Advanced(stage, len(members), sum(r.out_size or 0 for r in members)))
