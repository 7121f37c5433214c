"""Code that runs inside a de-identification worker process: set-up, one file, and fail-closed errors.

Shared by `push` (pipeline/deid_stage.py) and `deid IN OUT` (folder_deid.py), so both quarantine
the same files for the same reasons and both leave no orphan worker when they are killed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import FileOutcome, deidentify_file, deidentify_file_into
from eucaim.deid.profile import load_profile
from eucaim.errors import DeidentificationError, InvalidDicomError

logger = logging.getLogger(__name__)

PARENT_CHECK_S = 0.5

_deidentifier: Deidentifier | None = None


@dataclass(frozen=True)
class WorkFailure:
    """Why one file was not de-identified (a quarantine reason and words for the report)."""

    reason: str
    detail: str


def init_worker(profile_name: str, secret: bytes, pseudonym_format: str, parent: int) -> None:
    """Pool initializer: build this worker's Deidentifier and watch the parent process."""
    global _deidentifier
    # The parent's PID comes from the parent itself: a worker started just as it died already
    # has another parent.
    threading.Thread(target=exit_with_parent, args=(parent,), daemon=True).start()
    _deidentifier = Deidentifier(load_profile(profile_name), secret, pseudonym_format=pseudonym_format)


def exit_with_parent(parent: int) -> None:
    """End this worker once its parent process is gone (``kill -9`` gives the pool no chance to).

    A forked worker holds its own copy of the task pipe's write end, so it never sees EOF and would
    otherwise wait for work forever, one orphan per worker per killed run.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def deidentify_in_worker(src: Path, dst: Path | Callable[[FileOutcome], Path]) -> FileOutcome | WorkFailure:
    """De-identify ``src`` into ``dst``; every failure becomes a WorkFailure, never an exception.

    ``dst`` may be a function of the outcome, for trees laid out by de-identified UIDs: the file
    is then written once, straight into its final folder.
    """
    assert _deidentifier is not None, "init_worker did not run"
    try:
        if callable(dst):
            return deidentify_file_into(src, dst, _deidentifier)[0]
        return deidentify_file(src, dst, _deidentifier)
    except InvalidDicomError as exc:
        return WorkFailure(exc.reason or "invalid_dicom", str(exc))
    except DeidentificationError as exc:
        return WorkFailure(exc.reason or "deid_failed", str(exc))
    except Exception as exc:  # fail closed: a file nobody foresaw is quarantined, not fatal
        # pydicom raises more than InvalidDicomError on damaged files (an unknown VR gives
        # NotImplementedError); left to propagate, one such file would end every run. The
        # message is not kept: it could quote a value of the file.
        logger.debug("unexpected %s while de-identifying an instance", type(exc).__name__)
        return WorkFailure(
            "deid_failed",
            f"unexpected {type(exc).__name__} while reading or de-identifying; the file may be damaged",
        )
