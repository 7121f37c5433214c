"""Cancel a running C-GET or C-MOVE: DIMSE C-CANCEL when asked, an abort if the PACS ignores it.

Used by ``PacsClient`` around each retrieve. A stop is asked through ``should_stop`` (read between
the PACS's responses and every 0.1 s by a watcher thread, so a quiet PACS does not delay it) or
:meth:`RetrieveCancellation.request` from any thread. Only the PACS address is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pynetdicom.association import Association

logger = logging.getLogger(__name__)

_WATCH_INTERVAL_S = 0.1

StopCheck = Callable[[], bool]
"""Asked between responses (and every 0.1 s from a watcher): True cancels the running retrieve."""


class RetrieveCancellation:
    """Watches one running C-GET/C-MOVE: sends C-CANCEL once asked, aborts if the PACS ignores it.

    ``check`` runs between responses (in the retrieving thread) and every 0.1 s in a watcher
    thread, so a stop is noticed even while the PACS sends nothing.
    """

    def __init__(
        self,
        assoc: Association,
        msg_id: int,
        query_model: str,
        should_stop: StopCheck | None,
        grace: float,
        where: str,
    ) -> None:
        self._assoc = assoc
        self._msg_id = msg_id
        self._query_model = query_model
        self._should_stop = should_stop
        self._grace = grace
        self._where = where
        self._lock = threading.Lock()
        self._asked = threading.Event()
        self._done = threading.Event()
        self.cancel_sent_at: float | None = None
        self.aborted = False
        self._thread = threading.Thread(target=self._watch, name="pacs-cancel", daemon=True)

    @property
    def cancel_sent(self) -> bool:
        return self.cancel_sent_at is not None

    def request(self) -> None:
        """Cancel now, whatever ``should_stop`` says (from any thread)."""
        self._asked.set()
        self.check()

    def check(self) -> None:
        """Send C-CANCEL, once, when a stop was asked."""
        if self.cancel_sent_at is not None or self._done.is_set():
            return
        if not (self._asked.is_set() or (self._should_stop is not None and self._should_stop())):
            return
        with self._lock:
            if self.cancel_sent_at is not None or self._done.is_set():
                return
            self.cancel_sent_at = time.monotonic()
            try:
                self._assoc.send_c_cancel(self._msg_id, query_model=self._query_model)
            except (RuntimeError, ValueError):
                return  # the association ended meanwhile: nothing left to cancel
        logger.info("C-CANCEL sent to %s", self._where)

    def _watch(self) -> None:
        while not self._done.wait(_WATCH_INTERVAL_S):
            self.check()
            sent = self.cancel_sent_at
            if sent is not None and time.monotonic() - sent >= self._grace:
                self._abort()
                return

    def _abort(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self.aborted = True
        logger.warning(
            "%s did not end the retrieve within %.0f s of C-CANCEL: aborting the association",
            self._where,
            self._grace,
        )
        self._assoc.abort()
        # Wake the response loop now rather than after the DIMSE timeout (pynetdicom itself puts
        # this item when the peer goes away).
        self._assoc.dimse.msg_queue.put((None, None))

    def __enter__(self) -> RetrieveCancellation:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done.set()
        self._thread.join()
