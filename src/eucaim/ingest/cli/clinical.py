"""`eucaim-ingest clinical`: write templates, check clinical files, and push them to the node."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eucaim.ingest.cli.app import WorkspaceOption, app, console, err_console, resolve_workspace_path

if TYPE_CHECKING:
    from eucaim.clinical.linkage import LinkageReport, WorkspaceImaging
    from eucaim.clinical.validation import ValidationResult
    from eucaim.ingest.clinical_push import ClinicalPushSummary

clinical_app = typer.Typer(
    help="Check clinical data (CSV, Excel, JSON) against the EUCAIM schema and prepare it for upload.",
    no_args_is_help=True,
)
app.add_typer(clinical_app, name="clinical")

# Reads a workspace folder and returns its site secret and imaging index (original PatientID ->
# studies), or None when the folder holds no workspace. Registered by whoever owns the workspace,
# so this module stays free of the state database.
ImagingProvider = Callable[[Path], "WorkspaceImaging | None"]
_imaging_provider: ImagingProvider | None = None


def register_imaging_provider(provider: ImagingProvider | None) -> None:
    """Replace where `clinical validate` finds a workspace's imaging (tests); ``None`` restores
    the default, the workspace's own state database."""
    global _imaging_provider
    _imaging_provider = provider


SchemaOption = Annotated[
    str | None,
    typer.Option(
        "--schema",
        help="Schema name (eucaim-minimum, or name-version) or a schema .json file "
        "(default: the mapping's 'schema' key, else eucaim-minimum).",
        show_default=False,
    ),
]
ExtensionOption = Annotated[
    list[Path] | None,
    typer.Option("--extension", help="A biobank's schema extension .json (repeatable).", show_default=False),
]


@clinical_app.command("template")
def template(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write into.")] = Path("."),
    schema: SchemaOption = None,
    extension: ExtensionOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write an empty CSV template, an example CSV and a column-mapping skeleton (TOML)."""
    from eucaim.clinical.schema import DEFAULT_SCHEMA, load_schema
    from eucaim.clinical.template import write_templates

    loaded = load_schema(schema or DEFAULT_SCHEMA, extensions=extension or [])
    for path in write_templates(out_dir, loaded, overwrite=force):
        console.print(f"wrote {path}")
    console.print(
        f"Fill in the template (schema {loaded.name} {loaded.version}), or keep your own columns and "
        "edit the mapping; then run `eucaim-ingest clinical validate FILE --mapping clinical-mapping.toml`."
    )


def _workspace_imaging(workspace: Path | None) -> WorkspaceImaging | None:
    path = resolve_workspace_path(workspace)
    if not path.is_dir():
        return None
    if _imaging_provider is None:
        from eucaim.ingest.clinical_link import workspace_imaging

        return workspace_imaging(path)
    return _imaging_provider(path)


def _read_checked(
    file: Path,
    mapping: Path | None,
    schema: str | None,
    extension: list[Path] | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> ValidationResult:
    """Read and validate FILE with the command's reading options, and say how it was read."""
    from eucaim.clinical.intake import check_file

    result = check_file(
        file,
        mapping_path=mapping,
        schema=schema,
        extensions=extension or [],
        encoding=encoding,
        delimiter="\t" if delimiter == "tab" else delimiter,
        sheet=sheet,
        today=date.today(),
    )
    console.print(f"read {file.name} as {result.source.describe()}")
    return result


def _linkage(result: ValidationResult, workspace: Path | None) -> LinkageReport | None:
    from eucaim.clinical.linkage import link

    imaging = _workspace_imaging(workspace)
    if imaging is None:
        return None
    return link(
        result.patient_rows(),
        imaging.studies,
        secret=imaging.secret,
        pseudonym_format=imaging.pseudonym_format,
        baselines=result.baseline_dates(),
    )


@clinical_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="Clinical file: .csv, .tsv, .xlsx, .json or .jsonl.")],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Column mapping (TOML).", show_default=False)
    ] = None,
    schema: SchemaOption = None,
    extension: ExtensionOption = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="Where to write the CSV and HTML report (default: WORKSPACE/reports if the workspace "
            "exists, else the current folder).",
            show_default=False,
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="CSV text encoding, e.g. cp1252 (default: detected).")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="CSV delimiter; 'tab' for tabs (default: detected).")
    ] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="Excel sheet (default: the first).")] = None,
    workspace: WorkspaceOption = None,
    show_ids: Annotated[
        bool,
        typer.Option("--show-ids", help="Show original patient IDs and study UIDs in the linkage table."),
    ] = False,
    allow_clinical_only: Annotated[
        bool,
        typer.Option(
            "--allow-clinical-only", help="Do not fail on clinical rows whose patient has no images."
        ),
    ] = False,
) -> None:
    """Check FILE against the schema; exit 1 if anything must be fixed. Nothing is uploaded."""
    from eucaim.clinical.linkage import LinkStatus
    from eucaim.clinical.report import issues_table, linkage_table, write_reports

    result = _read_checked(file, mapping, schema, extension, encoding, delimiter, sheet)
    if result.issues:
        console.print(issues_table(result))
    linkage = _linkage(result, workspace)
    ws_path = resolve_workspace_path(workspace)
    folder = report_dir or (ws_path / "reports" if ws_path.is_dir() else Path("."))
    csv_path, html_path = write_reports(result, folder, linkage=linkage)
    failed = not result.is_valid
    if linkage is not None:
        console.print(linkage_table(linkage, show_ids=show_ids))
        orphans = linkage.with_status(LinkStatus.CLINICAL_ONLY)
        failed = failed or bool(linkage.collisions) or (bool(orphans) and not allow_clinical_only)
    style = "red" if not result.is_valid else "green"
    console.print(f"[{style}]{result.summary()}[/]")
    if linkage is not None:
        console.print(linkage.summary())
    console.print(f"report: {csv_path} and {html_path}")
    if failed:
        err_console.print("[red]clinical data is not ready for upload[/]")
        raise typer.Exit(code=1)


