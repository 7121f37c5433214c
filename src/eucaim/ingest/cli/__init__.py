"""Command-line entry point of eucaim-ingest: one module per command, joined here."""

from __future__ import annotations

import sys

from eucaim.errors import EucaimError

# Importing a command module registers its command(s) on ``app``; keep one import per module.
from eucaim.ingest.cli import (  # noqa: F401  (registration)
    biobank,
    clinical,
    dataset,
    deid_cmd,
    deid_info,
    demo,
    doctor,
    init,
    login,
    nifti,
    pacs,
    push,
    receive,
    scan,
    status,
    ui,
)
from eucaim.ingest.cli.app import app, err_console

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI, turning expected errors into a message on stderr and exit code 1."""
    try:
        app()
    except EucaimError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
