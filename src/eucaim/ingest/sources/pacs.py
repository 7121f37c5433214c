"""Query and retrieve studies from the hospital PACS over DIMSE (C-ECHO, C-FIND, C-GET, C-MOVE).

C-GET is the default route: the instances come back on our own association, so no inbound port
or firewall rule is needed. C-MOVE sends them to a receiver (see ``receiver.py``) that the PACS
must know by AE title, host and port. Nothing patient-identifying is logged: only the PACS
address, operation names, statuses and counts.

A running C-GET or C-MOVE can be cancelled (``should_stop`` or :meth:`PacsClient.cancel`): a
DIMSE C-CANCEL goes to the PACS on the open association, and if the PACS has not ended the
operation ``cancel_grace`` seconds later the association is aborted. Either way the files already
written stay, and the result says ``cancelled``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pynetdicom import AE, build_context, evt
from pynetdicom.association import Association

from eucaim.errors import ConfigError, EucaimError, TransientError
from eucaim.ingest.sources.cancel import RetrieveCancellation, StopCheck
from eucaim.ingest.sources.contexts import retrieve_contexts, storage_scp_roles
from eucaim.ingest.sources.dimse_log import quiet_pynetdicom
from eucaim.ingest.sources.query import (
    StudyMatch,
    StudyQuery,
    build_find_identifier,
    is_valid_uid,
    parse_find_reply,
    select_studies,
)
from eucaim.ingest.sources.writer import InstanceWriter, OnStored, remove_partial_files

logger = logging.getLogger(__name__)

VERIFICATION = "1.2.840.10008.1.1"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"  # Study Root Query/Retrieve Information Model - MOVE
GET = "1.2.840.10008.5.1.4.1.2.2.3"  # Study Root Query/Retrieve Information Model - GET

_PENDING = frozenset({0xFF00, 0xFF01})
_SUCCESS, _WARNING, _CANCEL = 0x0000, 0xB000, 0xFE00
_MOVE_DESTINATION_UNKNOWN = 0xA801
_RETRIEVE_MSG_ID = 1  # one C-GET/C-MOVE per association: its Message ID, which C-CANCEL names


def _is_out_of_resources(code: int) -> bool:
    # A7xx "Refused: out of resources" is the PACS being busy or full: worth retrying later.
    return code & 0xFF00 == 0xA700


_REJECT_REASONS = {(1, 3): "calling AE title not recognised", (1, 7): "called AE title not recognised"}


@dataclass(frozen=True)
class PacsConfig:
    """Where the PACS is and who we are to it.

    ``timeout`` bounds connecting, association and each C-ECHO/C-FIND reply; ``retrieve_timeout``
    bounds the wait for the next C-GET/C-MOVE response, which on large studies can be long
    (pynetdicom#792). ``cancel_grace`` is how long the PACS gets to end a retrieve after our
    C-CANCEL before we abort the association. ``tls`` is a client context (e.g.
    ``eucaim.tls.client_context()``).
    """

    host: str
    port: int
    called_aet: str
    calling_aet: str
    timeout: float = 30.0
    retrieve_timeout: float = 600.0
    cancel_grace: float = 10.0
    tls: ssl.SSLContext | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("called_aet", "calling_aet"):
            value = getattr(self, name)
            if not 0 < len(value.strip()) <= 16 or "\\" in value:
                raise ConfigError(f"PACS setting {name}={value!r} is not an AE title (1 to 16 characters)")
        if not 0 < self.port < 65536:
            raise ConfigError(f"PACS port {self.port} is outside 1-65535")
        if self.timeout <= 0 or self.retrieve_timeout <= 0 or self.cancel_grace <= 0:
            raise ConfigError("PACS timeouts must be positive numbers of seconds")


class PacsError(EucaimError):
    """The PACS answered, but refused or failed the operation; retrying will not help.

    ``status`` is the DIMSE status code when there is one.
    """

    def __init__(self, message: str, *, status: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status


class PacsUnavailable(TransientError):
    """The PACS could not be reached, or the association broke or timed out; worth retrying."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


@dataclass(frozen=True)
class RetrieveResult:
    """How a C-GET or C-MOVE ended.

    ``completed``/``failed``/``warning`` are the PACS's sub-operation counts; ``received`` and
    ``refused`` count what our side stored or refused (C-GET only; 0 for C-MOVE). ``cancelled``:
    we sent C-CANCEL and the operation ended before it was whole; ``aborted``: the PACS did not end
    it within the grace period, so we aborted the association.
    """

    status: int
    completed: int
    failed: int
    warning: int
    received: int = 0
    refused: int = 0
    failed_sop_uids: tuple[str, ...] = ()
    cancelled: bool = False
    aborted: bool = False

    @property
    def is_complete(self) -> bool:
        """Whether every sub-operation succeeded (and, for C-GET, every instance was stored)."""
        return not self.cancelled and self.status == _SUCCESS and self.failed == 0 and self.refused == 0


@dataclass(frozen=True)
class InstanceRef:
    """Where one instance sits on the PACS."""

    series_uid: str
    sop_uid: str


def _uid_list(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(str(item) for item in items)


def _count(status: Dataset, keyword: str) -> int:
    value = status.get(keyword)
    try:
        return int(value) if value not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


class PacsClient:
    """A DIMSE client for one PACS. Every call opens and releases its own association."""

    def __init__(self, config: PacsConfig) -> None:
        self.config = config
        self._running: RetrieveCancellation | None = None
        self._running_lock = threading.Lock()
        quiet_pynetdicom()

    @property
    def _where(self) -> str:
        return f"PACS {self.config.called_aet} at {self.config.host}:{self.config.port}"

    def echo(self) -> float:
        """Send a C-ECHO; return the round trip in seconds, association included.

        Raises PacsUnavailable when the PACS cannot be reached and PacsError when it refuses.
        """
        started = time.perf_counter()
        with self._associate([build_context(VERIFICATION)], "C-ECHO") as assoc:
            status = assoc.send_c_echo()
            code = self._status_code(status, "C-ECHO")
            if code != _SUCCESS:
                raise PacsError(f"{self._where} answered C-ECHO with status 0x{code:04X}", status=code)
        elapsed = time.perf_counter() - started
        logger.info("C-ECHO to %s ok in %.3f s", self._where, elapsed)
        return elapsed

    def find_studies(self, query: StudyQuery) -> list[StudyMatch]:
        """Return the studies matching ``query``, merged by StudyInstanceUID, in reply order.

        Replies without a usable StudyInstanceUID are dropped, and so are studies whose replies all
        contradict the query (some PACS ignore keys they do not index).
        """
        identifier = build_find_identifier(query)
        replies: list[StudyMatch | None] = []
        with self._associate([build_context(FIND)], "C-FIND (Study Root)") as assoc:
            for status, reply in assoc.send_c_find(identifier, FIND):
                code = self._status_code(status, "C-FIND")
                if code in _PENDING:
                    replies.append(parse_find_reply(reply))
                elif code != _SUCCESS:
                    raise self._find_failure(code)
        studies, dropped = select_studies(query, replies)
        logger.info(
            "C-FIND on %s: %d studies (%d replies, %d dropped)",
            self._where,
            len(studies),
            len(replies),
            dropped,
        )
        return studies

    def get_study(
        self,
        study_uid: str,
        dest_dir: Path,
        on_instance: OnStored | None = None,
        *,
        should_stop: StopCheck | None = None,
    ) -> RetrieveResult:
        """Retrieve a study by C-GET into ``dest_dir`` as ``<SOPInstanceUID>.dcm`` files.

        ``on_instance(path, sop_instance_uid)`` runs after each file is on disk (from
        pynetdicom's thread). When ``should_stop()`` turns true (or :meth:`cancel` is called) the
        PACS gets a C-CANCEL and the result says ``cancelled``. Raises PacsError when the PACS
        fails or cancels the retrieve on its own, PacsUnavailable when the association breaks or
        times out (files already written stay; ``eucaim.ingest.sources.resume.get_missing`` then
        fetches only the rest).
        """
        _check_uid(study_uid)
        return self._get(_retrieve_identifier("STUDY", study_uid), dest_dir, on_instance, should_stop)

    def get_series(
        self,
        study_uid: str,
        series_uid: str,
        dest_dir: Path,
        on_instance: OnStored | None = None,
        *,
        should_stop: StopCheck | None = None,
    ) -> RetrieveResult:
        """Retrieve one series by C-GET (smaller operations than a whole study)."""
        _check_uid(study_uid)
        _check_uid(series_uid, "series UID")
        identifier = _retrieve_identifier("SERIES", study_uid)
        identifier.SeriesInstanceUID = series_uid
        return self._get(identifier, dest_dir, on_instance, should_stop)

    def get_instances(
        self,
        study_uid: str,
        series_uid: str,
        sop_uids: Sequence[str],
        dest_dir: Path,
        on_instance: OnStored | None = None,
        *,
        should_stop: StopCheck | None = None,
    ) -> RetrieveResult:
        """Retrieve some instances of one series by C-GET (an IMAGE-level UID-list retrieve)."""
        identifier = _instances_identifier(study_uid, series_uid, sop_uids)
        return self._get(identifier, dest_dir, on_instance, should_stop)

    def find_instances(self, study_uid: str) -> list[InstanceRef]:
        """Return every instance of a study, by C-FIND at SERIES then IMAGE level.

        Two levels, because strict PACS require a single SeriesInstanceUID in an IMAGE query.
        """
        _check_uid(study_uid)
        series = _retrieve_identifier("SERIES", study_uid)
        series.SeriesInstanceUID = ""
        series_uids = [uid for uid in self._find_values(series, "SeriesInstanceUID") if is_valid_uid(uid)]
        refs: list[InstanceRef] = []
        for series_uid in dict.fromkeys(series_uids):
            image = _retrieve_identifier("IMAGE", study_uid)
            image.SeriesInstanceUID = series_uid
            image.SOPInstanceUID = ""
            sop_uids = self._find_values(image, "SOPInstanceUID")
            refs.extend(InstanceRef(series_uid, uid) for uid in dict.fromkeys(sop_uids) if is_valid_uid(uid))
        logger.info("C-FIND on %s: %d series, %d instances", self._where, len(series_uids), len(refs))
        return refs

    def _find_values(self, identifier: Dataset, keyword: str) -> list[str]:
        values: list[str] = []
        with self._associate([build_context(FIND)], "C-FIND (Study Root)") as assoc:
            for status, reply in assoc.send_c_find(identifier, FIND):
                code = self._status_code(status, "C-FIND")
                if code in _PENDING and reply is not None:
                    values.append(str(reply.get(keyword, "") or "").strip())
                elif code not in _PENDING and code != _SUCCESS:
                    raise self._find_failure(code)
        return values

    def _get(
        self,
        identifier: Dataset,
        dest_dir: Path,
        on_instance: OnStored | None,
        should_stop: StopCheck | None,
    ) -> RetrieveResult:
        dest_dir.mkdir(parents=True, exist_ok=True)
        remove_partial_files(dest_dir)
        writer = InstanceWriter(dest_dir, on_instance)
        with self._associate(
            retrieve_contexts(GET),
            "C-GET (Study Root)",
            roles=storage_scp_roles(),
            handlers=[(evt.EVT_C_STORE, writer.handle_store)],
            retrieve=True,
        ) as assoc:
            responses = assoc.send_c_get(identifier, GET, msg_id=_RETRIEVE_MSG_ID)
            with self._cancellable(assoc, GET, should_stop) as watch:
                final = self._last_status(responses, "C-GET", watch=watch)
        return self._result(final, "C-GET", watch, received=writer.stored, refused=writer.failed)

    def move_study(
        self, study_uid: str, dest_aet: str, *, should_stop: StopCheck | None = None
    ) -> RetrieveResult:
        """Ask the PACS to send a study by C-MOVE to the AE titled ``dest_aet`` (our receiver).

        The PACS must have ``dest_aet`` in its modality table with our host and port.
        ``should_stop`` cancels as for :meth:`get_study`.
        """
        _check_uid(study_uid)
        return self._move(_retrieve_identifier("STUDY", study_uid), dest_aet, should_stop)

    def move_series(
        self, study_uid: str, series_uid: str, dest_aet: str, *, should_stop: StopCheck | None = None
    ) -> RetrieveResult:
        """Ask the PACS to send one series by C-MOVE to ``dest_aet``."""
        _check_uid(study_uid)
        _check_uid(series_uid, "series UID")
        identifier = _retrieve_identifier("SERIES", study_uid)
        identifier.SeriesInstanceUID = series_uid
        return self._move(identifier, dest_aet, should_stop)

    def move_instances(
        self,
        study_uid: str,
        series_uid: str,
        sop_uids: Sequence[str],
        dest_aet: str,
        *,
        should_stop: StopCheck | None = None,
    ) -> RetrieveResult:
        """Ask the PACS to send some instances of one series by C-MOVE (an IMAGE-level UID list)."""
        identifier = _instances_identifier(study_uid, series_uid, sop_uids)
        return self._move(identifier, dest_aet, should_stop)

    def _move(self, identifier: Dataset, dest_aet: str, should_stop: StopCheck | None) -> RetrieveResult:
        with self._associate([build_context(MOVE)], "C-MOVE (Study Root)", retrieve=True) as assoc:
            responses = assoc.send_c_move(identifier, dest_aet, MOVE, msg_id=_RETRIEVE_MSG_ID)
            with self._cancellable(assoc, MOVE, should_stop) as watch:
                final = self._last_status(responses, "C-MOVE", dest_aet=dest_aet, watch=watch)
        return self._result(final, "C-MOVE", watch, dest_aet=dest_aet)

    def cancel(self) -> bool:
        """Cancel the running C-GET or C-MOVE from any thread: C-CANCEL now, abort after the grace.

        Returns whether a retrieve was running. The retrieve then returns a ``cancelled`` result.
        """
        with self._running_lock:
            running = self._running
        if running is None:
            return False
        running.request()
        return True

    @contextmanager
    def _cancellable(
        self, assoc: Association, query_model: str, should_stop: StopCheck | None
    ) -> Iterator[RetrieveCancellation]:
        watch = RetrieveCancellation(
            assoc, _RETRIEVE_MSG_ID, query_model, should_stop, self.config.cancel_grace, self._where
        )
        with watch:
            with self._running_lock:
                self._running = watch
            try:
                yield watch
            finally:
                with self._running_lock:
                    self._running = None

    # -- association and status handling -------------------------------------------------

    @contextmanager
    def _associate(
        self,
        contexts: Sequence[Any],
        what: str,
        *,
        roles: Sequence[Any] = (),
        handlers: Sequence[Any] = (),
        retrieve: bool = False,
    ) -> Iterator[Association]:
        cfg = self.config
        ae = AE(ae_title=cfg.calling_aet)
        ae.requested_contexts = list(contexts)
        ae.connection_timeout = cfg.timeout
        ae.acse_timeout = cfg.timeout
        ae.network_timeout = cfg.retrieve_timeout if retrieve else cfg.timeout
        ae.dimse_timeout = cfg.retrieve_timeout if retrieve else cfg.timeout
        tls_args = (cfg.tls, cfg.host) if cfg.tls is not None else None
        assoc = ae.associate(
            cfg.host,
            cfg.port,
            ae_title=cfg.called_aet,
            ext_neg=list(roles) or None,
            evt_handlers=list(handlers) or None,
            tls_args=tls_args,
        )
        if not assoc.is_established:
            raise self._association_error(assoc, what)
        _disable_nagle(assoc)
        try:
            # The first context is the service asked for; the others (storage for C-GET) are extras.
            self._require_context(assoc, contexts[0].abstract_syntax, what)
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _association_error(self, assoc: Association, what: str) -> EucaimError:
        cfg = self.config
        primitive = assoc.acceptor.primitive
        if not assoc.is_rejected and primitive is not None and primitive.result == 0x00:
            # Accepted, then aborted by pynetdicom because the PACS took none of our contexts.
            return self._unsupported(what)
        if assoc.is_rejected and primitive is not None:
            result, source, reason = primitive.result, primitive.result_source, primitive.diagnostic
            why = _REJECT_REASONS.get((source or 0, reason or 0), str(primitive.reason_str))
            hint = (
                f"check that AE title {cfg.calling_aet} is registered on the PACS and that its AE "
                f"title is {cfg.called_aet}"
            )
            if result == 0x02:
                return PacsUnavailable(f"{self._where} refused the association for now: {why}", hint=hint)
            return PacsError(f"{self._where} refused the association: {why}", hint=hint)
        return PacsUnavailable(
            f"cannot associate with {self._where}: {self._probe()}",
            hint="check the host, port and called AE title, that the PACS is running and that no "
            "firewall blocks the port",
        )

    def _probe(self) -> str:
        """Say why a connection fails, since pynetdicom reports only that association failed."""
        cfg = self.config
        try:
            with socket.create_connection((cfg.host, cfg.port), timeout=cfg.timeout) as sock:
                if cfg.tls is not None:
                    cfg.tls.wrap_socket(sock, server_hostname=cfg.host).close()
                return "the connection opened but the association was aborted (TLS or protocol mismatch?)"
        except ssl.SSLError as exc:
            return f"TLS handshake failed: {exc.reason or exc}"
        except OSError as exc:
            return exc.strerror or type(exc).__name__

    def _require_context(self, assoc: Association, abstract_syntax: str, what: str) -> None:
        if not any(cx.abstract_syntax == abstract_syntax for cx in assoc.accepted_contexts):
            raise self._unsupported(what)

    def _unsupported(self, what: str) -> PacsError:
        return PacsError(
            f"{self._where} does not accept {what} from AE title {self.config.calling_aet}",
            hint="ask the PACS administrator to allow it for our AE title, or use the other retrieve "
            "method (C-GET or C-MOVE)",
        )

    def _find_failure(self, code: int) -> EucaimError:
        message = f"{self._where} failed the C-FIND with status 0x{code:04X}"
        if _is_out_of_resources(code):
            return PacsUnavailable(f"{message} (out of resources)", hint="retry later")
        return PacsError(
            message, status=code, hint="check the query; ask the PACS administrator what it means"
        )

    def _status_code(self, status: Dataset, operation: str) -> int:
        # An empty status means the association was aborted or a DIMSE timeout expired.
        if not status or "Status" not in status:
            raise PacsUnavailable(
                f"{self._where} closed the association or stopped answering during {operation}",
                hint=f"check that AE title {self.config.calling_aet} is allowed to query and retrieve "
                "on the PACS; for large studies raise the retrieve timeout",
            )
        return int(status.Status)

    def _last_status(
        self,
        responses: Iterator[Any],
        operation: str,
        *,
        dest_aet: str | None = None,
        watch: RetrieveCancellation | None = None,
    ) -> Dataset | None:
        """The final response; None when the association ended after our C-CANCEL without one."""
        final: Dataset | None = None
        for status, _identifier in responses:
            if watch is not None:
                if watch.cancel_sent and (not status or "Status" not in status):
                    return None
                watch.check()
            code = self._status_code(status, operation)
            if code == _MOVE_DESTINATION_UNKNOWN and dest_aet is not None:
                raise PacsError(
                    f"{self._where} does not know the C-MOVE destination {dest_aet}",
                    status=code,
                    hint=f"register AE title {dest_aet} with this machine's address and the receiver's "
                    "port in the PACS's modality table",
                )
            if code not in _PENDING:
                final = status
        if final is None:
            if watch is not None and watch.cancel_sent:
                return None
            raise PacsUnavailable(f"{self._where} ended {operation} without a final status")
        return final

    def _result(
        self,
        final: Dataset | None,
        operation: str,
        watch: RetrieveCancellation,
        *,
        received: int = 0,
        refused: int = 0,
        dest_aet: str | None = None,
    ) -> RetrieveResult:
        if final is None or (watch.cancel_sent and int(final.Status) not in (_SUCCESS, _WARNING)):
            return self._cancelled(final, operation, watch, received, refused)
        code = int(final.Status)
        result = RetrieveResult(
            status=code,
            completed=_count(final, "NumberOfCompletedSuboperations"),
            failed=_count(final, "NumberOfFailedSuboperations"),
            warning=_count(final, "NumberOfWarningSuboperations"),
            received=received,
            refused=refused,
            failed_sop_uids=_uid_list(final.get("FailedSOPInstanceUIDList")),
        )
        logger.info(
            "%s from %s: status 0x%04X, %d completed, %d failed, %d warning, %d received, %d refused",
            operation, self._where, code, result.completed, result.failed, result.warning, received, refused,
        )  # fmt: skip
        if code not in (_SUCCESS, _WARNING):
            what = "was cancelled" if code == _CANCEL else f"failed with status 0x{code:04X}"
            if result.completed:
                hint = "the files already received are kept; retry the study later"
            elif dest_aet is not None:
                # Orthanc and others answer 0xC000, not 0xA801, for an unknown destination.
                hint = (
                    f"check that the study exists on the PACS and that the PACS knows the destination "
                    f"AE title {dest_aet} with this machine's address and the receiver's port"
                )
            else:
                hint = "check that the study exists on the PACS (find it first)"
            if _is_out_of_resources(code):
                raise PacsUnavailable(
                    f"{operation} from {self._where} stopped: the PACS is out of resources (0x{code:04X}) "
                    f"after {result.completed} instances",
                    hint="retry later; the files already received are kept",
                )
            raise PacsError(
                f"{operation} from {self._where} {what} after {result.completed} of "
                f"{result.completed + result.failed + result.warning} instances",
                status=code,
                hint=hint,
            )
        return result

    def _cancelled(
        self, final: Dataset | None, operation: str, watch: RetrieveCancellation, received: int, refused: int
    ) -> RetrieveResult:
        result = RetrieveResult(
            status=_CANCEL if final is None else int(final.Status),
            completed=0 if final is None else _count(final, "NumberOfCompletedSuboperations"),
            failed=0 if final is None else _count(final, "NumberOfFailedSuboperations"),
            warning=0 if final is None else _count(final, "NumberOfWarningSuboperations"),
            received=received,
            refused=refused,
            cancelled=True,
            aborted=watch.aborted,
        )
        how = "association aborted: the PACS ignored C-CANCEL" if watch.aborted else "C-CANCEL honoured"
        logger.info(
            "%s from %s cancelled (%s): %d completed, %d received",
            operation, self._where, how, result.completed, received,
        )  # fmt: skip
        return result


def _disable_nagle(assoc: Association) -> None:
    # Without TCP_NODELAY each small DIMSE message we send (C-STORE responses during C-GET) can
    # wait for the peer's delayed ACK.
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _check_uid(uid: str, what: str = "study UID") -> None:
    if not is_valid_uid(uid):
        raise ConfigError(
            f"the {what} to retrieve is not a DICOM UID",
            hint="a UID is digits separated by dots, at most 64 characters",
        )


def _retrieve_identifier(level: str, study_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.StudyInstanceUID = study_uid
    return ds


def _instances_identifier(study_uid: str, series_uid: str, sop_uids: Sequence[str]) -> Dataset:
    """An IMAGE-level UID-list identifier (C-GET or C-MOVE of the instances a rerun still lacks)."""
    _check_uid(study_uid)
    _check_uid(series_uid, "series UID")
    for uid in sop_uids:
        _check_uid(uid, "SOP instance UID")
    identifier = _retrieve_identifier("IMAGE", study_uid)
    identifier.SeriesInstanceUID = series_uid
    identifier.SOPInstanceUID = list(sop_uids)
    return identifier