@clinical_app.command("preview")
def preview(
    file: Annotated[Path, typer.Argument(help="Clinical file: .csv, .tsv, .xlsx, .json or .jsonl.")],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Column mapping (TOML).", show_default=False)
    ] = None,
    schema: SchemaOption = None,
    extension: ExtensionOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the records here (JSON Lines) instead of stdout.", show_default=False
        ),
    ] = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option("--baseline", help="Give dates as days from this date field (repeat for fallbacks)."),
    ] = None,
    scrub_free_text: Annotated[
        bool, typer.Option("--scrub-free-text", help="Scrub free-text fields instead of dropping them.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show exactly what would leave the hospital for FILE: one pseudonymised JSON record per line."""
    import json

    from eucaim.clinical.intake import check_file
    from eucaim.clinical.pseudonymise import FreeText
    from eucaim.clinical.upload import records_to_upload
    from eucaim.errors import ConfigError

    imaging = _workspace_imaging(workspace)
    if imaging is None:
        raise ConfigError(
            f"no workspace at {resolve_workspace_path(workspace)}: pseudonyms need its site secret",
            hint="pass --workspace, or create one with `eucaim-ingest init`",
        )
    result = check_file(
        file, mapping_path=mapping, schema=schema, extensions=extension or [], today=date.today()
    )
    items = records_to_upload(
        result,
        imaging.secret,
        free_text=FreeText.SCRUB if scrub_free_text else FreeText.DROP,
        baseline=baseline or (),
        pseudonym_format=imaging.pseudonym_format,
    )
    lines = [json.dumps(item.record.as_json(), ensure_ascii=False, sort_keys=True) for item in items]
    if out is None:
        for line in lines:
            typer.echo(line)  # machine-readable: no rich markup, emoji codes or wrapping
        return
    out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    console.print(f"wrote {len(lines)} record(s) to {out}")


@clinical_app.command("push")
def push(
    file: Annotated[Path, typer.Argument(help="Clinical file: .csv, .tsv, .xlsx, .json or .jsonl.")],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Column mapping (TOML).", show_default=False)
    ] = None,
    schema: SchemaOption = None,
    extension: ExtensionOption = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option("--baseline", help="Give dates as days from this date field (repeat for fallbacks)."),
    ] = None,
    scrub_free_text: Annotated[
        bool, typer.Option("--scrub-free-text", help="Scrub free-text fields instead of dropping them.")
    ] = False,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="CSV text encoding, e.g. cp1252 (default: detected).")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="CSV delimiter; 'tab' for tabs (default: detected).")
    ] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="Excel sheet (default: the first).")] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Records per upload request.", min=1, max=1000)
    ] = 200,
    workspace: WorkspaceOption = None,
) -> None:
    """Validate FILE, pseudonymise it like the images and send new or changed records to the node.

    Nothing is sent when validation fails. Re-pushing an unchanged file sends nothing. Exits 1
    when the file is invalid or the node rejected any record; the report is in WORKSPACE/reports.
    """
    from eucaim.clinical.pseudonymise import FreeText
    from eucaim.clinical.report import issues_table, write_reports
    from eucaim.ingest.clinical_push import push_clinical
    from eucaim.ingest.workspace import Workspace

    ws_path = resolve_workspace_path(workspace)
    with Workspace.open(ws_path) as ws:
        result = _read_checked(file, mapping, schema, extension, encoding, delimiter, sheet)
        if not result.is_valid:
            console.print(issues_table(result))
            csv_path, html_path = write_reports(result, ws.reports)
            console.print(f"[red]{result.summary()}[/]")
            console.print(f"report: {csv_path} and {html_path}")
            err_console.print("[red]nothing was sent: fix the file and push again[/]")
            raise typer.Exit(code=1)
        linkage = _linkage(result, ws_path)
        if linkage is not None:
            console.print(linkage.summary())
        with _UploadProgress() as progress:
            summary = push_clinical(
                ws,
                result,
                baseline=baseline or (),
                free_text=FreeText.SCRUB if scrub_free_text else FreeText.DROP,
                chunk_size=chunk_size,
                on_progress=progress.update,
            )
    _print_push_summary(summary)
    if not summary.ok:
        raise typer.Exit(code=1)


