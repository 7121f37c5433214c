"""A fault-injecting HTTP reverse proxy for transfer tests: forwards to a real server, breaks on cue.

It sits on a free loopback port in front of our node or Orthanc and, by rules a test may change
while it runs, answers 500/503 (with Retry-After) at random, drops connections part-way through a
request body, after the server has handled the request, or half-way through its answer, answers late
(past a client's read timeout), refuses bodies above a size with 413, answers given statuses to the
K-th request (a token "expiring" halfway), and can play an auth gateway (check a bearer token, add
the upstream's own credentials). Everything it did is counted in :attr:`FaultProxy.stats`.

Request bodies are streamed to the upstream as they arrive (at most 64 KiB at a time), never held
whole; responses (small DICOM JSON in these tests) are read whole and re-sent with a Content-Length.
Random decisions come from one seeded RNG, drawn in request-arrival order under a lock, so a run
with one request in flight at a time is exactly reproducible (with several, arrival order varies).

::

    with FaultProxy(node.url, Faults(error_rate=0.3), seed=1) as proxy:
        target = DicomwebTarget(proxy.url + "/biobanks/bb/dicom-web", token_provider=...)
        ...
        proxy.faults.error_rate = 0.0          # rules can change mid-run
        assert proxy.stats.injected[503] > 0
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
UPSTREAM_TIMEOUT_S = 60.0
LINGER_S = 2.0
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


class Drop(StrEnum):
    """Where a dropped connection is cut."""

    MID_BODY = "mid_body"  # after forwarding part of the request body; the upstream sees a cut too
    BEFORE_RESPONSE = "before_response"  # the upstream handled the request; its answer is lost
    MID_RESPONSE = "mid_response"  # the answer's head and half its body arrive, then the cut


@dataclass
class Faults:
    """What to break. Tests may assign any field while the proxy runs.

    Random faults (error, drop, delay) apply to requests whose method is in ``methods`` (all when
    ``None``); at most one random fault hits a request, tried in that order.
    """

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 503)
    retry_after: str | None = None  # Retry-After value sent with injected 503s
    drop_rate: float = 0.0
    drop_modes: tuple[Drop, ...] = (Drop.MID_BODY, Drop.BEFORE_RESPONSE, Drop.MID_RESPONSE)
    delay_rate: float = 0.0
    delay_s: float = 0.0
    max_body_bytes: int | None = None  # larger request bodies get 413 (without being read)
    linger_413: bool = True  # drain the unread body after a 413 (nginx does); False: close at once
    status_on_request: dict[int, int] = field(default_factory=dict)  # 1-based request number → status
    methods: frozenset[str] | None = None
    accept_bearer: set[str] | None = None  # auth gateway: other bearer tokens get 401
    upstream_headers: dict[str, str] = field(default_factory=dict)  # replace the client's, e.g. Basic


@dataclass
class RequestRecord:
    """One request as the proxy saw it, and what it did with it."""

    number: int
    method: str
    path: str
    body_bytes: int  # announced Content-Length (0 when none)
    authorization: str | None
    outcome: str  # forwarded, delayed, injected, unauthorised (gateway), too_large, dropped:<mode>
    status: int | None  # status the client received (None when dropped)


@dataclass
class ProxyStats:
    """Counters of everything the proxy did."""

    requests: int = 0
    forwarded: int = 0
    injected: Counter[int] = field(default_factory=Counter)  # injected status → count
    dropped: Counter[str] = field(default_factory=Counter)  # Drop mode → count
    delayed: int = 0
    too_large: int = 0
    unauthorised: int = 0
    bytes_forwarded: int = 0
    log: list[RequestRecord] = field(default_factory=list)
    upstream_errors: list[tuple[int, str]] = field(default_factory=list)  # real 5xx: status, body

    def statuses(self, method: str | None = None) -> Counter[int]:
        """Return how often the client received each status (optionally for one method)."""
        return Counter(
            r.status for r in self.log if r.status is not None and (method is None or r.method == method)
        )


@dataclass(frozen=True)
class _Decision:
    number: int
    status: int | None = None
    drop: Drop | None = None
    delay_s: float = 0.0


class FaultProxy:
    """Serve on ``127.0.0.1:<free port>`` and forward to ``upstream`` (``http://host:port``).

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``before_forward(number,
    method, path)`` runs before each request is judged and forwarded (e.g. to rotate a token), one
    call at a time in arrival order: a later request is not numbered until the hook has returned,
    so whatever the hook changed holds for every request numbered after it.
    """

    def __init__(
        self,
        upstream: str,
        faults: Faults | None = None,
        *,
        seed: int = 0,
        before_forward: Callable[[int, str, str], None] | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.faults = faults or Faults()
        self.stats = ProxyStats()
        self.before_forward = before_forward
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._arrival = threading.Lock()  # numbering plus before_forward, one request at a time
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fault-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        """Return the proxy's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- decisions (under the lock, in arrival order) ---------------------------------------------

    def _decide(self, method: str, path: str, length: int, authorization: str | None) -> _Decision:
        # Without the arrival lock a request numbered after a token rotation could reach the node
        # while the hook is still revoking the old token, and pass with it.
        with self._arrival:
            with self._lock:
                self.stats.requests += 1
                number = self.stats.requests
            if self.before_forward is not None:
                self.before_forward(number, method, path)
        with self._lock:
            f = self.faults
            if number in f.status_on_request:
                return _Decision(number, status=f.status_on_request[number])
            if f.accept_bearer is not None and _bearer(authorization) not in f.accept_bearer:
                return _Decision(number, status=401)
            if f.max_body_bytes is not None and length > f.max_body_bytes:
                return _Decision(number, status=413)
            if f.methods is not None and method not in f.methods:
                return _Decision(number)
            # Always draw the same four numbers per request, so changing one rule does not
            # shift another rule's sequence.
            error, drop, delay = self._rng.random(), self._rng.random(), self._rng.random()
            pick = self._rng.randrange(1 << 30)
            if error < f.error_rate:
                return _Decision(number, status=f.error_statuses[pick % len(f.error_statuses)])
            if drop < f.drop_rate:
                return _Decision(number, drop=f.drop_modes[pick % len(f.drop_modes)])
            if delay < f.delay_rate:
                return _Decision(number, delay_s=f.delay_s)
            return _Decision(number)

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.stats.log.append(record)
            if record.outcome == "too_large":
                self.stats.too_large += 1
            elif record.outcome.startswith("dropped:"):
                self.stats.dropped[record.outcome.split(":", 1)[1]] += 1
            elif record.outcome == "unauthorised":
                self.stats.unauthorised += 1
            elif record.outcome == "injected" and record.status is not None:
                self.stats.injected[record.status] += 1
            if record.outcome in ("forwarded", "delayed"):
                self.stats.forwarded += 1
            if record.outcome == "delayed":
                self.stats.delayed += 1


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def handle_error(self, request: object, client_address: object) -> None:
        # Broken pipes from clients that gave up (timeouts) are expected here, not test failures.
        logger.debug("fault proxy: connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # An answer goes out as two writes (head, body): without this, Nagle's algorithm and the
        # client's delayed ACK hold each answer ~40 ms, which no real server does.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("fault proxy: " + format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    # -- one request ------------------------------------------------------------------------------

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        authorization = self.headers.get("Authorization")
        decision = proxy._decide(self.command, self.path, length, authorization)

        def record(outcome: str, status: int | None) -> None:
            proxy._record(
                RequestRecord(
                    decision.number, self.command, self.path, length, authorization, outcome, status
                )
            )

        if decision.status == 413:
            # Like nginx: answer before reading the body, then drain it so the client reads the 413
            # instead of a connection reset.
            self._reply(413, b'{"error": "request body too large"}', close=True)
            if proxy.faults.linger_413:
                self._drain(length)
            else:
                self.connection.close()
            record("too_large", 413)
            return
        if decision.status is not None:
            self._skip_body(length, chunked)
            headers = {}
            if decision.status == 503 and proxy.faults.retry_after is not None:
                headers["Retry-After"] = proxy.faults.retry_after
            if decision.status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="eucaim"'
            self._reply(decision.status, b'{"error": "injected by the fault proxy"}', headers=headers)
            gateway = decision.status == 401 and decision.number not in proxy.faults.status_on_request
            record("unauthorised" if gateway else "injected", decision.status)
            return
        try:
            upstream = self._open_upstream(proxy)
        except OSError:
            self._abort()
            record("dropped:upstream_unreachable", None)
            return
        try:
            if decision.drop is Drop.MID_BODY:
                self._forward_body(upstream, length, chunked, limit=max(1, length // 2))
                self._abort()
                record(f"dropped:{Drop.MID_BODY}", None)
                return
            self._forward_body(upstream, length, chunked, limit=None)
            response = upstream.getresponse()
            body = response.read()
            if decision.drop is Drop.BEFORE_RESPONSE:
                self._abort()
                record(f"dropped:{Drop.BEFORE_RESPONSE}", None)
                return
            if decision.delay_s:
                proxy._closing.wait(decision.delay_s)
            headers = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            if decision.drop is Drop.MID_RESPONSE:
                self._reply(response.status, body, headers=headers, cut_at=len(body) // 2)
                self._abort()
                record(f"dropped:{Drop.MID_RESPONSE}", None)
                return
            with proxy._lock:
                proxy.stats.bytes_forwarded += length
                if response.status >= 500:
                    proxy.stats.upstream_errors.append((response.status, body[:500].decode(errors="replace")))
            try:
                self._reply(response.status, body, headers=headers)
            except OSError:
                pass  # the client gave up waiting (a read timeout): exactly what a delay is for
            record("delayed" if decision.delay_s else "forwarded", response.status)
        finally:
            upstream.close()

    def _open_upstream(self, proxy: FaultProxy) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT_S
        )
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        replaced = {k.lower() for k in proxy.faults.upstream_headers}
        for key, value in self.headers.items():
            if key.lower() not in HOP_BY_HOP and key.lower() not in replaced:
                conn.putheader(key, value)
        for key, value in proxy.faults.upstream_headers.items():
            conn.putheader(key, value)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            conn.putheader("Transfer-Encoding", "chunked")
        elif self.headers.get("Content-Length") is not None:
            conn.putheader("Content-Length", self.headers["Content-Length"])
        conn.putheader("Connection", "close")
        conn.endheaders()
        return conn

    def _forward_body(
        self, upstream: http.client.HTTPConnection, length: int, chunked: bool, *, limit: int | None
    ) -> None:
        """Stream the request body to ``upstream``; stop after ``limit`` bytes when given."""
        sent = 0
        for chunk in self._body_chunks(length, chunked):
            if limit is not None and sent + len(chunk) >= limit:
                upstream.send(_frame(chunk[: limit - sent], chunked))
                return
            upstream.send(_frame(chunk, chunked))
            sent += len(chunk)
        if chunked:
            upstream.send(b"0\r\n\r\n")

    def _body_chunks(self, length: int, chunked: bool) -> Iterator[bytes]:
        if not chunked:
            left = length
            while left > 0:
                chunk = self.rfile.read1(min(CHUNK, left))  # what has arrived, not a full CHUNK
                if not chunk:
                    raise ConnectionError("client closed the connection inside the body")
                left -= len(chunk)
                yield chunk
            return
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            data = self.rfile.read(size)
            self.rfile.readline()
            yield data

    def _skip_body(self, length: int, chunked: bool) -> None:
        for _ in self._body_chunks(length, chunked):
            pass

    def _drain(self, length: int) -> None:
        deadline = time.monotonic() + LINGER_S
        self.connection.settimeout(LINGER_S)
        try:
            self.connection.shutdown(socket.SHUT_WR)
            left = length
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass
        self.close_connection = True

    def _reply(
        self,
        status: int,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
        cut_at: int | None = None,
    ) -> None:
        self.send_response_only(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if not any(k.lower() == "content-type" for k in (headers or {})):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body if cut_at is None else body[:cut_at])

    def _abort(self) -> None:
        """Cut the client's connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _frame(chunk: bytes, chunked: bool) -> bytes:
    return b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
