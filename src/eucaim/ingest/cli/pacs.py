"""`eucaim-ingest pacs config|echo|find|retrieve`: the hospital PACS as a source of studies."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from eucaim.errors import ConfigError, EucaimError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, err_console, resolve_workspace_path

if TYPE_CHECKING:
    from rich.progress import TaskID

    from eucaim.ingest.pacs_intake import FindResult, IntakeEvent, RetrieveReport
    from eucaim.ingest.sources.pacs import PacsClient
    from eucaim.ingest.sources.query import StudyMatch
    from eucaim.ingest.workspace import Workspace


# The two choices below mirror eucaim.ingest.sources.querylist.QueryColumn and
# eucaim.ingest.pacs_intake.RetrieveMethod (a unit test keeps them equal): importing those modules
# loads pydicom and pynetdicom, which every other command would then pay for at start-up.
class ListColumn(StrEnum):
    """What a header-less one-column query list holds."""

    PATIENT_ID = "patient_id"
    ACCESSION_NUMBER = "accession_number"
    STUDY_UID = "study_uid"
    MODALITY = "modality"
    STUDY_DATE = "study_date"
    DATE_FROM = "date_from"
    DATE_TO = "date_to"


class Method(StrEnum):
    """How instances come back from the PACS."""

    GET = "get"
    MOVE = "move"


pacs_app = typer.Typer(
    help="Query and retrieve studies from the hospital PACS (C-ECHO, C-FIND, C-GET, C-MOVE).",
    no_args_is_help=True,
)
app.add_typer(pacs_app, name="pacs")

PatientIdOption = Annotated[str | None, typer.Option("--patient-id", help="Exact PatientID")]
AccessionOption = Annotated[str | None, typer.Option("--accession", help="Exact AccessionNumber")]
StudyUidOption = Annotated[str | None, typer.Option("--study-uid", help="StudyInstanceUID")]
DateFromOption = Annotated[
    str | None, typer.Option("--date-from", help="First study date, YYYYMMDD or YYYY-MM-DD")
]
DateToOption = Annotated[str | None, typer.Option("--date-to", help="Last study date (inclusive)")]
ModalityOption = Annotated[str | None, typer.Option("--modality", help="Modality in study, e.g. CT")]
ListOption = Annotated[
    Path | None,
    typer.Option(
        "--list",
        help="CSV or XLSX file, one patient ID, accession number or study UID per row "
        "(header names the column)",
    ),
]
ListColumnOption = Annotated[
    ListColumn | None,
    typer.Option("--list-column", help="What a header-less one-column list holds"),
]


@pacs_app.command("config")
def config_command(
    host: Annotated[str, typer.Option("--host", help="PACS host name or address")],
    port: Annotated[int, typer.Option("--port", help="PACS DICOM port")],
    called_aet: Annotated[str, typer.Option("--called-aet", help="The PACS's AE title")],
    calling_aet: Annotated[
        str | None, typer.Option("--calling-aet", help="Our AE title, registered on the PACS [EUCAIM]")
    ] = None,
    receiver_port: Annotated[
        int | None, typer.Option("--receiver-port", help="Port of our C-STORE receiver, for C-MOVE")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait for the PACS to answer [30]")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Store the PACS's address and AE titles in the workspace's config.toml."""
    from pydantic import ValidationError

    from eucaim.ingest.config import PacsSettings, load_config, save_config
    from eucaim.ingest.pacs_intake import pacs_config, settings_summary

    path = resolve_workspace_path(workspace)
    config = load_config(path)
    previous = config.pacs
    values: dict[str, object] = {"host": host.strip(), "port": port, "called_aet": called_aet.strip()}
    # Options left out keep what was configured before.
    for name, given in (
        ("calling_aet", calling_aet),
        ("receiver_port", receiver_port),
        ("timeout_s", timeout),
    ):
        if given is not None:
            values[name] = given.strip() if isinstance(given, str) else given
        elif previous is not None and getattr(previous, name) is not None:
            values[name] = getattr(previous, name)
    try:
        settings = PacsSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"PACS settings not saved: {problems}") from exc
    config.pacs = settings
    pacs_config(config)  # AE title rules (length, no backslash) are checked here
    save_config(path, config)
    console.print(f"saved: {settings_summary(settings)}")
    receiver = f" and port {settings.receiver_port} (for C-MOVE)" if settings.receiver_port else ""
    console.print(
        f"the PACS administrator must register AE title [bold]{settings.calling_aet}[/] with this "
        f"machine's address{receiver}; then run [bold]eucaim-ingest pacs echo[/]"
    )


