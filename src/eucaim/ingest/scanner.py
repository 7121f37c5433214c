"""Index source files into the workspace: one row per readable instance, a reason for every other file."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eucaim.dicom.reading import header_of, read_dataset
from eucaim.errors import InvalidDicomError
from eucaim.ingest.state.db import ScannedInstance, StateDB

logger = logging.getLogger(__name__)

# Files every export tool leaves beside the images; not worth a line in the problem report.
IGNORED_NAMES = frozenset({"DICOMDIR", ".DS_Store", "Thumbs.db", "desktop.ini"})


@dataclass
class ScanSummary:
    files: int = 0
    new: int = 0
    unchanged: int = 0
    updated: int = 0
    duplicates: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def indexed(self) -> int:
        return self.new + self.unchanged + self.updated


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Yield every file below the given files and folders, in a stable order, links not followed."""
    for root in paths:
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(filenames):
                    if name not in IGNORED_NAMES:
                        yield Path(dirpath) / name
        else:
            # A missing path or a dangling link is reported by the reader with its reason.
            yield root


def scan_paths(
    state: StateDB,
    paths: Sequence[Path],
    *,
    on_file: Callable[[Path, str], None] | None = None,
) -> ScanSummary:
    """Index every file below ``paths`` into ``state``.

    Unreadable, non-DICOM, truncated and incomplete files are recorded as scan problems with a
    reason and never sent; the scan continues. ``on_file(path, outcome)`` reports progress.
    """
    summary = ScanSummary()
    for path in iter_files(paths):
        summary.files += 1
        abs_path = str(path.absolute())
        outcome = _scan_one(state, path, abs_path, summary)
        if on_file is not None:
            on_file(path, outcome)
    logger.info(
        "scanned %d files: %d new, %d unchanged, %d updated, %d duplicates, %d problems",
        summary.files,
        summary.new,
        summary.unchanged,
        summary.updated,
        summary.duplicates,
        len(summary.problems),
    )
    return summary


def _scan_one(state: StateDB, path: Path, abs_path: str, summary: ScanSummary) -> str:
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is not None and state.known_file(abs_path, st.st_size, st.st_mtime_ns):
        summary.unchanged += 1
        return "unchanged"
    try:
        ds = read_dataset(path)
        header = header_of(ds, path)
    except InvalidDicomError as exc:
        state.record_scan_problem(abs_path, exc.reason, str(exc))
        summary.problems.append((abs_path, exc.reason, str(exc)))
        return "problem"
    assert st is not None  # read_dataset succeeded, so the file exists
    outcome = state.upsert_scanned(
        ScannedInstance(
            sop_uid=header.sop_instance_uid,
            path=abs_path,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            patient_id=header.patient_id,
            study_uid=header.study_instance_uid,
            series_uid=header.series_instance_uid,
            sop_class_uid=header.sop_class_uid,
            modality=header.modality,
            study_date=header.study_date,
        )
    )
    if outcome == "duplicate":
        summary.duplicates += 1
    else:
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    return outcome
