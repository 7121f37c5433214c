"""The node's TLS listener accepts TLS 1.3 only: a 1.2-only client fails the handshake."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eucaim.errors import ConfigError
from eucaim.node.server import build_server_config
from eucaim.tls import client_context
from tests.support.node_server import running_node


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a server certificate for 127.0.0.1; return (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def test_tls13_client_works_and_tls12_client_is_refused(tmp_path: Path) -> None:
    ca, cert, key = _write_ca_and_server_cert(tmp_path)
    with running_node(tmp_path / "node", tls_cert=cert, tls_key=key) as node:
        assert node.url.startswith("https://")
        response = httpx.get(f"{node.url}/health", verify=client_context(ca))
        assert response.status_code == 200
        assert response.json()["status"] == "ok"

        tls12 = ssl.create_default_context(cafile=str(ca))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(httpx.ConnectError) as refused:
            httpx.get(f"{node.url}/health", verify=tls12)
        assert "CERTIFICATE_VERIFY_FAILED" not in str(refused.value)  # refused for the version alone

        # A client offering 1.2 and 1.3 with the same CA connects, and 1.3 is what is spoken.
        both = ssl.create_default_context(cafile=str(ca))
        port = int(node.url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            both.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() == "TLSv1.3"

        # Without the CA the certificate is not trusted: TLS is real, not just enabled.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{node.url}/health", verify=client_context(None))


def test_cert_without_key_is_a_config_error(tmp_path: Path) -> None:
    _, cert, _ = _write_ca_and_server_cert(tmp_path)
    with pytest.raises(ConfigError, match="go together"):
        build_server_config(None, host="127.0.0.1", port=0, tls_cert=cert)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="does not exist"):
        build_server_config(
            None,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=0,
            tls_cert=cert,
            tls_key=tmp_path / "missing.pem",
        )