def _client(ws: Workspace) -> PacsClient:
    from eucaim.ingest.pacs_intake import pacs_config
    from eucaim.ingest.sources.pacs import PacsClient

    return PacsClient(pacs_config(ws.config))


@pacs_app.command("echo")
def echo_command(workspace: WorkspaceOption = None) -> None:
    """Check that the PACS answers (C-ECHO), with the round-trip time."""
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        client = _client(ws)
        where = f"{client.config.called_aet} at {client.config.host}:{client.config.port}"
        try:
            elapsed = client.echo()
        except EucaimError as exc:
            err_console.print(f"[red]✗[/] C-ECHO to {where} failed: {exc}")
            raise typer.Exit(1) from exc
        console.print(f"[green]✓[/] C-ECHO to {where}: answered in {elapsed * 1000:.0f} ms")


def _find(
    ws: Workspace,
    *,
    patient_id: str | None,
    accession: str | None,
    study_uid: str | None,
    date_from: str | None,
    date_to: str | None,
    modality: str | None,
    list_file: Path | None,
    list_column: ListColumn | None,
) -> tuple[PacsClient, FindResult]:
    from eucaim.ingest.pacs_intake import build_queries, find_studies
    from eucaim.ingest.sources.querylist import QueryColumn

    queries = build_queries(
        patient_id=patient_id,
        accession=accession,
        study_uid=study_uid,
        date_from=date_from,
        date_to=date_to,
        modality=modality,
        list_file=list_file,
        list_column=QueryColumn(list_column.value) if list_column is not None else None,
    )
    client = _client(ws)
    with console.status(f"searching the PACS ({len(queries)} queries)"):
        return client, find_studies(client, queries)


def print_studies(studies: list[StudyMatch]) -> None:
    """A table of the studies found (patient IDs included: the user is on site, at their PACS)."""
    from rich.table import Table

    table = Table(title=f"{len(studies)} studies found")
    for name, justify in (("patient ID", "left"), ("accession", "left"), ("date", "left"),
                          ("modalities", "left"), ("description", "left"), ("instances", "right"),
                          ("study UID", "left")):  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for study in studies:
        table.add_row(
            "/".join(study.patient_ids),
            study.accession_number or "",
            study.study_date.isoformat() if study.study_date else "",
            "/".join(study.modalities),
            study.description or "",
            "" if study.instance_count is None else str(study.instance_count),
            study.study_uid,
        )
    console.print(table)


def print_unmatched(result: FindResult) -> None:
    from eucaim.ingest.pacs_intake import describe_query

    for query in result.unmatched:
        console.print(f"[yellow]no study found for[/] {describe_query(query)}")


