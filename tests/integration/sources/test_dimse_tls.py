"""DICOM over TLS 1.3 between PacsClient and Receiver, with our own CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eucaim.ingest.sources.pacs import PacsClient, PacsConfig, PacsUnavailable
from eucaim.ingest.sources.receiver import Receiver
from eucaim.tls import client_context, server_context
from tests.support.orthanc import free_port

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1; return (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> tuple[int, Path]:
    """Yield (port, CA certificate) of a receiver that speaks TLS 1.3 only."""
    cert, key = self_signed(tmp_path, "receiver")
    port = free_port()
    with Receiver("TLSRCV", port, tmp_path / "in", bind_address="127.0.0.1", tls=server_context(cert, key)):
        yield port, cert


def config(port: int, **kwargs: object) -> PacsConfig:
    return PacsConfig("127.0.0.1", port, "TLSRCV", "EUCAIM", timeout=5.0, **kwargs)  # type: ignore[arg-type]


def test_echo_over_tls_with_the_trusted_ca(tls_receiver: tuple[int, Path]) -> None:
    port, ca = tls_receiver

    assert PacsClient(config(port, tls=client_context(ca))).echo() < 5.0


def test_untrusted_certificate_fails_with_a_clear_error(
    tls_receiver: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = tls_receiver
    other_ca, _ = self_signed(tmp_path, "other")

    with pytest.raises(PacsUnavailable, match=f"cannot associate with PACS TLSRCV at 127.0.0.1:{port}"):
        PacsClient(config(port, tls=client_context(other_ca))).echo()


def test_plain_client_against_tls_receiver_fails(tls_receiver: tuple[int, Path]) -> None:
    port, _ = tls_receiver

    with pytest.raises(PacsUnavailable):
        PacsClient(config(port)).echo()
