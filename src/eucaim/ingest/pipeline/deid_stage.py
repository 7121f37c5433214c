"""De-identification stage: a process pool turns pending instances into outbox files.

Workers are separate processes (de-identification is CPU-bound); each builds its Deidentifier
once from the profile name and the secret. The main process alone writes to the state DB, one
transaction per finished instance, so a kill at any moment loses at most work in flight.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import FileOutcome, deidentify_file
from eucaim.deid.profile import load_profile
from eucaim.errors import DeidentificationError, InvalidDicomError
from eucaim.ingest.pipeline.events import Advanced, EventHandler, Notice, Stage, StageFinished, StageStarted
from eucaim.ingest.state.db import DeidRecord, InstanceRow
from eucaim.ingest.state.states import InstanceState, QuarantineReason
from eucaim.ingest.workspace import Workspace

logger = logging.getLogger(__name__)

_worker_deidentifier: Deidentifier | None = None
PARENT_CHECK_S = 0.5
MAX_POOL_RESTARTS = 3


def _init_worker(profile_name: str, secret: bytes, pseudonym_format: str, parent: int) -> None:
    global _worker_deidentifier
    # The push's PID comes from the push itself: a worker started just as the push died already
    # has another parent.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _worker_deidentifier = Deidentifier(load_profile(profile_name), secret, pseudonym_format=pseudonym_format)


def _exit_with_parent(parent: int) -> None:
    """End this worker once its push process is gone (``kill -9`` gives the pool no chance to).

    A forked worker holds its own copy of the task pipe's write end, so it never sees EOF and would
    otherwise wait for work forever, one orphan per worker per killed push.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


@dataclass(frozen=True)
class _Failure:
    reason: str
    detail: str


def _work(src: str, dst: str, size: int, mtime_ns: int) -> FileOutcome | _Failure:
    assert _worker_deidentifier is not None
    try:
        st = os.stat(src)
    except OSError:
        return _Failure(QuarantineReason.SOURCE_MISSING, "the source file is gone; scan again")
    if st.st_size != size or st.st_mtime_ns != mtime_ns:
        return _Failure(QuarantineReason.SOURCE_CHANGED, "the source file changed since the scan; scan again")
    try:
        return deidentify_file(Path(src), Path(dst), _worker_deidentifier)
    except InvalidDicomError as exc:
        return _Failure(QuarantineReason.INVALID_DICOM, f"{exc.reason}: {exc}")
    except DeidentificationError as exc:
        return _Failure(exc.reason or QuarantineReason.DEID_FAILED, str(exc))
    except Exception as exc:  # fail closed: a file nobody foresaw is quarantined, not fatal
        # pydicom raises more than InvalidDicomError on damaged files (an unknown VR gives
        # NotImplementedError); left to propagate, one such file would end every push. The
        # message is not kept: it could quote a value of the file.
        logger.debug("unexpected %s while de-identifying an instance", type(exc).__name__)
        return _Failure(
            QuarantineReason.DEID_FAILED,
            f"unexpected {type(exc).__name__} while reading or de-identifying; the file may be damaged",
        )


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
    on_done: Callable[[InstanceRow], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DeidStats:
    """De-identify ``rows`` (pending instances) into the outbox.

    ``on_done(row)`` is called after each instance's outcome is recorded (de-identified or
    quarantined), so the send stage can start on a study as soon as it is complete.
    ``should_stop()`` ends the stage early (work in flight is abandoned, nothing is lost).
    """
    stats = DeidStats()
    on_event(StageStarted(Stage.DEIDENTIFY, len(rows), sum(r.size for r in rows)))
    known = _known_pseudonyms(ws) if rows else {}
    todo = rows
    for restart in range(MAX_POOL_RESTARTS + 1):
        finished: set[int] = set()
        try:
            _run_pool(ws, todo, workers, known, stats, finished, on_event, on_done, should_stop)
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
    known: dict[str, str],
    stats: DeidStats,
    finished: set[int],
    on_event: EventHandler,
    on_done: Callable[[InstanceRow], None] | None,
    should_stop: Callable[[], bool],
) -> None:
    """De-identify ``rows`` in one process pool, recording each outcome and its id in ``finished``."""
    if not rows:
        return
    cfg = ws.config.deid
    with (
        ProcessPoolExecutor(
            max_workers=max(1, min(workers, len(rows))),
            initializer=_init_worker,
            initargs=(cfg.profile, ws.secret, cfg.pseudonym_format, os.getpid()),
        ) as pool,
        open(ws.audit_dir / "deid-audit.jsonl", "a", encoding="utf-8") as audit,
    ):
        for row, result in _bounded_map(pool, rows, ws.outbox, window=4 * workers):
            if should_stop():
                pool.shutdown(wait=True, cancel_futures=True)
                break
            _record(ws, row, result, known, stats, on_event, audit)
            finished.add(row.id)
            on_event(Advanced(Stage.DEIDENTIFY, 1, row.size))
            if on_done is not None:
                on_done(row)


def _record(
    ws: Workspace,
    row: InstanceRow,
    result: FileOutcome | _Failure,
    known: dict[str, str],
    stats: DeidStats,
    on_event: EventHandler,
    audit: TextIO,
) -> None:
    """Write one instance's de-identification outcome to the state DB (one transaction)."""
    if isinstance(result, _Failure):
        ws.state.mark_quarantined(row.id, result.reason, result.detail)
        stats.quarantined += 1
        on_event(Notice(f"quarantined {Path(row.path).name}: {result.reason}"))
    elif known.setdefault(result.pseudonym, row.patient_id) != row.patient_id:
        Path(_outbox_path(ws.outbox, row)).unlink(missing_ok=True)
        ws.state.mark_quarantined(
            row.id,
            "pseudonym_collision",
            "two patients map to the same pseudonym; change the pseudonym format",
        )
        stats.quarantined += 1
    else:
        audit.write(json.dumps(result.audit, sort_keys=True) + "\n")
        ws.state.mark_deidentified(
            row.id,
            DeidRecord(
                pseudonym=result.pseudonym,
                day_offset=result.day_offset,
                out_path=_outbox_path(ws.outbox, row),
                out_sop_uid=result.sop_instance_uid,
                out_study_uid=result.study_instance_uid,
                out_series_uid=result.series_instance_uid,
                out_size=result.size,
                out_sha256=result.sha256,
            ),
        )
        stats.done += 1


def _outbox_path(outbox: Path, row: InstanceRow) -> str:
    return str(outbox / f"{row.id}.dcm")


def _known_pseudonyms(ws: Workspace) -> dict[str, str]:
    known: dict[str, str] = {}
    for row in ws.state.instances([InstanceState.DEIDENTIFIED, InstanceState.SENT, InstanceState.VERIFIED]):
        if row.pseudonym:
            known[row.pseudonym] = row.patient_id
    return known


def _bounded_map(
    pool: ProcessPoolExecutor, rows: list[InstanceRow], outbox: Path, *, window: int
) -> Iterator[tuple[InstanceRow, FileOutcome | _Failure]]:
    """Yield results as they finish, never holding more than ``window`` tasks in flight."""
    queue = iter(rows)
    in_flight: dict[Future[FileOutcome | _Failure], InstanceRow] = {}

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
