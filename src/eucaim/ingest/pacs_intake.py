"""Bring studies from the hospital PACS into a workspace: find, retrieve (C-GET/C-MOVE) or receive, and index.

These are the use cases behind ``eucaim-ingest pacs …`` and ``eucaim-ingest receive`` (and the web
UI later): the CLI parses and renders, this module decides and acts. Every file that arrives is
indexed into the state DB at once, from pynetdicom's threads (``StateDB`` is thread-safe), so a
retrieve that stops halfway leaves an index that matches the disk. Studies are retrieved one after
another; a study that fails is recorded and the others continue. A stop (``should_stop``) cancels
the running C-GET/C-MOVE with a DIMSE C-CANCEL: what arrived stays indexed, the study is reported
``cancelled`` and no other study starts; the same retrieve run again fetches the rest.

Patient IDs and accession numbers are shown to the user (it is the hospital's own PACS, seen on
site) but never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from eucaim.errors import ConfigError, TransientError
from eucaim.ingest.config import PacsSettings, WorkspaceConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.sources.cancel import StopCheck
from eucaim.ingest.sources.pacs import PacsClient, PacsConfig, PacsError
from eucaim.ingest.sources.query import StudyMatch, StudyQuery
from eucaim.ingest.sources.querylist import QueryColumn, parse_date, read_query_list
from eucaim.ingest.sources.receiver import Receiver
from eucaim.ingest.sources.resume import get_missing
from eucaim.ingest.sources.writer import remove_partial_files
from eucaim.ingest.state.db import StateDB

logger = logging.getLogger(__name__)

RECEIVED_FOLDER = "received"  # below the workspace's incoming/: what `receive` stores


class RetrieveMethod(StrEnum):
    """How instances come back from the PACS."""

    GET = "get"  # on our own association: no inbound port or firewall rule needed
    MOVE = "move"  # the PACS opens an association to our receiver


def pacs_config(config: WorkspaceConfig, *, retrieve_timeout: float = 600.0) -> PacsConfig:
    """The DIMSE settings of the workspace's ``[pacs]`` section.

    Raises ConfigError when the workspace has no PACS configured or a value is not usable.
    """
    settings = config.pacs
    if settings is None:
        raise ConfigError(
            "this workspace has no PACS configured",
            hint="run `eucaim-ingest pacs config --host H --port P --called-aet A` first",
        )
    return PacsConfig(
        host=settings.host,
        port=settings.port,
        called_aet=settings.called_aet,
        calling_aet=settings.calling_aet,
        timeout=settings.timeout_s,
        retrieve_timeout=retrieve_timeout,
    )


def build_queries(
    *,
    patient_id: str | None = None,
    accession: str | None = None,
    study_uid: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    modality: str | None = None,
    list_file: Path | None = None,
    list_column: QueryColumn | None = None,
) -> list[StudyQuery]:
    """The queries the user asked for: one from the options, or one per row of a CSV/XLSX list.

    ``modality`` and the dates also narrow every row of a list. Raises ConfigError when nothing
    identifies studies, a date is malformed, or the list is unusable.
    """
    try:
        start = parse_date(date_from) if date_from else None
        end = parse_date(date_to) if date_to else None
    except ValueError as exc:
        raise ConfigError(f"--date-from/--date-to: {exc}") from exc
    wanted_modality = modality.strip().upper() if modality else None
    if list_file is None:
        return [
            StudyQuery(
                patient_id=patient_id,
                accession_number=accession,
                study_uid=study_uid,
                date_from=start,
                date_to=end,
                modality=wanted_modality,
            )
        ]
    if patient_id or accession or study_uid:
        raise ConfigError(
            "give either --list or --patient-id/--accession/--study-uid, not both",
            hint="put every patient, accession or study in the list",
        )
    queries = read_query_list(list_file, default_column=list_column)
    return [_narrow(query, start, end, wanted_modality) for query in queries]


def _narrow(query: StudyQuery, start: date | None, end: date | None, modality: str | None) -> StudyQuery:
    return StudyQuery(
        patient_id=query.patient_id,
        accession_number=query.accession_number,
        study_uid=query.study_uid,
        date_from=query.date_from or start,
        date_to=query.date_to or end,
        modality=query.modality or modality,
    )


@dataclass(frozen=True)
class FindResult:
    """The studies found for a list of queries, merged, and the queries that found nothing."""

    studies: list[StudyMatch]
    unmatched: list[StudyQuery]


def find_studies(client: PacsClient, queries: Sequence[StudyQuery]) -> FindResult:
    """Run every query (C-FIND) and merge the matches by StudyInstanceUID, in reply order."""
    merged: dict[str, StudyMatch] = {}
    unmatched: list[StudyQuery] = []
    for query in queries:
        matches = client.find_studies(query)
        if not matches:
            unmatched.append(query)
        for match in matches:
            merged.setdefault(match.study_uid, match)
    return FindResult(list(merged.values()), unmatched)


def describe_query(query: StudyQuery) -> str:
    """The query in words for the user (it may hold a patient ID: show it, never log it)."""
    parts = []
    if query.patient_id:
        parts.append(f"patient {query.patient_id}")
    if query.accession_number:
        parts.append(f"accession {query.accession_number}")
    if query.study_uid:
        parts.append(f"study {query.study_uid}")
    if query.date_from or query.date_to:
        parts.append(f"dates {query.date_from or '…'} to {query.date_to or '…'}")
    if query.modality:
        parts.append(f"modality {query.modality}")
    return ", ".join(parts)


# -- indexing what arrives ------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceArrived:
    """One instance was written and indexed (``usable`` False: kept but not DICOM we can send)."""

    usable: bool


@dataclass(frozen=True)
class StudyStarted:
    """A study's retrieve begins; ``expected`` is the PACS's instance count when it gave one."""

    index: int
    total: int
    study_uid: str
    expected: int | None


@dataclass(frozen=True)
class StudyFinished:
    """A study's retrieve ended, well or not."""

    outcome: StudyOutcome


