"""De-identify a folder tree into another folder, with all cores, without a node or state DB."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.profile import load_profile
from eucaim.errors import DeidentificationError, InvalidDicomError
from eucaim.ingest.scanner import iter_files

_deidentifier: Deidentifier | None = None


def _init(profile: str, secret: bytes) -> None:
    global _deidentifier
    _deidentifier = Deidentifier(load_profile(profile), secret)


def _one(src: Path, out_dir: Path) -> tuple[str, str, str] | None:
    assert _deidentifier is not None
    tmp = out_dir / f".partial-{os.getpid()}-{abs(hash(str(src)))}.dcm"
    try:
        outcome = deidentify_file(src, tmp, _deidentifier)
    except InvalidDicomError as exc:
        tmp.unlink(missing_ok=True)
        return (str(src), exc.reason, str(exc))
    except DeidentificationError as exc:
        tmp.unlink(missing_ok=True)
        return (str(src), exc.reason, str(exc))
    # Output names carry only de-identified values: source file names often hold patient names.
    final = (
        out_dir
        / outcome.pseudonym
        / outcome.study_instance_uid
        / outcome.series_instance_uid
        / f"{outcome.sop_instance_uid}.dcm"
    )
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    return None


@dataclass
class TreeResult:
    written: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)


def deidentify_tree(
    in_dir: Path, out_dir: Path, *, secret: bytes, profile: str, workers: int = 0
) -> TreeResult:
    load_profile(profile)  # fail before starting workers if the profile is wrong
    out_dir.mkdir(parents=True, exist_ok=True)
    files = list(iter_files([in_dir]))
    result = TreeResult()
    n = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=n, initializer=_init, initargs=(profile, secret)) as pool:
        for problem in pool.map(_one, files, [out_dir] * len(files), chunksize=16):
            if problem is None:
                result.written += 1
            else:
                result.problems.append(problem)
    return result
