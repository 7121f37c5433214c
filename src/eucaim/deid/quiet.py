"""Keeping pydicom from echoing values (PHI) into warnings and logs while eucaim handles a file.

pydicom reports an invalid value by warning *and* logging it verbatim ("Invalid value for VR DA:
'DOE JOHN'"), at read, at decode and at write. Inside this context value validation is off,
warnings are dropped and the ``pydicom`` logger is silenced; eucaim reports problems itself, by
tag, never by value. Process-wide while active: the pipeline runs one file at a time per process.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from pydicom import config


@contextmanager
def pydicom_quiet() -> Iterator[list[warnings.WarningMessage]]:
    """Silence pydicom's value warnings and log; yields the warnings caught (to count, not show)."""
    logger = logging.getLogger("pydicom")
    saved = (
        config.settings.reading_validation_mode,
        config.settings.writing_validation_mode,
        logger.disabled,
    )
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    logger.disabled = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        config.settings.reading_validation_mode, config.settings.writing_validation_mode = saved[:2]
        logger.disabled = saved[2]
