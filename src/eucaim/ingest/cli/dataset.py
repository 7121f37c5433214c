"""``eucaim-ingest dataset``: create a dataset on the node from what was uploaded, edit, release, follow it.

All commands talk to the workspace's node with its token (TLS 1.3 as for pushes). Release is
refused until the required metadata is set; the refusal names what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path

dataset_app = typer.Typer(help="Create, describe and release datasets on the node.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")

IdArgument = Annotated[
    str, typer.Argument(help="The dataset id (from `dataset create` or `dataset status`).")
]


@contextmanager
def _client(workspace: Any) -> Iterator[tuple[Any, str]]:
    from eucaim.ingest.dataset_client import DatasetClient
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        node = ws.config.node
        if node.kind != "eucaim":
            raise ConfigError(
                f"datasets are made on a EUCAIM node; this workspace sends to {node.kind}",
                hint="on XNAT, set the project's accessibility instead",
            )
        with DatasetClient(
            node.url, token_provider=lambda: ws.token, ca_bundle=ws.ca_bundle, timeout_s=node.timeout_s
        ) as client:
            yield client, node.biobank


def _summary(dataset: dict[str, Any]) -> None:
    agg = dataset.get("aggregates") or {}
    console.print(f"dataset {dataset['id']}  [bold]{dataset['name']}[/]  state: [bold]{dataset['state']}[/]")
    if agg:
        console.print(
            f"  {agg['subjects']} subjects, {agg['studies']} studies, {agg['series']} series, "
            f"{agg['instances']} instances ({agg['sizeBytes'] / 1e6:.1f} MB)"
        )
    for key, label in (("rejectionReason", "rejected"), ("invalidationReason", "invalidated")):
        if dataset.get(key):
            console.print(f"  {label}: {dataset[key]}", markup=False)
    missing = dataset.get("missingForRelease") or []
    if dataset["state"] == "draft" and missing:
        console.print(f"  to release, set: {', '.join(missing)}", markup=False)
    console.print(
        f"  you may: {', '.join(dataset.get('allowedActions') or []) or 'nothing now'}", markup=False
    )
    console.print(
        f"  you may edit: {', '.join(dataset.get('editableProperties') or []) or 'nothing'}", markup=False
    )


def _selection(subjects: list[str], studies: list[str], series: list[str]) -> dict[str, Any]:
    # Shared with the web UI's dataset step (one implementation of what goes in).
    from eucaim.ingest.dataset_selection import selection

    return selection(subjects, studies, series)


@dataset_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Dataset name (3-256 characters).")],
    description: Annotated[str, typer.Option("--description", help="What the dataset holds.")] = "",
    subjects: Annotated[
        list[str],
        typer.Option("--subjects", help="Subject pseudonyms to include (repeatable or comma-separated)."),
    ] = [],  # noqa: B006  (typer reads the default; it is never mutated)
    studies: Annotated[
        list[str], typer.Option("--studies", help="De-identified StudyInstanceUIDs to include.")
    ] = [],  # noqa: B006
    series: Annotated[
        list[str], typer.Option("--series", help="De-identified SeriesInstanceUIDs to include.")
    ] = [],  # noqa: B006
    previous: Annotated[
        str | None, typer.Option("--previous", help="Id of the version this one follows.")
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the node accepted the job.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a dataset from the biobank's data (all of it, or the chosen subjects/studies/series)."""
    metadata = {"previousId": previous} if previous else {}
    with _client(workspace) as (client, biobank):
        created = client.create(
            name=name,
            description=description,
            biobank=biobank,
            selection=_selection(subjects, studies, series),
            metadata=metadata,
        )
        dataset_id = created["id"]
        console.print(f"dataset {dataset_id} accepted; the node is building it", markup=False)
        if not no_wait:
            _follow(client, dataset_id)


def _follow(client: Any, dataset_id: str) -> None:
    """Show the creation job's progress until it ends; raise with its message if it failed."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[message]}"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("creating", total=1.0, message="queued")

        def show(job: dict[str, Any]) -> None:
            progress.update(task, completed=job["progress"], message=job["message"])

        job = client.wait_for_job(dataset_id, on_progress=show)
    if job["status"] == "error":
        raise ConfigError(
            f"the node could not create dataset {dataset_id}: {job['message']}",
            hint=f"fix the cause, then run `eucaim-ingest dataset restart {dataset_id}`",
        )
    _summary(client.get(dataset_id))


@dataset_app.command("restart")
def restart(dataset_id: IdArgument, workspace: WorkspaceOption = None) -> None:
    """Run a dataset's failed creation job again (after uploading what it missed) and follow it."""
    with _client(workspace) as (client, _biobank):
        client.restart(dataset_id)
        console.print(f"dataset {dataset_id}: creation restarted", markup=False)
        _follow(client, dataset_id)