IntakeEvent = InstanceArrived | StudyStarted | StudyFinished
OnEvent = Callable[[IntakeEvent], None]


class WorkspaceIndexer:
    """The ``on_stored`` callback of C-GET and the receiver: index each arriving file at once.

    Called from pynetdicom's threads, one per association; the counters take a lock and the
    state DB has its own.
    """

    def __init__(self, state: StateDB, on_event: OnEvent | None = None) -> None:
        self._state = state
        self._on_event = on_event
        self._lock = threading.Lock()
        self.indexed = 0
        self.duplicates = 0
        self.problems = 0

    def __call__(self, path: Path, sop_uid: str) -> None:
        summary = scan_paths(self._state, [path])
        usable = not summary.problems
        with self._lock:
            self.indexed += summary.indexed
            self.duplicates += summary.duplicates
            self.problems += len(summary.problems)
        if self._on_event is not None:
            self._on_event(InstanceArrived(usable=usable))

    def sweep(self, folder: Path) -> None:
        """Index files in ``folder`` that were written but not indexed (a crash in between)."""
        if not folder.is_dir():
            return
        summary = scan_paths(self._state, [folder])
        with self._lock:
            self.indexed += summary.new + summary.updated
            self.problems += len(summary.problems)


# -- retrieving -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyOutcome:
    """How one study's retrieve ended.

    ``received`` counts instances written by this run; ``present`` those in the workspace folder
    afterwards (a resumed study counts what earlier runs fetched). ``error`` says what went wrong.
    ``cancelled``: the user stopped it partway (neither failed nor complete); ``aborted``: the
    PACS ignored the C-CANCEL, so the association was aborted.
    """

    study_uid: str
    folder: Path
    expected: int | None
    received: int
    present: int
    error: str | None = None
    missing: tuple[str, ...] = ()
    cancelled: bool = False
    aborted: bool = False

    @property
    def is_complete(self) -> bool:
        """Whether every instance of the study is in the workspace."""
        return self.error is None and not self.missing and not self.cancelled

    @property
    def reason(self) -> str:
        """Why the study is not complete, in words for the user ("" when it is)."""
        if self.cancelled:
            of = "" if self.expected is None else f" of {self.expected}"
            why = f"cancelled: {self.present}{of} instances are in the workspace"
            if self.aborted:
                why += " (the PACS ignored C-CANCEL: the connection was aborted)"
            return why
        if self.error:
            return self.error
        return f"{len(self.missing)} instances missing" if self.missing else ""


@dataclass
class RetrieveReport:
    """What a retrieve run did, per study, plus the queries that matched nothing."""

    method: RetrieveMethod
    studies: list[StudyOutcome] = field(default_factory=list)
    unmatched: list[StudyQuery] = field(default_factory=list)
    indexed: int = 0
    problems: int = 0
    stopped: bool = False  # the user stopped the run
    not_started: list[str] = field(default_factory=list)  # study UIDs a stop left untouched

    @property
    def incomplete(self) -> list[StudyOutcome]:
        """The studies that are not wholly in the workspace."""
        return [outcome for outcome in self.studies if not outcome.is_complete]

    @property
    def cancelled(self) -> list[StudyOutcome]:
        """The studies a stop cut short."""
        return [outcome for outcome in self.studies if outcome.cancelled]

    @property
    def is_complete(self) -> bool:
        """Whether every study was retrieved whole and every query found something."""
        return not self.incomplete and not self.unmatched and not self.not_started

    @property
    def received(self) -> int:
        """Instances written by this run, over all studies."""
        return sum(outcome.received for outcome in self.studies)


