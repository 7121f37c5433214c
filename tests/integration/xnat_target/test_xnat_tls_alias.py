"""XNAT over HTTPS (TLS 1.3 only, a private CA) with an alias token, for images and for xnatpy."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from eucaim.dicom.synthetic import generate_cohort
from eucaim.errors import ConfigError
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.targets import build_xnat_target, xnat_session
from eucaim.ingest.upload.http import TlsError
from eucaim.ingest.upload.xnat_client import connect_xnatpy
from eucaim.ingest.upload.xnat_session import split_credentials
from eucaim.ingest.workspace import Workspace
from tests.support.certs import Certificates, make_certificates
from tests.support.xnat_fixture import serve_xnat

pytestmark = pytest.mark.integration
PROJECT = "TLS_P"


def test_push_and_xnatpy_over_tls13_with_a_private_ca_and_an_alias_token(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    cohort = generate_cohort(tmp_path / "cohort", patients=1, slices=(2, 2))
    with serve_xnat(tmp_path / "xnat", tls_cert=certs.cert_pem, tls_key=certs.key_pem) as server:
        emulator = server.emulator
        emulator.create_project(PROJECT)
        emulator.add_user("tokenuser", "never-used-here", roles={PROJECT: "member"})
        alias, secret = emulator.issue_alias_token("tokenuser")
        assert server.url.startswith("https://")

        node = NodeConfig(kind="xnat", url=server.url, biobank=PROJECT, ca_bundle=str(certs.ca_pem))
        token_file = tmp_path / "alias-token"
        token_file.write_text(f"{alias}:{secret}\n")
        with Workspace.create(tmp_path / "ws", node, token_file=token_file) as ws:
            scan_paths(ws.state, [cohort.root])
            target = build_xnat_target(ws)
            summary = push(ws, target, PushOptions(workers=1, concurrency=1, batch_bytes=1 << 20))
            target.close()
            assert summary.ok, summary.why_not_ok()
            assert summary.verified_totals["instances"] == len(cohort.files)

            # xnatpy over the same TLS 1.3 site, trusting the private CA, with the alias token.
            credentials = lambda: split_credentials(None, ws.token)  # noqa: E731
            with connect_xnatpy(server.url, credentials, ca_bundle=certs.ca_pem) as connection:
                assert PROJECT in connection.projects
            # Without the CA, nothing is sent: the TLS check fails first, with a hint.
            with pytest.raises(TlsError, match="ca-bundle"), connect_xnatpy(server.url, credentials):
                pass
            session = xnat_session(ws)
            session.login()
            session.close()


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def tls12_server(certs: Certificates) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certs.cert_pem, certs.key_pem)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_tls12_site_is_refused_before_any_credential_is_sent(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    with (
        tls12_server(certs) as url,
        pytest.raises(TlsError),
        connect_xnatpy(url, lambda: ("user", "secret-password"), ca_bundle=certs.ca_pem),
    ):
        pass
    assert _Handler.seen == []


def test_credentials_file_shapes() -> None:
    assert split_credentials("alice", "pw:with:colons") == ("alice", "pw:with:colons")
    assert split_credentials(None, "0f3c-alias:s3cret") == ("0f3c-alias", "s3cret")
    with pytest.raises(ConfigError, match="ALIAS:SECRET"):
        split_credentials(None, "just-a-password")
