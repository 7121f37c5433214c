"""Pytest fixtures that serve the XNAT emulator with uvicorn in a thread on a free loopback port.

Use it from a conftest.py::

    from tests.support.xnat_fixture import xnat_server  # noqa: F401  (re-exported fixture)

and in a test::

    def test_x(xnat_server: XnatServer) -> None:
        session = xnat.connect(xnat_server.url, user=xnat_server.user, password=xnat_server.password)
        xnat_server.emulator.make_read_only("P1")

Each test gets a fresh emulator (empty archive, only the site admin); starting one takes ~0.1 s.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from tests.support.xnat_emulator import XnatEmulator, create_app


@dataclass(frozen=True)
class XnatServer:
    """A running emulator: its base URL, the site admin's credentials and the handle."""

    url: str
    user: str
    password: str
    emulator: XnatEmulator


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_xnat(root: Path, *, session_timeout: float = 900.0) -> Iterator[XnatServer]:
    """Serve a fresh emulator storing its files under ``root`` until the block ends."""
    emulator = XnatEmulator(root, session_timeout=session_timeout)
    config = uvicorn.Config(
        create_app(emulator),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="off",
        http="h11",
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="xnat-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"The XNAT emulator did not start on port {config.port}")
        time.sleep(0.01)
    try:
        yield XnatServer(
            url=f"http://127.0.0.1:{config.port}",
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
