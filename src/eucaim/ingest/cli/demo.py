"""`eucaim-ingest demo`: the whole flow on an embedded node (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eucaim.ingest.cli.app import app, console


@app.command()
def demo(
    patients: Annotated[int, typer.Option("--patients", help="Synthetic patients to generate")] = 10,
    base: Annotated[Path | None, typer.Option("--base", help="Folder for the demo's temporary files")] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Leave the node portal and the Data Ingestion UI running")
    ] = False,
) -> None:
    """Start a node, generate a cohort, transfer it de-identified, and show what arrived."""
    from eucaim.ingest.demo import run_demo

    raise typer.Exit(run_demo(console, base=base, patients=patients, serve=serve))