class _UploadProgress:
    """A progress bar over records sent, fed by the use case's ``on_progress(done, total)``."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]sending records"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._progress.add_task("send", total=None)

    def __enter__(self) -> _UploadProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)


def _print_push_summary(summary: ClinicalPushSummary) -> None:
    from rich.table import Table
    from rich.text import Text

    counts = summary.counts
    if summary.nothing_sent:
        console.print(
            f"nothing to send: all {len(summary.outcomes)} record(s) are already on the node, unchanged"
        )
    table = Table(title=f"Clinical push to {summary.target} {summary.biobank}")
    for name in ("created", "updated", "unchanged", "rejected"):
        table.add_column(name, justify="right")
    table.add_row(*(str(counts[name]) for name in ("created", "updated", "unchanged", "rejected")))
    console.print(table)
    console.print(f"{summary.sent} of {len(summary.outcomes)} record(s) sent")
    if summary.rejected:
        rejected = Table(title="Rejected by the node", show_lines=True)
        for name in ("row", "subject", "reasons"):
            rejected.add_column(name, overflow="fold")
        for outcome in summary.rejected:
            rejected.add_row(str(outcome.row), outcome.subject, Text("\n".join(outcome.problems)))
        console.print(rejected)
    console.print(f"report: {summary.report_json} and {summary.report_csv}")
    if summary.rejected:
        err_console.print(f"[red]{len(summary.rejected)} record(s) were rejected; see the reasons above[/]")
