"""The small interface every upload target implements, and the values it exchanges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from eucaim.errors import UploadError


@dataclass(frozen=True)
class OutgoingInstance:
    """One de-identified instance ready to send (identifiers are the de-identified ones)."""

    instance_id: int
    path: Path
    size: int
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str


@dataclass(frozen=True)
class SendResult:
    """How the target settled each instance of a batch.

    Instances in neither ``stored`` nor ``failed`` were not mentioned by the target; the pipeline
    leaves them to verification rather than guessing. ``retry_later`` holds instances the target
    refused for a reason of its own (out of resources: disk full, store down); they are sent again
    later, not quarantined.
    """

    stored: frozenset[str] = frozenset()
    failed: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    retry_later: dict[str, str] = field(default_factory=dict)


class PayloadTooLarge(UploadError):
    """The target refused the request size (413); the caller should split the batch."""


class Target(Protocol):
    """A place instances go to. Implementations retry transient errors themselves."""

    name: str

    def send(self, study_uid: str, batch: Sequence[OutgoingInstance]) -> SendResult:
        """Send one batch of instances of one study.

        Raises:
            PayloadTooLarge: the batch is too big for the target.
            AuthenticationError: credentials refused even after one refresh.
            UploadError: the target refused the whole request permanently.
            TransientError: retries exhausted.
        """
        ...

    def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
        """Return the SOPInstanceUIDs the target holds in this series."""
        ...

    def close(self) -> None: ...
