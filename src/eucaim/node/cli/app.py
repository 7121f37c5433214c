"""The root typer application of eucaim-node, its consoles, and the shared ``--data`` option."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from eucaim.node.settings import Settings

app = typer.Typer(
    name="eucaim-node",
    help="The EUCAIM reference node: per-biobank DICOMweb storage of de-identified imaging data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Results go to stdout, errors to stderr; neither goes through logging.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Node data folder [env: EUCAIM_NODE_DATA; default ./eucaim-node-data].",
        show_default=False,
    ),
]


def load_settings(data: Path | None) -> Settings:
    """Return the settings, with ``--data`` winning over EUCAIM_NODE_DATA."""
    if data is not None:
        return Settings(data_dir=data)
    return Settings()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details to stderr.")] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML settings file (env EUCAIM_NODE_CONFIG); EUCAIM_NODE_* variables win."
        ),
    ] = None,
) -> None:
    if config is not None:
        # Through the environment, so every Settings() of this process and its children reads it.
        os.environ["EUCAIM_NODE_CONFIG"] = str(config.resolve())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Library chatter (SQL, Alembic) stays quiet unless asked for.
    for name in ("alembic", "sqlalchemy", "python_multipart"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
