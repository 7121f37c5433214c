"""Fetch only what a folder still lacks of a study: resume a broken C-GET instead of starting over.

The PACS is asked which instances the study has (C-FIND, SERIES then IMAGE level); files already
in the folder (``<SOPInstanceUID>.dcm``, written atomically, so complete) are skipped; whole
missing series are fetched at SERIES level, partial ones by UID lists in batches. A stop
(``should_stop``) cancels the running C-GET and starts no other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from eucaim.ingest.sources.cancel import StopCheck
from eucaim.ingest.sources.pacs import InstanceRef, PacsClient, RetrieveResult
from eucaim.ingest.sources.writer import OnStored

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class SeriesPlan:
    """What to fetch of one series: everything, or the listed instances."""

    series_uid: str
    sop_uids: tuple[str, ...]
    whole_series: bool


@dataclass(frozen=True)
class ResumeResult:
    """How complete the folder is after a resume."""

    expected: int  # instances the PACS listed
    present_before: int  # of those, already in the folder
    received: int  # written by this run
    missing: tuple[str, ...]  # SOPInstanceUIDs still absent afterwards
    cancelled: bool = False  # a stop cut the retrieve short
    aborted: bool = False  # ... and the PACS ignored C-CANCEL, so the association was aborted

    @property
    def is_complete(self) -> bool:
        """Whether every instance the PACS listed is now in the folder."""
        return not self.missing


def plan_missing(refs: Sequence[InstanceRef], present: set[str]) -> list[SeriesPlan]:
    """Return per series what is missing from ``present``, in the PACS's order (pure)."""
    by_series: dict[str, list[str]] = {}
    for ref in refs:
        by_series.setdefault(ref.series_uid, []).append(ref.sop_uid)
    plans = []
    for series_uid, sop_uids in by_series.items():
        missing = tuple(uid for uid in sop_uids if uid not in present)
        if missing:
            plans.append(SeriesPlan(series_uid, missing, whole_series=len(missing) == len(sop_uids)))
    return plans


def present_uids(dest_dir: Path) -> set[str]:
    """Return the SOPInstanceUIDs of the finished files in ``dest_dir``."""
    return {path.stem for path in dest_dir.glob("*.dcm")} if dest_dir.is_dir() else set()


def get_missing(
    client: PacsClient,
    study_uid: str,
    dest_dir: Path,
    on_instance: OnStored | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    should_stop: StopCheck | None = None,
    move_to: str | None = None,
) -> ResumeResult:
    """Retrieve by C-GET the instances of ``study_uid`` not yet in ``dest_dir``.

    With ``move_to`` (our receiver's AE title, writing into ``dest_dir``) the same is asked by
    C-MOVE instead; ``received`` is then 0 (the receiver counts what arrives).

    ``should_stop()`` turning true cancels the running C-GET (C-CANCEL) and starts no other; the
    result then says ``cancelled``. Raises what ``PacsClient`` raises; a run that breaks can
    simply be repeated.
    """
    refs = client.find_instances(study_uid)
    before = present_uids(dest_dir)
    received = 0
    stopped: RetrieveResult | None = None
    for plan, batch in _operations(plan_missing(refs, before), batch_size):
        if should_stop is not None and should_stop():
            stopped = RetrieveResult(status=0xFE00, completed=0, failed=0, warning=0, cancelled=True)
            break
        series = plan.series_uid
        if move_to is not None and batch is None:
            result = client.move_series(study_uid, series, move_to, should_stop=should_stop)
        elif move_to is not None:
            result = client.move_instances(study_uid, series, batch or (), move_to, should_stop=should_stop)
        elif batch is None:
            result = client.get_series(study_uid, series, dest_dir, on_instance, should_stop=should_stop)
        else:
            result = client.get_instances(
                study_uid, series, batch, dest_dir, on_instance, should_stop=should_stop
            )
        received += result.received
        if result.cancelled:
            stopped = result
            break
    after = present_uids(dest_dir)
    outcome = ResumeResult(
        expected=len(refs),
        present_before=sum(1 for ref in refs if ref.sop_uid in before),
        received=received,
        missing=tuple(ref.sop_uid for ref in refs if ref.sop_uid not in after),
        cancelled=stopped is not None and bool(set(ref.sop_uid for ref in refs) - after),
        aborted=stopped is not None and stopped.aborted,
    )
    logger.info(
        "resume%s: %d listed, %d already present, %d received, %d still missing",
        *(
            " (cancelled)" if outcome.cancelled else "",
            outcome.expected,
            outcome.present_before,
            outcome.received,
            len(outcome.missing),
        ),
    )
    return outcome


def _operations(
    plans: Sequence[SeriesPlan], batch_size: int
) -> Iterator[tuple[SeriesPlan, tuple[str, ...] | None]]:
    """The C-GETs to run: a whole series (batch None) or one UID list of at most ``batch_size``."""
    for plan in plans:
        if plan.whole_series:
            yield plan, None
            continue
        for start in range(0, len(plan.sop_uids), batch_size):
            yield plan, plan.sop_uids[start : start + batch_size]
