"""A dry run: what a profile will do to a set of instances, per tag, before anything leaves.

``preview`` de-identifies each dataset in memory (nothing is written) and summarises: the action
per tag path with instance counts, instances that will be quarantined and why, and pseudonym
collisions (two original PatientIDs that map to one pseudonym). ``eucaim-ingest check`` renders it.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import pydicom

from eucaim.deid.engine import Deidentifier
from eucaim.errors import DeidentificationError, EucaimError


@dataclass(frozen=True)
class TagPreview:
    """One tag path and how many instances get each action on it."""

    path: str
    actions: dict[str, int]


@dataclass(frozen=True)
class Preview:
    """The summary ``check`` shows. Holds no original values."""

    instances: int
    patients: int
    tags: tuple[TagPreview, ...]
    quarantined: tuple[tuple[str, str], ...]  # (caller's label, reason)
    collisions: tuple[tuple[str, int], ...]  # (pseudonym, distinct original IDs)
    warnings: dict[str, int]

    @property
    def will_send(self) -> int:
        """Instances that pass de-identification."""
        return self.instances - len(self.quarantined)


def preview(
    datasets: Iterable[tuple[str, pydicom.Dataset | EucaimError]], deidentifier: Deidentifier
) -> Preview:
    """Dry-run ``deidentifier`` over ``(label, dataset)`` pairs; the datasets are consumed.

    A pair may carry the error met reading the file instead of a dataset (see
    ``files.read_for_preview``): it counts as quarantined with that error's reason. Labels are
    the caller's (a relative path or an index) and come back only with quarantines.
    """
    per_tag: dict[str, Counter[str]] = defaultdict(Counter)
    quarantined: list[tuple[str, str]] = []
    originals: dict[str, set[str]] = defaultdict(set)
    warnings: Counter[str] = Counter()
    count = 0
    for label, ds in datasets:
        count += 1
        if isinstance(ds, EucaimError):
            quarantined.append((label, str(getattr(ds, "reason", type(ds).__name__))))
            continue
        try:
            outcome = deidentifier.deidentify(ds)
        except DeidentificationError as exc:
            quarantined.append((label, exc.reason))
            continue
        actions = outcome.audit["actions"]
        assert isinstance(actions, dict)
        for path, action in actions.items():
            per_tag[path][str(action)] += 1
        # A digest is enough to count distinct originals; the preview holds no identifiers.
        originals[outcome.pseudonym].add(hashlib.sha256(outcome.original_patient_id.encode()).hexdigest())
        for warning in outcome.warnings:
            warnings[warning.split(":", 1)[0]] += 1
    tags = tuple(TagPreview(path, dict(sorted(c.items()))) for path, c in sorted(per_tag.items()))
    collisions = tuple(sorted((p, len(o)) for p, o in originals.items() if len(o) > 1))
    return Preview(
        instances=count,
        patients=len(originals),
        tags=tags,
        quarantined=tuple(quarantined),
        collisions=collisions,
        warnings=dict(sorted(warnings.items())),
    )
