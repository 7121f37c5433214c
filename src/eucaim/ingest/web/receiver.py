"""The workspace's C-STORE receiver, started and stopped from the web UI (``eucaim-ingest receive``).

It is the same :class:`WorkspaceReceiver` the command runs: files land in ``incoming/received/``
and are indexed as they arrive. It is not a job of the job runner: it listens for as long as the
user wants, while folders are indexed, studies retrieved or a transfer runs. A C-MOVE retrieve
made while it listens sends to it (``retrieve_studies(receiver=...)``) instead of binding the port
a second time.

One receiver per workspace and process: a port belongs to the machine, not to a page.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eucaim.errors import ConfigError, EucaimError
from eucaim.ingest.pacs_intake import WorkspaceReceiver
from eucaim.ingest.sources.receiver import Receiver
from eucaim.ingest.workspace import Workspace

_LOCK = threading.Lock()
_RUNNING: dict[Path, UiReceiver] = {}
_FINAL: dict[Path, dict[str, Any]] = {}  # the last stopped receiver's counts, shown until the next start


class ReceiverInputError(ConfigError):
    """A receiver setting the user typed is not usable; ``field`` names the form field to mark."""

    def __init__(self, field: str, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.field = field


@dataclass(frozen=True)
class ReceiverRequest:
    """What the user asked for: ``eucaim-ingest receive --ae-title --port --bind --allow-aet``."""

    ae_title: str
    port: int
    bind: str = "0.0.0.0"
    allow_aets: tuple[str, ...] = ()


def parse_request(ae_title: str, port: str, bind: str, allow: str) -> ReceiverRequest:
    """Check the form's values with the receiver's own rules; raise ReceiverInputError per field."""
    ae = ae_title.strip()
    if not 0 < len(ae) <= 16 or "\\" in ae or not ae.isascii() or not ae.isprintable():
        raise ReceiverInputError("ae_title", f"AE title {ae!r} must have 1 to 16 printable ASCII characters")
    try:
        number = int(port.strip())
    except ValueError:
        raise ReceiverInputError("port", f"port {port.strip()!r} is not a number") from None
    if not 0 < number < 65536:
        raise ReceiverInputError("port", f"port {number} is outside 1-65535")
    allowed = tuple(a for a in (part.strip() for part in allow.replace(",", " ").split()) if a)
    return ReceiverRequest(ae, number, bind.strip() or "0.0.0.0", allowed)


class UiReceiver:
    """A running receiver with its own workspace handle (one state DB connection for its threads)."""

    def __init__(self, workspace: Path, request: ReceiverRequest) -> None:
        self.request = request
        try:
            self._ws = Workspace.open(workspace)
        except EucaimError as exc:  # a damaged workspace: said next to the Start button
            raise ReceiverInputError("start", str(exc)) from exc
        try:
            self._rx = WorkspaceReceiver(
                self._ws.state,
                self._ws.incoming,
                ae_title=request.ae_title,
                port=request.port,
                bind_address=request.bind,
                allowed_calling_aets=request.allow_aets,
            )
            self._rx.start()
        except ConfigError as exc:
            self._ws.close()
            raise ReceiverInputError("port", str(exc.args[0]), hint=exc.hint) from exc
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._moved_indexed = 0
        self._moved_problems = 0

    def count_moved(self, *, usable: bool) -> None:
        """Count one instance a C-MOVE retrieve received through this receiver (the retrieve indexed it)."""
        with self._lock:
            if usable:
                self._moved_indexed += 1
            else:
                self._moved_problems += 1

    @property
    def receiver(self) -> Receiver:
        """The DIMSE receiver itself, lent to C-MOVE retrieves."""
        return self._rx.receiver

    def stop(self) -> dict[str, Any]:
        """Stop listening, index what was written but not indexed, close the workspace; final counts."""
        try:
            self._rx.stop()
            return self.snapshot()
        finally:
            self._ws.close()

    def snapshot(self) -> dict[str, Any]:
        """Counts for the page and its polling: received, indexed, duplicates, not usable, refused, rate."""
        idx = self._rx.indexer
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            "running": self.receiver.is_running,
            "ae_title": self.request.ae_title,
            "port": self.request.port,
            "bind": self.request.bind,
            "allow": list(self.request.allow_aets),
            "received": self._rx.stored,
            "indexed": idx.indexed + self._moved_indexed,
            "duplicates": idx.duplicates,
            "problems": idx.problems + self._moved_problems,
            "refused": self._rx.refused,
            "rate": round(self._rx.stored / elapsed, 1),
        }


def start_receiver(workspace: Path, request: ReceiverRequest) -> UiReceiver:
    """Start the workspace's receiver; ReceiverInputError (field "port") if one runs or binding fails."""
    key = workspace.resolve()
    with _LOCK:
        running = _RUNNING.get(key)
        if running is not None:
            raise ReceiverInputError(
                "port",
                f"a receiver already listens as {running.request.ae_title} on port {running.request.port}",
                hint="stop it first",
            )
        receiver = UiReceiver(key, request)
        _RUNNING[key] = receiver
        _FINAL.pop(key, None)
        return receiver


def running_receiver(workspace: Path) -> UiReceiver | None:
    """The workspace's receiver when one listens.

    Waits while one is being stopped: a page drawn meanwhile must show the final counts, not a
    receiver that is neither running nor finished.
    """
    with _LOCK:
        return _RUNNING.get(workspace.resolve())


def stop_receiver(workspace: Path) -> dict[str, Any] | None:
    """Stop the workspace's receiver; its final counts, or None when none was running."""
    key = workspace.resolve()
    with _LOCK:
        receiver = _RUNNING.get(key)
        if receiver is None:
            return None
        try:
            _FINAL[key] = final = receiver.stop()
        finally:
            del _RUNNING[key]
    return final


def last_counts(workspace: Path) -> dict[str, Any] | None:
    """The final counts of the receiver stopped last, until another one starts."""
    with _LOCK:
        return _FINAL.get(workspace.resolve())
