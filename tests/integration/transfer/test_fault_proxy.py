"""The fault proxy streams request bodies: the server gets the first bytes before the client sends the rest.

If it buffered whole requests, a multi-gigabyte STOW through it would need that much memory, and
tests of the client's streaming would prove nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration
FIRST = b"x" * 4096
REST = b"y" * 100_000


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True
    first_part_seen: threading.Event
    received: bytearray


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "")
        for data in _chunks(self) if chunked else _sized(self, int(self.headers["Content-Length"])):
            self.server.received += data
            if len(self.server.received) >= len(FIRST):
                self.server.first_part_seen.set()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _sized(handler: BaseHTTPRequestHandler, length: int) -> Iterator[bytes]:
    while length > 0:
        data = handler.rfile.read1(min(length, 65536))
        if not data:
            return
        length -= len(data)
        yield data


def _chunks(handler: BaseHTTPRequestHandler) -> Iterator[bytes]:
    while size := int(handler.rfile.readline().strip() or b"0", 16):
        yield handler.rfile.read(size)
        handler.rfile.readline()
    handler.rfile.readline()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_the_proxy_forwards_a_body_while_it_is_still_being_sent(framing: str) -> None:
    upstream = _Upstream(("127.0.0.1", 0), _Handler)
    upstream.first_part_seen, upstream.received = threading.Event(), bytearray()
    thread = threading.Thread(target=upstream.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    arrived_early: list[bool] = []

    def body() -> Iterator[bytes]:
        yield FIRST
        # The rest is sent only once the server has the first part (or after 5 s: a buffering proxy).
        arrived_early.append(upstream.first_part_seen.wait(5))
        yield REST

    headers = {"Content-Length": str(len(FIRST) + len(REST))} if framing == "content-length" else {}
    try:
        with FaultProxy(f"http://127.0.0.1:{upstream.server_address[1]}") as proxy:
            response = httpx.post(f"{proxy.url}/stow", content=body(), headers=headers, timeout=30)
    finally:
        upstream.shutdown()
        upstream.server_close()
    assert response.status_code == 200
    assert arrived_early == [True]
    assert bytes(upstream.received) == FIRST + REST
    assert proxy.stats.forwarded == 1