@pacs_app.command("find")
def find_command(
    patient_id: PatientIdOption = None,
    accession: AccessionOption = None,
    study_uid: StudyUidOption = None,
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    modality: ModalityOption = None,
    list_file: ListOption = None,
    list_column: ListColumnOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """List the studies on the PACS that match (C-FIND); nothing is retrieved."""
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        _, result = _find(
            ws,
            patient_id=patient_id,
            accession=accession,
            study_uid=study_uid,
            date_from=date_from,
            date_to=date_to,
            modality=modality,
            list_file=list_file,
            list_column=list_column,
        )
    print_studies(result.studies)
    print_unmatched(result)
    if result.studies:
        console.print("retrieve them with [bold]eucaim-ingest pacs retrieve[/] and the same options")


class RetrieveProgress:
    """Renders retrieve events: studies done, instances received and their rate.

    ``handle`` is called from pynetdicom's threads; rich's Progress takes its own lock.
    """

    def __init__(self, total_studies: int, expected_instances: int | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.studies: TaskID = self.progress.add_task("studies", total=total_studies, rate="")
        self.instances: TaskID = self.progress.add_task("instances", total=expected_instances, rate="")
        self._started = time.monotonic()
        self._received = 0
        self.stop_signals: list[int] = []
        self._said_stopping = False
        self._lock = threading.Lock()

    def stopping(self, stop: threading.Event) -> bool:
        """The retrieve's ``should_stop``: says once that the PACS is being told to stop."""
        if not stop.is_set():
            return False
        with self._lock:
            first, self._said_stopping = not self._said_stopping, True
        if first:
            self.progress.console.print(
                "[yellow]stopping:[/] cancelling the retrieve on the PACS (C-CANCEL); what arrived "
                "is kept. Ctrl-C again quits at once."
            )
        return True

    def handle(self, event: IntakeEvent) -> None:
        from eucaim.ingest.pacs_intake import InstanceArrived, StudyFinished

        if isinstance(event, InstanceArrived):
            self._received += 1
            elapsed = max(time.monotonic() - self._started, 1e-6)
            self.progress.update(self.instances, advance=1, rate=f"{self._received / elapsed:.1f} inst/s")
        elif isinstance(event, StudyFinished):
            self.progress.update(self.studies, advance=1)
            # Instances an earlier run fetched were not received now but count as done.
            earlier = event.outcome.present - event.outcome.received
            if earlier > 0:
                self.progress.update(self.instances, advance=earlier)
            if event.outcome.error:
                self.progress.console.print(
                    f"[red]✗[/] study {event.outcome.study_uid}: {event.outcome.error}"
                )


def print_report(report: RetrieveReport) -> None:
    from rich.table import Table

    from eucaim.ingest.pacs_intake import FindResult

    complete = len(report.studies) - len(report.incomplete)
    total = len(report.studies) + len(report.not_started)
    console.print(
        f"retrieved by C-{report.method.value.upper()}: {complete} of {total} studies "
        f"complete, {report.received} instances received, {report.indexed} indexed"
        + (f", [red]{report.problems} not usable DICOM[/]" if report.problems else "")
    )
    if report.incomplete:
        table = Table(title="Incomplete studies (run the same retrieve again to fetch what is missing)")
        table.add_column("study UID", overflow="fold")
        table.add_column("in workspace", justify="right")
        table.add_column("reason", overflow="fold")
        for outcome in report.incomplete:
            expected = "?" if outcome.expected is None else str(outcome.expected)
            table.add_row(outcome.study_uid, f"{outcome.present}/{expected}", outcome.reason)
        console.print(table)
    if report.stopped:
        console.print(
            f"[yellow]stopped:[/] {len(report.cancelled)} study cancelled on the PACS (C-CANCEL), "
            f"{len(report.not_started)} not started; every instance received is kept and indexed. "
            "Run the same command again to fetch the rest (nothing is fetched twice)."
        )
    print_unmatched(FindResult([], report.unmatched))


@contextmanager
def _stop_on_signals(display: RetrieveProgress) -> Iterator[threading.Event]:
    """Ctrl-C (or SIGTERM) asks the retrieve to stop: C-CANCEL on the PACS, then the summary.

    A second Ctrl-C quits at once. Yields the event that the retrieve's ``should_stop`` reads;
    its ``signum`` attribute tells which signal set it.
    """
    stop = threading.Event()
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()

    display.stop_signals = received
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach only the main thread; nothing to install
        return
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@pacs_app.command("retrieve")
def retrieve_command(
    patient_id: PatientIdOption = None,
    accession: AccessionOption = None,
    study_uid: StudyUidOption = None,
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    modality: ModalityOption = None,
    list_file: ListOption = None,
    list_column: ListColumnOption = None,
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            help="get: instances come back on our association (no inbound port); "
            "move: the PACS sends them to our receiver on the configured receiver port",
        ),
    ] = Method.GET,
    workspace: WorkspaceOption = None,
) -> None:
    """Retrieve the matching studies into the workspace and index them (then run `push`)."""
    from eucaim.ingest.pacs_intake import RetrieveMethod, retrieve_studies
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        client, found = _find(
            ws,
            patient_id=patient_id,
            accession=accession,
            study_uid=study_uid,
            date_from=date_from,
            date_to=date_to,
            modality=modality,
            list_file=list_file,
            list_column=list_column,
        )
        if not found.studies:
            print_unmatched(found)
            console.print("[red]nothing to retrieve[/]: no study on the PACS matches")
            raise typer.Exit(1)
        counts = [s.instance_count for s in found.studies]
        expected = sum(c for c in counts if c is not None) if None not in counts else None
        console.print(f"{len(found.studies)} studies to retrieve by C-{method.value.upper()}")
        receiver_port = ws.config.pacs.receiver_port if ws.config.pacs else None
        display = RetrieveProgress(len(found.studies), expected)
        with display.progress, _stop_on_signals(display) as stop:
            report = retrieve_studies(
                client,
                ws.state,
                ws.incoming,
                found.studies,
                method=RetrieveMethod(method.value),
                receiver_port=receiver_port,
                on_event=display.handle,
                should_stop=lambda: display.stopping(stop),
            )
        report.unmatched = found.unmatched
        print_report(report)
    if report.stopped:
        # 128 + the signal's number, as shells report a command a signal ended (Ctrl-C: 130).
        raise typer.Exit(128 + (display.stop_signals[0] if display.stop_signals else signal.SIGINT))
    if not report.is_complete:
        raise typer.Exit(1)
    console.print("next: [bold]eucaim-ingest push[/]")
