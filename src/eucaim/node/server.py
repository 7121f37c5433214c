"""Run the node with uvicorn, with TLS limited to 1.3 when a certificate is given."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from eucaim.errors import ConfigError
from eucaim.tls import server_context

logger = logging.getLogger(__name__)


class Tls13Config(uvicorn.Config):
    """A uvicorn config whose TLS context refuses every version below 1.3.

    uvicorn builds its own SSLContext from ``ssl_certfile``/``ssl_keyfile`` with no way to set a
    minimum version, so after it loads we replace that context with eucaim.tls.server_context.
    """

    def load(self) -> None:
        super().load()
        if self.ssl_certfile and self.ssl_keyfile:
            self.ssl = server_context(Path(str(self.ssl_certfile)), Path(str(self.ssl_keyfile)))


def build_server_config(
    app: FastAPI,
    *,
    host: str,
    port: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    **options: Any,
) -> Tls13Config:
    """Return the uvicorn config that serves ``app``; TLS 1.3 only when cert and key are given.

    Raises:
        ConfigError: only one of cert and key is given, or a file is missing.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together", hint="pass both, or neither for plain HTTP")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise ConfigError(f"TLS file {path} does not exist")
    return Tls13Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=False,
        log_config=None,
        **options,
    )
