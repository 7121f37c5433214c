"""eucaim-ingest speaks TLS 1.3 only, and trusts a custom CA bundle when given one."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from eucaim.ingest.upload.dicomweb import DicomwebTarget
from eucaim.ingest.upload.http import RetryPolicy, TlsError
from tests.support.certs import Certificates, make_certificates

pytestmark = pytest.mark.integration


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        body = b'[{"00080018": {"vr": "UI", "Value": ["2.25.7"]}}]'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def tls_server(certs: Certificates, max_version: ssl.TLSVersion) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = max_version
    ctx.load_cert_chain(certs.cert_pem, certs.key_pem)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/dicom-web"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def once() -> RetryPolicy:
    return RetryPolicy(max_attempts=1)


def test_tls13_server_with_custom_ca_is_accepted(certs: Certificates) -> None:
    with tls_server(certs, ssl.TLSVersion.TLSv1_3) as url:
        target = DicomwebTarget(url, token_provider=lambda: "t", ca_bundle=certs.ca_pem, retry=once())
        assert target.list_instances("2.25.1", "2.25.2") == {"2.25.7"}


def test_tls12_server_is_refused(certs: Certificates) -> None:
    with tls_server(certs, ssl.TLSVersion.TLSv1_2) as url:
        target = DicomwebTarget(url, token_provider=lambda: "t", ca_bundle=certs.ca_pem, retry=once())
        with pytest.raises(TlsError, match="TLS handshake failed") as info:
            target.list_instances("2.25.1", "2.25.2")
        assert "TLS 1.3" in str(info.value)

        # The refusal is immediate: a version mismatch is not retried like a network error.
        slept: list[float] = []
        patient = DicomwebTarget(
            url,
            token_provider=lambda: "t",
            ca_bundle=certs.ca_pem,
            retry=RetryPolicy(max_attempts=5, sleep=slept.append),
        )
        with pytest.raises(TlsError):
            patient.list_instances("2.25.1", "2.25.2")
        assert slept == []


def test_unknown_ca_is_refused(certs: Certificates, tmp_path: Path) -> None:
    with tls_server(certs, ssl.TLSVersion.TLSv1_3) as url:
        target = DicomwebTarget(url, token_provider=lambda: "t", retry=once())
        with pytest.raises(TlsError, match="CERTIFICATE_VERIFY_FAILED"):
            target.list_instances("2.25.1", "2.25.2")
