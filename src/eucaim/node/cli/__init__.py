"""eucaim-node's command line: ``main()`` runs the typer app and turns known errors into messages."""

from __future__ import annotations

import sys

from eucaim.errors import EucaimError
from eucaim.node.cli import biobank, dataset, db, jobs, request, serve, storage, token, user, worker  # noqa: F401  (registers the commands)
from eucaim.node.cli.app import app, err_console

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of ``eucaim-node``: exit 1 with a one-line reason on a known error.

    Usage errors are typer's to report (exit 2); a bad value a service rejects exits 2 as well.
    """
    try:
        app()
    except EucaimError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(1)
    except ValueError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(2)
