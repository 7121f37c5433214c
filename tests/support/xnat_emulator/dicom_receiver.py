"""The emulated XNAT DICOM receiver: a C-STORE SCP (pynetdicom) that files instances like XNAT does.

Each association is one "gradual DICOM" import as run by XNAT's receiver: instances are routed by
``Project: P Subject: S Session: E`` (and ``AA:true``) in PatientComments, StudyComments or
AdditionalPatientHistory, else subject = PatientName and session = PatientID; a project that does not
exist sends the session to ``Unassigned``. Instances land in prearchive sessions with status
RECEIVING. XNAT builds a session only after it has been idle for a while; here the sessions of an
association settle ``settle_after`` seconds after it is released or aborted: they become READY, and
are archived when the project auto-archives (prearchive code 4 or 5) or the comments say ``AA:true``.

The receiver stores the bytes exactly as received (``event.encoded_dataset()``), with TCP_NODELAY set on
every connection so that C-STORE is not latency-bound.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from typing import TYPE_CHECKING, Any

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from .dicom_import import DicomImporter, ImportRequest
from .http_error import HttpError

if TYPE_CHECKING:
    from .emulator import XnatEmulator

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_OUT_OF_RESOURCES = 0xA700


class _NoDelayServer(ThreadedAssociationServer):
    """pynetdicom's server with Nagle's algorithm off on accepted connections."""

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client, address = super().get_request()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client, address


class DicomReceiver:
    """A running C-STORE SCP feeding ``emulator``'s prearchive and archive."""

    def __init__(
        self, emulator: XnatEmulator, *, ae_title: str = "XNAT", port: int = 0, settle_after: float = 0.0
    ) -> None:
        self.emulator = emulator
        self.ae_title = ae_title
        self.settle_after = settle_after
        self._importers: dict[int, DicomImporter] = {}
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        ae = AE(ae_title=ae_title)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_end),
            (evt.EVT_ABORTED, self._on_end),
        ]
        self._server = ae.make_server(("127.0.0.1", port), evt_handlers=handlers, server_class=_NoDelayServer)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="xnat-dicom-receiver", daemon=True
        )
        self._thread.start()

    def _importer(self, assoc: Any) -> DicomImporter:
        with self._lock:
            importer = self._importers.get(id(assoc))
            if importer is None:
                request = ImportRequest(
                    handler="gradual-DICOM",
                    to_archive=False,
                    overwrite="append",
                    project=None,
                    subject=None,
                    session=None,
                    ignore_unparsable=False,
                )
                emulator = self.emulator
                importer = DicomImporter(emulator.store, emulator.security, emulator.admin_login, request)
                self._importers[id(assoc)] = importer
            return importer

    def _on_store(self, event: Any) -> int:
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            store = self.emulator.store
            blob, size, digest = store.write_blob([event.encoded_dataset(include_meta=True)])
            with store.lock:
                self._importer(event.assoc).add_file(ds, blob, size, digest)
        except (ValueError, AttributeError, KeyError) as error:
            logger.warning("C-STORE refused: the dataset could not be filed (%s)", type(error).__name__)
            return STATUS_CANNOT_UNDERSTAND
        except OSError:
            logger.warning("C-STORE refused: the emulator could not write the instance")
            return STATUS_OUT_OF_RESOURCES
        return STATUS_SUCCESS

    def _on_end(self, event: Any) -> None:
        with self._lock:
            importer = self._importers.pop(id(event.assoc), None)
        if importer is None:
            return
        if self.settle_after <= 0:
            self._settle(importer)
            return
        timer = threading.Timer(self.settle_after, self._settle, args=(importer,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _settle(self, importer: DicomImporter) -> None:
        for session in list(importer.sessions.values()):
            try:
                importer.finish(session)
            except HttpError as error:
                with self.emulator.store.lock:
                    if session.status not in {"CONFLICT"}:
                        session.status = "ERROR"
                logger.warning("A received session could not be archived (HTTP %d)", error.status)

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        # Not server.shutdown(): that expects the server in AE._servers, where only start_server puts it.
        socketserver.BaseServer.shutdown(self._server)
        self._server.server_close()
        self._thread.join(timeout=5)
