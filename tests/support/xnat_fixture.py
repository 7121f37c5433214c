"""Pytest fixtures that serve the XNAT emulator with uvicorn in a thread on a free loopback port.

Register it in a conftest.py the way the other servers are::

    def pytest_configure(config):
        config.pluginmanager.import_plugin("tests.support.xnat_fixture")

and in a test::

    def test_x(xnat_server: XnatServer) -> None:
        session = xnat.connect(xnat_server.url, user=xnat_server.user, password=xnat_server.password)
        xnat_server.emulator.make_read_only("P1")

Each test gets a fresh emulator (empty archive, only the site admin ``admin``/``admin``); starting one
takes ~0.1 s. For HTTPS or a short session timeout use :func:`serve_xnat` directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from eucaim.tls import server_context
from tests.support.xnat_emulator import XnatEmulator, create_app


@dataclass(frozen=True)
class XnatServer:
    """A running emulator: its base URL, the site admin's credentials and the handle."""

    url: str
    user: str
    password: str
    emulator: XnatEmulator


class _Tls13Config(uvicorn.Config):
    """uvicorn's config with the project's TLS 1.3-only server context (uvicorn cannot set a minimum)."""

    def load(self) -> None:
        super().load()
        if self.ssl_certfile and self.ssl_keyfile:
            self.ssl = server_context(Path(str(self.ssl_certfile)), Path(str(self.ssl_keyfile)))


@contextmanager
def serve_xnat(
    root: Path,
    *,
    session_timeout: float = 900.0,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> Iterator[XnatServer]:
    """Serve a fresh emulator storing its files under ``root`` until the block ends.

    With ``tls_cert`` and ``tls_key`` (e.g. from ``tests.support.certs.make_certificates``) it
    serves HTTPS, TLS 1.3 only, as a EUCAIM node must.
    """
    emulator = XnatEmulator(root, session_timeout=session_timeout)
    config = _Tls13Config(
        create_app(emulator),
        host="127.0.0.1",
        port=0,  # the OS picks a free port, read back below: no race with other tests
        log_level="warning",
        lifespan="off",
        http="h11",
        ws="none",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="xnat-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The XNAT emulator did not start; see the log output above")
            thread.join(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield XnatServer(
            url=f"{'https' if tls_cert else 'http'}://127.0.0.1:{port}",
            user=emulator.admin_login,
            password=emulator.admin_password,
            emulator=emulator,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        emulator.close()


@pytest.fixture
def xnat_server(tmp_path: Path) -> Iterator[XnatServer]:
    """A fresh XNAT emulator for one test."""
    with serve_xnat(tmp_path / "xnat") as server:
        yield server
