"""A DICOM C-STORE receiver (SCP): the hospital PACS pushes studies, we write them to a folder.

The PACS must know the receiver: its AE title, this machine's address and the port. Bind to
``0.0.0.0`` (the default) so the PACS can reach it from the hospital network; binding to
localhost is the classic reason C-MOVE "works" in testing and fails in production.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt

from eucaim.errors import ConfigError
from eucaim.ingest.sources.dimse_log import quiet_pynetdicom
from eucaim.ingest.sources.writer import InstanceWriter, OnStored, remove_partial_files

logger = logging.getLogger(__name__)

VERIFICATION = "1.2.840.10008.1.1"
# Explicit VR first: pynetdicom picks the first syntax we list that the sender offers, and
# explicit VR keeps every value's VR as the modality wrote it.
TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",
    *(ts for ts in ALL_TRANSFER_SYNTAXES if ts != "1.2.840.10008.1.2.1"),
]


class Receiver:
    """A C-STORE SCP writing each instance to ``dest_dir/<SOPInstanceUID>.dcm``.

    It accepts every storage SOP class pynetdicom knows, in any transfer syntax, and answers
    C-ECHO. ``on_stored(path, sop_instance_uid)`` runs after each instance is on disk; if it
    raises, the PACS is told the store failed (so it sends again) and the file stays.
    Associations whose called AE title is not ``ae_title`` are rejected, so a misrouted PACS
    configuration shows up at once instead of silently filling the wrong workspace. ``tls`` is a
    server context (``eucaim.tls.server_context``) for DICOM over TLS. ``allowed_calling_aets``,
    when given, rejects every sender whose AE title is not listed (e.g. only the PACS).
    """

    def __init__(
        self,
        ae_title: str,
        port: int,
        dest_dir: Path,
        on_stored: OnStored | None = None,
        *,
        bind_address: str = "0.0.0.0",
        max_associations: int = 10,
        tls: ssl.SSLContext | None = None,
        allowed_calling_aets: Collection[str] = (),
    ) -> None:
        if not 0 < len(ae_title.strip()) <= 16:
            raise ConfigError(f"AE title {ae_title!r} must have 1 to 16 characters")
        quiet_pynetdicom()
        self.ae_title = ae_title.strip()
        self.port = port
        self.bind_address = bind_address
        self.dest_dir = dest_dir
        self.tls = tls
        self.writer = InstanceWriter(dest_dir, on_stored)
        self._ae = AE(ae_title=self.ae_title)
        self._ae.maximum_associations = max_associations
        self._ae.require_called_aet = True
        if allowed_calling_aets:
            self._ae.require_calling_aet = [aet.strip() for aet in allowed_calling_aets]
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                self._ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
        self._ae.add_supported_context(VERIFICATION)
        self._server: Any = None

    @property
    def stored(self) -> int:
        """How many instances were written since start."""
        return self.writer.stored

    @property
    def failed(self) -> int:
        """How many instances were refused or could not be written."""
        return self.writer.failed

    @property
    def is_running(self) -> bool:
        """Whether the receiver is listening."""
        return self._server is not None

    def start(self) -> None:
        """Listen in a background thread; return once the port is bound.

        Raises ConfigError when the destination folder is unusable or the port cannot be bound.
        """
        if self._server is not None:
            return
        try:
            self.dest_dir.mkdir(parents=True, exist_ok=True)
            remove_partial_files(self.dest_dir)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the receiver's destination folder {self.dest_dir}: {exc.strerror}"
            ) from exc
        try:
            self._server = self._ae.start_server(
                (self.bind_address, self.port),
                block=False,
                evt_handlers=[(evt.EVT_C_STORE, self.writer.handle_store)],
                ssl_context=self.tls,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.bind_address}:{self.port}: {exc.strerror}",
                hint="choose a free port, or stop the program already using it",
            ) from exc
        logger.info("receiver %s listening on %s:%d", self.ae_title, self.bind_address, self.port)

    def stop(self) -> None:
        """Stop listening and close open associations; safe to call twice."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server = None
        logger.info(
            "receiver %s stopped: %d stored, %d failed", self.ae_title, self.writer.stored, self.writer.failed
        )

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
