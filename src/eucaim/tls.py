"""TLS contexts that refuse anything older than TLS 1.3, for both programs.

EUCAIM requires TLS 1.3 for every exchange; the contexts built here are the only ones either
program uses, so the rule lives in one place.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """Return a verifying client context limited to TLS 1.3.

    ``ca_bundle`` adds a hospital or node CA (PEM) to the system's trust store.
    """
    ctx = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """Return a server context that accepts TLS 1.3 handshakes only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
