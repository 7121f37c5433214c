"""An in-memory target for fast unit tests of the pipeline (the real targets have their own tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eucaim.ingest.upload.base import OutgoingInstance, SendResult


class MemoryTarget:
    """Keeps what it receives; ``fail`` lets a test refuse chosen instances with a reason."""

    name = "memory"

    def __init__(self, fail: Callable[[OutgoingInstance], str | None] | None = None) -> None:
        self.store: dict[tuple[str, str], dict[str, bytes]] = {}
        self.requests = 0
        self._fail = fail

    def send(self, study_uid: str, batch: Sequence[OutgoingInstance]) -> SendResult:
        self.requests += 1
        stored: set[str] = set()
        failed: dict[str, str] = {}
        for item in batch:
            reason = self._fail(item) if self._fail else None
            if reason:
                failed[item.sop_instance_uid] = reason
                continue
            series = self.store.setdefault((study_uid, item.series_instance_uid), {})
            series[item.sop_instance_uid] = item.path.read_bytes()
            stored.add(item.sop_instance_uid)
        return SendResult(stored=frozenset(stored), failed=failed)

    def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
        return set(self.store.get((study_uid, series_uid), {}))

    def close(self) -> None:
        pass
