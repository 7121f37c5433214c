"""De-identification stage: a process pool turns pending instances into outbox files.

Workers are separate processes (de-identification is CPU-bound); each builds its Deidentifier
once from the profile name and the secret. The main process alone writes to the state DB, one
transaction per finished instance, so a kill at any moment loses at most work in flight.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from eucaim.errors import Conflict, DeidentificationError
from eucaim.ingest.pipeline.events import Advanced, EventHandler, Notice, Stage, StageFinished, StageStarted
from eucaim.ingest.state.db import DeidRecord, InstanceRow
from eucaim.ingest.state.states import QuarantineReason
from eucaim.ingest.workspace import Workspace

if TYPE_CHECKING:
    # pydicom and the de-identification engine load only when there is something to de-identify:
    # a push that only sends (or resumes sending) starts without them.
    from eucaim.deid.files import FileOutcome
    from eucaim.deid.vault import Vault
    from eucaim.ingest.deid_worker import WorkFailure

logger = logging.getLogger(__name__)

MAX_POOL_RESTARTS = 3


def _work(src: str, dst: str, size: int, mtime_ns: int) -> FileOutcome | WorkFailure:
    from eucaim.ingest.deid_worker import WorkFailure, deidentify_in_worker

    try:
        st = os.stat(src)
    except OSError:
        return WorkFailure(QuarantineReason.SOURCE_MISSING, "the source file is gone; scan again")
    if st.st_size != size or st.st_mtime_ns != mtime_ns:
        return WorkFailure(
            QuarantineReason.SOURCE_CHANGED, "the source file changed since the scan; scan again"
        )
    return deidentify_in_worker(Path(src), Path(dst))


@dataclass
class DeidStats:
    done: int = 0
    quarantined: int = 0


def run_deidentify(
    ws: Workspace,
    rows: list[InstanceRow],
    *,
    workers: int,
    on_event: EventHandler,
    on_done: Callable[[InstanceRow, DeidRecord | None], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    expected_sha256: Mapping[int, str] | None = None,
) -> DeidStats:
    """De-identify ``rows`` (pending instances) into the outbox.

    ``on_done(row, record)`` is called after each instance's outcome is recorded, with what was
    recorded (``None`` when it was quarantined), so the send stage can start on a study as soon
    as it is complete without reading the row back.
    ``should_stop()`` ends the stage early (work in flight is abandoned, nothing is lost).
    ``expected_sha256`` maps instances the node already verified (being re-sent) to the digest of
    the copy it verified: de-identification is deterministic, so a copy made again that differs
    (the source file or the secret changed) is quarantined as ``source_changed``, never sent.
    """
    stats = DeidStats()
    on_event(StageStarted(Stage.DEIDENTIFY, len(rows), sum(r.size for r in rows)))
    if not rows:
        on_event(StageFinished(Stage.DEIDENTIFY))
        return stats
    from eucaim.deid.vault import Vault

    # The vault records each new patient's mapping and refuses a pseudonym shared by two patients.
    known = Vault(ws.vault_path, ws.secret)
    todo = rows
    for restart in range(MAX_POOL_RESTARTS + 1):
        finished: set[int] = set()
        try:
            _run_pool(
                ws,
                todo,
                workers,
                known,
                stats,
                finished,
                on_event,
                on_done,
                should_stop,
                expected_sha256 or {},
            )
            break
        except BrokenProcessPool:
            # A worker died (the out-of-memory killer, a crash in a pixel decoder): what it and the
            # others had in flight was not recorded, so it is simply done again by a fresh pool.
            todo = [r for r in todo if r.id not in finished]
            if restart == MAX_POOL_RESTARTS:
                raise DeidentificationError(
                    f"de-identification workers died {restart + 1} times; {len(todo)} instances "
                    "are still pending (run push again; if it keeps happening, the machine may be "
                    "short of memory: try --workers 1)",
                    reason="worker_died",
                ) from None
            logger.warning("a de-identification worker died; continuing with a new pool")
            on_event(Notice(f"a de-identification worker died; continuing with {len(todo)} instances"))
    on_event(StageFinished(Stage.DEIDENTIFY))
    return stats


def _run_pool(
    ws: Workspace,
    rows: list[InstanceRow],
    workers: int,
    known: Vault,
    stats: DeidStats,
    finished: set[int],
    on_event: EventHandler,
    on_done: Callable[[InstanceRow, DeidRecord | None], None] | None,
    should_stop: Callable[[], bool],
    expected_sha256: Mapping[int, str],
) -> None:
    """De-identify ``rows`` in one process pool, recording each outcome and its id in ``finished``."""
    if not rows:
        return
    from eucaim.ingest.deid_worker import init_worker

    cfg = ws.config.deid
    with (
        ProcessPoolExecutor(
            max_workers=max(1, min(workers, len(rows))),
            initializer=init_worker,
            initargs=(cfg.profile, ws.secret, cfg.pseudonym_format, os.getpid()),
        ) as pool,
        open(ws.audit_dir / "deid-audit.jsonl", "a", encoding="utf-8") as audit,
    ):
        for row, result in _bounded_map(pool, rows, ws.outbox, window=4 * workers):
            if should_stop():
                pool.shutdown(wait=True, cancel_futures=True)
                break
            record = _record(ws, row, result, known, stats, on_event, audit, expected_sha256.get(row.id))
            finished.add(row.id)
            on_event(Advanced(Stage.DEIDENTIFY, 1, row.size))
            if on_done is not None:
                on_done(row, record)


def _record(
    ws: Workspace,
    row: InstanceRow,
    result: FileOutcome | WorkFailure,
    known: Vault,
    stats: DeidStats,
    on_event: EventHandler,
    audit: TextIO,
    expected_sha256: str | None = None,
) -> DeidRecord | None:
    """Write one instance's de-identification outcome to the state DB (one transaction).

    Returns what was recorded, or ``None`` when the instance was quarantined.
    """
    from eucaim.ingest.deid_worker import WorkFailure

    if isinstance(result, WorkFailure):
        ws.state.mark_quarantined(row.id, result.reason, result.detail)
        stats.quarantined += 1
        on_event(Notice(f"quarantined {Path(row.path).name}: {result.reason}"))
        return None
    if not _in_vault(known, row, result):
        Path(_outbox_path(ws.outbox, row)).unlink(missing_ok=True)
        ws.state.mark_quarantined(
            row.id,
            "pseudonym_collision",
            "two patients map to the same pseudonym; change the pseudonym format",
        )
        stats.quarantined += 1
        return None
    if expected_sha256 is not None and result.sha256 != expected_sha256:
        Path(_outbox_path(ws.outbox, row)).unlink(missing_ok=True)
        ws.state.mark_quarantined(
            row.id,
            QuarantineReason.SOURCE_CHANGED,
            "de-identified again for a re-send, the copy differs from the one the node verified "
            f"(sha256 {result.sha256[:12]}… instead of {expected_sha256[:12]}…): the source file or the "
            "workspace secret changed; nothing was sent",
        )
        stats.quarantined += 1
        on_event(Notice(f"quarantined {Path(row.path).name}: {QuarantineReason.SOURCE_CHANGED}"))
        return None
    audit.write(json.dumps(result.audit, sort_keys=True) + "\n")
    record = DeidRecord(
        pseudonym=result.pseudonym,
        day_offset=result.day_offset,
        out_path=_outbox_path(ws.outbox, row),
        out_sop_uid=result.sop_instance_uid,
        out_study_uid=result.study_instance_uid,
        out_series_uid=result.series_instance_uid,
        out_size=result.size,
        out_sha256=result.sha256,
    )
    ws.state.mark_deidentified(row.id, record)
    stats.done += 1
    return record


def _outbox_path(outbox: Path, row: InstanceRow) -> str:
    return str(outbox / f"{row.id}.dcm")


def outbox_instance_id(name: str) -> int | None:
    """The instance id an outbox file name stands for (``<id>.dcm``), or None for other files."""
    stem, dot, ext = name.partition(".")
    return int(stem) if dot and ext == "dcm" and stem.isdigit() else None


def _in_vault(vault: Vault, row: InstanceRow, result: FileOutcome) -> bool:
    """Record the patient's mapping; False when the pseudonym already belongs to someone else."""
    try:
        vault.record(row.patient_id, result.pseudonym, result.day_offset)
    except Conflict:
        return False
    return True


def _bounded_map(
    pool: ProcessPoolExecutor, rows: list[InstanceRow], outbox: Path, *, window: int
) -> Iterator[tuple[InstanceRow, FileOutcome | WorkFailure]]:
    """Yield results as they finish, never holding more than ``window`` tasks in flight."""
    queue = iter(rows)
    in_flight: dict[Future[FileOutcome | WorkFailure], InstanceRow] = {}

    def submit_next() -> bool:
        row = next(queue, None)
        if row is None:
            return False
        future = pool.submit(_work, row.path, _outbox_path(outbox, row), row.size, row.mtime_ns)
        in_flight[future] = row
        return True

    for _ in range(window):
        if not submit_next():
            break
    while in_flight:
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            row = in_flight.pop(future)
            yield row, future.result()
            submit_next()
