"""Instance states and the one table of legal transitions between them.

    pending ──► deidentified ──► sent ──► verified
       │             │            │
       └──► quarantined ◄─────────┘        (any non-verified state may be quarantined)

``pending`` means "needs de-identification"; ``deidentified`` means the de-identified copy is in
the outbox and may or may not have reached the node (a crash mid-send leaves it here, and the
next run asks the node before sending again). ``sent`` means the node acknowledged it; ``verified``
means a QIDO listing on the node showed it. A quarantined instance goes back to ``pending`` only
when the user asks for a retry; a verified one goes back to ``deidentified`` only when the user asks
to send it again (``push --resend``/``--reverify``).
"""

from __future__ import annotations

from enum import StrEnum

from eucaim.errors import StateError


class InstanceState(StrEnum):
    PENDING = "pending"
    DEIDENTIFIED = "deidentified"
    SENT = "sent"
    VERIFIED = "verified"
    QUARANTINED = "quarantined"


class QuarantineReason(StrEnum):
    """Why an instance cannot be sent; stored with the row and shown in every report."""

    DEID_FAILED = "deid_failed"
    BURNED_IN_RISK = "burned_in_risk"
    INVALID_DICOM = "invalid_dicom"
    SOURCE_CHANGED = "source_changed"
    SOURCE_MISSING = "source_missing"
    REFUSED_BY_NODE = "refused_by_node"
    MISSING_ON_NODE = "missing_on_node"


S = InstanceState
TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    S.PENDING: frozenset({S.DEIDENTIFIED, S.QUARANTINED}),
    S.DEIDENTIFIED: frozenset({S.SENT, S.VERIFIED, S.QUARANTINED, S.PENDING}),
    S.SENT: frozenset({S.VERIFIED, S.DEIDENTIFIED, S.QUARANTINED}),
    S.VERIFIED: frozenset({S.DEIDENTIFIED}),
    S.QUARANTINED: frozenset({S.PENDING}),
}


def check_transition(old: InstanceState, new: InstanceState) -> None:
    """Raise StateError unless ``old -> new`` is in the transition table."""
    if new not in TRANSITIONS[old]:
        raise StateError(f"illegal instance transition {old} -> {new}")


def is_terminal(state: InstanceState) -> bool:
    """True for states a push does not work on (verified, or waiting for the user in quarantine)."""
    return state in (S.VERIFIED, S.QUARANTINED)
