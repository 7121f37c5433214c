"""`eucaim-ingest receive`: run the C-STORE receiver until Ctrl-C, indexing what the PACS sends."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path

if TYPE_CHECKING:
    from eucaim.ingest.pacs_intake import WorkspaceReceiver

# Without a terminal (a service, a log file) the live line cannot redraw; print a line this often.
PLAIN_REPORT_EVERY_S = 10.0


def _stop_on_signals(stop: threading.Event) -> dict[int, object]:
    """Make SIGINT and SIGTERM set ``stop``; return the previous handlers."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, object] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _counts(rx: WorkspaceReceiver) -> str:
    idx = rx.indexer
    text = f"{rx.stored} instances received, {idx.indexed} indexed"
    if idx.duplicates:
        text += f", {idx.duplicates} duplicate copies"
    if idx.problems or rx.refused:
        text += f", [red]{idx.problems} not usable DICOM, {rx.refused} refused[/]"
    return text


@app.command()
def receive(
    ae_title: Annotated[
        str | None,
        typer.Option("--ae-title", help="Our AE title, as registered on the PACS [pacs calling AE title]"),
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on [pacs receiver port]")] = None,
    bind: Annotated[
        str,
        typer.Option("--bind", help="Address to listen on; 0.0.0.0 so the PACS can reach us"),
    ] = "0.0.0.0",
    allow_aet: Annotated[
        list[str] | None,
        typer.Option("--allow-aet", help="Accept only these sending AE titles (repeat the option)"),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Receive studies the PACS sends (C-STORE) into the workspace until Ctrl-C or SIGTERM."""
    from eucaim.ingest.pacs_intake import WorkspaceReceiver
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        pacs = ws.config.pacs
        ae_title = ae_title or (pacs.calling_aet if pacs else None)
        port = port or (pacs.receiver_port if pacs else None)
        if not ae_title or port is None:
            raise ConfigError(
                "the receiver needs an AE title and a port",
                hint="give --ae-title and --port, or set them with `eucaim-ingest pacs config … "
                "--calling-aet A --receiver-port N`",
            )
        rx = WorkspaceReceiver(
            ws.state,
            ws.incoming,
            ae_title=ae_title,
            port=port,
            bind_address=bind,
            allowed_calling_aets=allow_aet or (),
        )
        stop = threading.Event()
        previous = _stop_on_signals(stop)
        try:
            rx.start()
            allowed = f", accepting only {', '.join(allow_aet)}" if allow_aet else ""
            console.print(
                f"receiving as AE title [bold]{ae_title}[/] on {bind}:{port}{allowed}; press Ctrl-C to stop"
            )
            console.file.flush()
            _wait(rx, stop)
        finally:
            rx.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]
        console.print(f"stopped: {_counts(rx)}")
        if rx.stored:
            console.print("next: [bold]eucaim-ingest push[/]")


def _wait(rx: WorkspaceReceiver, stop: threading.Event) -> None:
    if console.is_terminal:
        with console.status(_counts(rx)) as live:
            while not stop.wait(0.5):
                live.update(_counts(rx))
        return
    last_shown, last_count = time.monotonic(), 0
    while not stop.wait(0.5):
        if rx.stored != last_count and time.monotonic() - last_shown >= PLAIN_REPORT_EVERY_S:
            console.print(_counts(rx))
            console.file.flush()
            last_shown, last_count = time.monotonic(), rx.stored