def retrieve_studies(
    client: PacsClient,
    state: StateDB,
    incoming: Path,
    studies: Sequence[StudyMatch],
    *,
    method: RetrieveMethod = RetrieveMethod.GET,
    receiver_port: int | None = None,
    receiver_bind: str = "0.0.0.0",
    receiver: Receiver | None = None,
    on_event: OnEvent | None = None,
    should_stop: StopCheck | None = None,
) -> RetrieveReport:
    """Retrieve ``studies`` one after another into ``incoming/<StudyInstanceUID>/``, indexing each file.

    C-GET resumes: files already in a study's folder are not fetched again. C-MOVE runs our
    receiver on ``receiver_port`` under the calling AE title, which the PACS must know as a
    destination. ``receiver``, when given, is one already listening (the web UI's): C-MOVE sends
    to it instead (its AE title is the move destination) and it keeps listening afterwards.
    A study the PACS fails is recorded in the report; the run continues.
    ``should_stop()`` is asked before each study and between the PACS's responses (from a watcher
    thread too); once true, the running C-GET/C-MOVE gets a C-CANCEL (the association is aborted
    if the PACS ignores it for ``cancel_grace`` seconds), that study is reported ``cancelled``,
    the studies after it land in ``not_started``, and the report says ``stopped``.
    Raises ConfigError when C-MOVE has no receiver port or the port cannot be bound.
    """
    if method is RetrieveMethod.MOVE and receiver_port is None and receiver is None:
        raise ConfigError(
            "C-MOVE needs our receiver's port",
            hint="set it with `eucaim-ingest pacs config … --receiver-port N` (the port registered "
            "on the PACS for our AE title), or retrieve with --method get",
        )
    indexer = WorkspaceIndexer(state, on_event)
    report = RetrieveReport(method=method)
    with ExitStack() as stack:
        if method is not RetrieveMethod.MOVE:
            receiver = None
        elif receiver is not None:
            stack.enter_context(_lend(receiver, indexer))
        else:
            assert receiver_port is not None
            # One receiver for the whole run (restarting it per study costs its shutdown poll);
            # its destination folder follows the study being moved.
            aet = client.config.calling_aet
            receiver = Receiver(aet, receiver_port, incoming, indexer, bind_address=receiver_bind)
            stack.enter_context(receiver)
        for index, study in enumerate(studies, start=1):
            if should_stop is not None and should_stop():
                report.stopped = True
                report.not_started = [s.study_uid for s in studies[index - 1 :]]
                break
            if on_event is not None:
                on_event(StudyStarted(index, len(studies), study.study_uid, study.instance_count))
            outcome = _retrieve_one(client, study, incoming / study.study_uid, indexer, receiver, should_stop)
            report.studies.append(outcome)
            logger.info(
                "retrieve of study %d/%d: %s, %d received",
                index,
                len(studies),
                "complete" if outcome.is_complete else "cancelled" if outcome.cancelled else "incomplete",
                outcome.received,
            )
            if on_event is not None:
                on_event(StudyFinished(outcome))
            if outcome.cancelled:
                report.stopped = True
                report.not_started = [s.study_uid for s in studies[index:]]
                break
    report.indexed, report.problems = indexer.indexed, indexer.problems
    return report


@contextmanager
def _lend(receiver: Receiver, indexer: WorkspaceIndexer) -> Iterator[None]:
    """Let a retrieve use a running receiver: what it moves is indexed and counted by the retrieve.

    Its folder and callback are put back afterwards, so it goes on receiving as before.
    """
    folder, on_stored = receiver.writer.dest_dir, receiver.writer.on_stored
    receiver.writer.on_stored = indexer
    try:
        yield
    finally:
        receiver.writer.dest_dir, receiver.writer.on_stored = folder, on_stored


def _retrieve_one(
    client: PacsClient,
    study: StudyMatch,
    folder: Path,
    indexer: WorkspaceIndexer,
    receiver: Receiver | None,
    should_stop: StopCheck | None,
) -> StudyOutcome:
    try:
        if receiver is None:
            outcome = _get_study(client, study, folder, indexer, should_stop)
        else:
            outcome = _move_study(client, study, folder, receiver, should_stop)
    except (PacsError, TransientError) as exc:
        outcome = StudyOutcome(
            study.study_uid, folder, study.instance_count, 0, _count_files(folder), error=str(exc)
        )
    # Files written just before a crash, or by an earlier interrupted run, get indexed too.
    indexer.sweep(folder)
    return outcome


