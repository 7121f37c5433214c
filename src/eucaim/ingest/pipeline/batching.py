"""Group de-identified instances into STOW batches: one study per request, capped by bytes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from eucaim.ingest.upload.base import OutgoingInstance


def plan_batches(
    items: Iterable[OutgoingInstance], *, max_bytes: int
) -> list[tuple[str, list[OutgoingInstance]]]:
    """Return ``(study_uid, batch)`` pairs; each batch holds one study and at most ``max_bytes``.

    An instance larger than ``max_bytes`` travels alone. Order is stable: studies in first-seen
    order, instances in input order.
    """
    by_study: dict[str, list[OutgoingInstance]] = defaultdict(list)
    for item in items:
        by_study[item.study_instance_uid].append(item)
    batches: list[tuple[str, list[OutgoingInstance]]] = []
    for study_uid, members in by_study.items():
        current: list[OutgoingInstance] = []
        current_bytes = 0
        for item in members:
            if current and current_bytes + item.size > max_bytes:
                batches.append((study_uid, current))
                current, current_bytes = [], 0
            current.append(item)
            current_bytes += item.size
        if current:
            batches.append((study_uid, current))
    return batches