@dataset_app.command("show")
def show(
    dataset_id: IdArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print the node's full record as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show a dataset: state, counts, what you may do and edit, what release still needs."""
    with _client(workspace) as (client, _biobank):
        dataset = client.get(dataset_id)
    if as_json:
        console.print(json.dumps(dataset, indent=2, ensure_ascii=False), markup=False, soft_wrap=True)
        return
    _summary(dataset)
    for key in ("description", "version", "purpose", "type", "collectionMethod", "provenance", "license"):
        if dataset.get(key):
            console.print(f"  {key}: {json.dumps(dataset[key], ensure_ascii=False)}", markup=False)
    for key in ("contact", "keywords", "cancerCondition", "previousId"):
        if dataset.get(key):
            console.print(f"  {key}: {json.dumps(dataset[key], ensure_ascii=False)}", markup=False)


@dataset_app.command("set")
def set_properties(
    dataset_id: IdArgument,
    assignments: Annotated[
        list[str],
        typer.Argument(
            help="key=value ...; lists comma-separated (keywords=lung,CT); license.url=..., contact.email=..."
        ),
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Set metadata properties of a dataset (only those the node lists as editable for you now)."""
    from eucaim.ingest.dataset_client import parse_assignments

    with _client(workspace) as (client, _biobank):
        current = client.get(dataset_id)
        dataset = client.update(dataset_id, parse_assignments(assignments, current))
    _summary(dataset)


@dataset_app.command("release")
def release(
    dataset_id: Annotated[
        str | None, typer.Argument(help="The dataset id (not used on XNAT: the project is released)")
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="XNAT: make the project public instead of protected")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Release a draft to the platform's validator (refused, with what is missing, until complete).

    On an XNAT workspace (Health-RI node) releasing means checking that every verified instance is
    in the project, then setting the project to protected (or public), which makes its metadata
    visible.
    """
    from eucaim.ingest.cli.app import resolve_workspace_path
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        if ws.config.node.kind == "xnat":
            from eucaim.ingest.targets import build_xnat_target
            from eucaim.ingest.upload.xnat_publish import release_xnat_project

            target = build_xnat_target(ws)
            try:
                outcome = release_xnat_project(
                    ws.state, target, accessibility="public" if public else "protected"
                )
            finally:
                target.close()
            console.print(outcome.describe(), markup=False)
            return
    if dataset_id is None:
        raise typer.BadParameter("give the dataset id (see `eucaim-ingest dataset status`)")
    with _client(workspace) as (client, _biobank):
        dataset = client.act(dataset_id, "release")
    console.print(f"dataset {dataset_id} released; the platform validator will review it", markup=False)
    _summary(dataset)


@dataset_app.command("status")
def status(
    dataset_id: Annotated[str | None, typer.Argument(help="One dataset; all of them when left out.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show where your datasets stand (state, creation job, counts)."""
    with _client(workspace) as (client, _biobank):
        if dataset_id is not None:
            _summary(client.get(dataset_id))
            job = client.job(dataset_id)
            console.print(
                f"  creation job: {job['status']} ({job['progress']:.0%}) {job['message']}", markup=False
            )
            return
        datasets = client.list()
    # One line per dataset rather than a table: on a narrow terminal a table cuts the id, which is
    # what the user copies into the next command.
    console.print(f"{'id':<36}  {'state':<11} {'job':<9} {'subjects':>8} {'studies':>8}  name", markup=False)
    for d in datasets:
        agg = d.get("aggregates") or {}
        job = (d.get("job") or {}).get("status", "")
        console.print(
            f"{d['id']:<36}  {d['state']:<11} {job:<9} {agg.get('subjects', '')!s:>8} "
            f"{agg.get('studies', '')!s:>8}  {d['name']}",
            markup=False,
            soft_wrap=True,
        )
