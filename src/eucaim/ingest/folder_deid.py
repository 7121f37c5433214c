"""De-identify a folder tree into another folder, with all cores, without a node or state DB."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from eucaim.deid.files import FileOutcome
from eucaim.deid.profile import load_profile
from eucaim.deid.pseudonym import DEFAULT_PSEUDONYM_FORMAT
from eucaim.ingest.deid_worker import WorkFailure, deidentify_in_worker, init_worker
from eucaim.ingest.scanner import iter_files


def _one(src: Path, out_dir: Path) -> tuple[str, str, str] | None:
    outcome = deidentify_in_worker(src, lambda result: _place(out_dir, result))
    if isinstance(outcome, WorkFailure):
        return (str(src), outcome.reason, outcome.detail)
    return None


def _place(out_dir: Path, outcome: FileOutcome) -> Path:
    """Where a de-identified file goes. Output names carry only de-identified values: source
    file names often hold patient names. Written there directly, once, by the worker."""
    return (
        out_dir
        / outcome.pseudonym
        / outcome.study_instance_uid
        / outcome.series_instance_uid
        / f"{outcome.sop_instance_uid}.dcm"
    )


@dataclass
class TreeResult:
    written: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)


def deidentify_tree(
    in_dir: Path,
    out_dir: Path,
    *,
    secret: bytes,
    profile: str,
    workers: int = 0,
    pseudonym_format: str = DEFAULT_PSEUDONYM_FORMAT,
) -> TreeResult:
    """De-identify every file below ``in_dir`` into ``out_dir/<pseudonym>/<study>/<series>/``.

    Files that cannot be de-identified safely are listed in ``problems`` with the reason, and
    nothing is written for them.
    """
    load_profile(profile)  # fail before starting workers if the profile is wrong
    out_dir.mkdir(parents=True, exist_ok=True)
    files = list(iter_files([in_dir]))
    result = TreeResult()
    n = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(
        max_workers=n,
        initializer=init_worker,
        initargs=(profile, secret, pseudonym_format, os.getpid()),
    ) as pool:
        for problem in pool.map(_one, files, [out_dir] * len(files), chunksize=16):
            if problem is None:
                result.written += 1
            else:
                result.problems.append(problem)
    return result