def _get_study(
    client: PacsClient,
    study: StudyMatch,
    folder: Path,
    indexer: WorkspaceIndexer,
    should_stop: StopCheck | None,
) -> StudyOutcome:
    result = get_missing(client, study.study_uid, folder, indexer, should_stop=should_stop)
    error = None
    if result.expected == 0:
        error = "the PACS lists no instances for this study (deleted since the search?)"
    return StudyOutcome(
        study.study_uid,
        folder,
        result.expected,
        result.received,
        result.expected - len(result.missing),
        error=error,
        missing=result.missing,
        cancelled=result.cancelled,
        aborted=result.aborted,
    )


def _move_study(
    client: PacsClient, study: StudyMatch, folder: Path, receiver: Receiver, should_stop: StopCheck | None
) -> StudyOutcome:
    present = _count_files(folder)
    if study.instance_count and present >= study.instance_count:
        # A study already whole from an earlier run is not moved again (rewriting its files would
        # send them through de-identification again).
        return StudyOutcome(study.study_uid, folder, study.instance_count, 0, present)
    folder.mkdir(parents=True, exist_ok=True)
    remove_partial_files(folder)
    # The PACS finishes every C-STORE sub-operation before its final C-MOVE response, so nothing
    # of this study can arrive after the destination moves on to the next one.
    receiver.writer.dest_dir = folder
    before = receiver.stored
    if present:
        # Part of the study came earlier (a stop, a broken run): move only what is missing.
        resumed = get_missing(
            client, study.study_uid, folder, should_stop=should_stop, move_to=receiver.ae_title
        )
        return StudyOutcome(
            study.study_uid, folder, resumed.expected, receiver.stored - before,
            resumed.expected - len(resumed.missing), missing=resumed.missing,
            cancelled=resumed.cancelled, aborted=resumed.aborted,
        )  # fmt: skip
    result = client.move_study(study.study_uid, receiver.ae_title, should_stop=should_stop)
    received = receiver.stored - before
    error = None
    if result.cancelled:
        expected = study.instance_count or None
        return StudyOutcome(
            study.study_uid, folder, expected, received, _count_files(folder), cancelled=True,
            aborted=result.aborted,
        )  # fmt: skip
    if not result.is_complete:
        error = f"the PACS reported {result.failed} failed and {result.warning} warning sub-operations"
    elif result.completed == 0 and received == 0:
        error = "the PACS sent no instances for this study (deleted since the search?)"
    expected = result.completed + result.failed + result.warning or study.instance_count
    return StudyOutcome(
        study.study_uid, folder, expected, received, _count_files(folder), error, result.failed_sop_uids
    )


def _count_files(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.dcm")) if folder.is_dir() else 0


# -- receiving --------------------------------------------------------------------------------------


class WorkspaceReceiver:
    """The C-STORE receiver of ``eucaim-ingest receive``: what the PACS sends lands in the workspace.

    Files go to ``incoming/received/`` and are indexed as they arrive. Use as a context manager
    or call :meth:`start` and :meth:`stop`; counters can be read at any time.
    """

    def __init__(
        self,
        state: StateDB,
        incoming: Path,
        *,
        ae_title: str,
        port: int,
        bind_address: str = "0.0.0.0",
        allowed_calling_aets: Sequence[str] = (),
        on_event: OnEvent | None = None,
    ) -> None:
        self.folder = incoming / RECEIVED_FOLDER
        self.indexer = WorkspaceIndexer(state, on_event)
        self.receiver = Receiver(
            ae_title,
            port,
            self.folder,
            self.indexer,
            bind_address=bind_address,
            allowed_calling_aets=allowed_calling_aets,
        )

    @property
    def stored(self) -> int:
        """Instances written since start."""
        return self.receiver.stored

    @property
    def refused(self) -> int:
        """Instances refused or not written."""
        return self.receiver.failed

    def start(self) -> None:
        """Listen; raises ConfigError when the port cannot be bound."""
        self.receiver.start()

    def stop(self) -> None:
        """Stop listening, then index anything written but not indexed."""
        self.receiver.stop()
        self.indexer.sweep(self.folder)

    def __enter__(self) -> WorkspaceReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def settings_summary(settings: PacsSettings) -> str:
    """The PACS settings in one line for the user."""
    receiver = f", receiver port {settings.receiver_port}" if settings.receiver_port else ""
    return (
        f"PACS {settings.called_aet} at {settings.host}:{settings.port}, "
        f"our AE title {settings.calling_aet}{receiver}"
    )
