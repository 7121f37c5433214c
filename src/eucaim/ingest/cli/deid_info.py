"""`eucaim-ingest profiles`, `profile show`, `check` and `vault export`: see what de-identification
will do before anything leaves, and re-identify only on purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, err_console, resolve_workspace_path

profile_app = typer.Typer(help="Inspect de-identification profiles.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")
vault_app = typer.Typer(help="The encrypted pseudonym vault (stays on site).", no_args_is_help=True)
app.add_typer(vault_app, name="vault")


@app.command("profiles")
def profiles() -> None:
    """List the built-in de-identification profiles."""
    from eucaim.deid.profile import DEFAULT_PROFILE, list_profiles

    table = Table(title="De-identification profiles")
    for column in ("name", "version", "options", "description"):
        table.add_column(column)
    for p in list_profiles():
        name = f"{p.name} (default)" if p.name == DEFAULT_PROFILE else p.name
        table.add_row(name, p.version, ", ".join(p.options) or "-", p.description)
    console.print(table)


@profile_app.command("show")
def profile_show(name: Annotated[str, typer.Argument(help="Profile name or .toml file")]) -> None:
    """Print the effective rules of a profile: every named element, its action and its source."""
    from eucaim.deid.profile import load_profile
    from eucaim.deid.rules import RuleSet

    profile = load_profile(name)
    rules = RuleSet(profile)
    console.print(
        f"[bold]{profile.name}[/] {profile.version} (sha256 {profile.sha256[:12]}…), "
        f"options: {', '.join(profile.options) or 'none'}"
    )
    table = Table(show_lines=False)
    for column in ("tag", "keyword", "action", "rule from"):
        table.add_column(column, no_wrap=column != "rule from")
    for row in rules.effective_rules():
        table.add_row(row.tag, row.keyword, str(row.action), row.source)
    console.print(table)
    console.print("[bold]everything else:[/]")
    for what, action in rules.default_rules():
        console.print(f"  {what}: {action}")


@app.command("check")
def check(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: everything indexed)")
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Profile to preview")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Dry run: per tag, what will happen; files that will be quarantined; pseudonym collisions."""
    from eucaim.deid.engine import Deidentifier
    from eucaim.deid.files import read_for_preview
    from eucaim.deid.preview import preview
    from eucaim.deid.profile import load_profile
    from eucaim.ingest.scanner import iter_files
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        secret = ws.secret
        profile_name = profile or ws.config.deid.profile
        files = list(iter_files(paths)) if paths else [Path(r.path) for r in ws.state.instances()]
        fmt = ws.config.deid.pseudonym_format
    if not files:
        raise ConfigError("nothing to check", hint="give files or folders, or run `eucaim-ingest scan` first")
    deidentifier = Deidentifier(load_profile(profile_name), secret, pseudonym_format=fmt)
    result = preview(read_for_preview(files), deidentifier)
    table = Table(title=f"What profile {profile_name} does, per tag ({result.instances} instances)")
    table.add_column("tag path", no_wrap=True)
    table.add_column("action (instances)")
    for tag in result.tags:
        table.add_row(tag.path, ", ".join(f"{a} ({n})" for a, n in tag.actions.items()))
    console.print(table)
    console.print(
        f"{result.patients} patients; {result.will_send} instances will be sent, "
        f"{len(result.quarantined)} quarantined"
    )
    for label, reason in result.quarantined[:100]:
        console.print(f"  [red]{reason:<22}[/] {label}", soft_wrap=True)
    for warning, n in sorted(result.warnings.items()):
        console.print(f"  [yellow]warning[/] {warning}: {n} instances")
    for pseudonym, n in result.collisions:
        err_console.print(f"[red]collision:[/] {pseudonym} is shared by {n} patients")
    if result.collisions:
        raise typer.Exit(1)


@vault_app.command("export")
def vault_export(
    authorised: Annotated[
        bool,
        typer.Option(
            "--i-am-authorised-to-re-identify",
            help="Required: confirms an authorised re-identification (logged in the audit folder)",
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="CSV file to write (owner-only)")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Export the original ⇄ pseudonym mapping (for an authorised re-identification only)."""
    import datetime as dt

    from eucaim.deid.vault import Vault, export_csv
    from eucaim.ingest.workspace import Workspace, write_private_file

    if not authorised:
        raise ConfigError(
            "the vault is exported only for an authorised re-identification",
            hint="add --i-am-authorised-to-re-identify if you are",
        )
    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        entries = Vault(ws.vault_path, ws.secret).export(authorised=True)
        text = export_csv(entries)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with open(ws.audit_dir / "vault-exports.log", "a", encoding="utf-8") as log:
            log.write(f"{stamp} exported {len(entries)} mappings to {out or 'stdout'}\n")
    if out is None:
        console.print(text, end="", soft_wrap=True, markup=False, highlight=False)
    else:
        write_private_file(out, text.encode("utf-8"))
        console.print(f"{len(entries)} mappings written to {out} (owner-only)")
