"""Fetch only what a folder still lacks of a study: resume a broken C-GET instead of starting over.

The PACS is asked which instances the study has (C-FIND, SERIES then IMAGE level); files already
in the folder (``<SOPInstanceUID>.dcm``, written atomically, so complete) are skipped; whole
missing series are fetched at SERIES level, partial ones by UID lists in batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eucaim.ingest.sources.pacs import InstanceRef, PacsClient
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
) -> ResumeResult:
    """Retrieve by C-GET the instances of ``study_uid`` not yet in ``dest_dir``.

    Raises what ``PacsClient`` raises; a run that breaks can simply be repeated.
    """
    refs = client.find_instances(study_uid)
    before = present_uids(dest_dir)
    received = 0
    for plan in plan_missing(refs, before):
        if plan.whole_series:
            received += client.get_series(study_uid, plan.series_uid, dest_dir, on_instance).received
            continue
        for start in range(0, len(plan.sop_uids), batch_size):
            batch = plan.sop_uids[start : start + batch_size]
            received += client.get_instances(
                study_uid, plan.series_uid, batch, dest_dir, on_instance
            ).received
    after = present_uids(dest_dir)
    outcome = ResumeResult(
        expected=len(refs),
        present_before=sum(1 for ref in refs if ref.sop_uid in before),
        received=received,
        missing=tuple(ref.sop_uid for ref in refs if ref.sop_uid not in after),
    )
    logger.info(
        "resume: %d listed, %d already present, %d received, %d still missing",
        *(outcome.expected, outcome.present_before, outcome.received, len(outcome.missing)),
    )
    return outcome
