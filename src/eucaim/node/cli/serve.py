"""``eucaim-node serve``: run the node's HTTP API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from eucaim.node.cli.app import DataOption, app, err_console, load_settings


@app.command()
def serve(
    data: DataOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate (chain); enables TLS 1.3 only.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
    json_logs: Annotated[
        bool, typer.Option("--json-logs", help="One JSON object a log line, with the request id.")
    ] = False,
    jobs: Annotated[
        bool,
        typer.Option(
            "--jobs/--no-jobs",
            help="On PostgreSQL, also work the job queue in this process (--no-jobs: leave it to "
            "`eucaim-node worker` processes).",
        ),
    ] = True,
) -> None:
    """Serve DICOMweb per biobank, /health and /openapi.json until interrupted."""
    import uvicorn

    from eucaim.node.app import create_app, prepare_storage
    from eucaim.node.context import build_context
    from eucaim.node.server import build_server_config

    # A server reports each external effect (one line per request, store and schema change).
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    if json_logs:
        from eucaim.node.observability.logging import configure_json_logging

        configure_json_logging(logging.getLogger().level)
    settings = load_settings(data)
    context = build_context(settings)
    prepare_storage(context)
    application = create_app(settings, context=context)
    application.state.work_queue = jobs  # read when the app starts (eucaim.node.jobs.worker)
    config = build_server_config(application, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    scheme = "https" if tls_cert else "http"
    err_console.print(f"eucaim-node serving {settings.data_dir} on {scheme}://{host}:{port}")
    uvicorn.Server(config).run()
