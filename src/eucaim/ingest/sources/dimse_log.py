"""Keep pynetdicom's logging free of patient data.

pynetdicom dumps every C-FIND/C-GET/C-MOVE identifier and C-STORE summary at INFO (PatientID,
StudyInstanceUID, …), so any program that logs at INFO would write PHI. Our DIMSE classes cap
its logger at WARNING when they are created; its warnings and errors carry no dataset values.
"""

from __future__ import annotations

import logging

PYNETDICOM_LOGGER = "pynetdicom"


def quiet_pynetdicom() -> None:
    """Raise pynetdicom's logger to WARNING (never lower it)."""
    logger = logging.getLogger(PYNETDICOM_LOGGER)
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
