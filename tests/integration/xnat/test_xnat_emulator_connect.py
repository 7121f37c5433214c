"""The real xnatpy client logs in to the emulator, builds its model, and meets expired sessions."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import requests
import xnat
from xnat.exceptions import XNATLoginFailedError, XNATResponseError

from tests.support.certs import make_certificates
from tests.support.xnat_fixture import XnatServer, serve_xnat

pytestmark = pytest.mark.integration


def test_connect_builds_the_full_model_from_the_served_schemas(xnat_server: XnatServer) -> None:
    with xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR") as session:
        assert session.logged_in_user == "admin"
        assert session.xnat_version.startswith("1.8")
        for name in (
            "ProjectData",
            "SubjectData",
            "MrSessionData",
            "CtSessionData",
            "MrScanData",
            "ResourceCatalog",
        ):
            assert hasattr(session.classes, name), name
        # Search fields from /data/search/elements are injected into the generated classes.
        assert hasattr(session.classes.SubjectData, "SUBJECT_LABEL")
    paths = [(r["method"], r["path"]) for r in xnat_server.emulator.requests]
    assert ("PUT", "/data/services/auth") in paths
    assert ("GET", "/xapi/schemas/xnat") in paths
    assert paths[-1] == ("DELETE", "/data/JSESSION")


def test_wrong_password_is_refused(xnat_server: XnatServer) -> None:
    with pytest.raises(XNATLoginFailedError):
        xnat.connect(xnat_server.url, user="admin", password="wrong", loglevel="CRITICAL")


def test_alias_token_logs_in_as_its_owner(xnat_server: XnatServer) -> None:
    alias, secret = xnat_server.emulator.issue_alias_token("admin")
    with xnat.connect(xnat_server.url, user=alias, password=secret, loglevel="ERROR") as session:
        assert session.logged_in_user == "admin"
        session.put("/data/archive/projects/TOKEN")
        assert "TOKEN" in session.projects


def test_alias_token_with_wrong_secret_is_refused(xnat_server: XnatServer) -> None:
    alias, _ = xnat_server.emulator.issue_alias_token("admin")
    with pytest.raises(XNATLoginFailedError):
        xnat.connect(xnat_server.url, user=alias, password="not-the-secret", loglevel="CRITICAL")


def test_requests_without_a_session_get_401(xnat_server: XnatServer) -> None:
    response = requests.get(f"{xnat_server.url}/data/projects?format=json", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_basic_auth_works_per_request_and_opens_a_session(xnat_server: XnatServer) -> None:
    with requests.Session() as http:
        first = http.get(f"{xnat_server.url}/data/projects?format=json", auth=("admin", "admin"), timeout=10)
        assert first.status_code == 200
        assert first.json()["ResultSet"]["Result"] == []
        assert "JSESSIONID" in http.cookies
        # The cookie alone now authenticates.
        assert http.get(f"{xnat_server.url}/data/auth", timeout=10).text == "User 'admin' is logged in"


def test_expired_session_fails_then_a_new_connection_works(xnat_server: XnatServer) -> None:
    session = xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR")
    session.put("/data/archive/projects/P1")
    assert xnat_server.emulator.expire_sessions() >= 1
    with pytest.raises(XNATResponseError) as failure:
        session.get_json("/data/archive/projects")
    assert failure.value.status_code == 401
    session.disconnect()

    with xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR") as again:
        assert "P1" in again.projects


def test_archive_and_rest_aliases_reach_the_same_objects(xnat_server: XnatServer) -> None:
    with xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR") as session:
        session.put("/REST/projects/ALIAS")
        for prefix in ("/data", "/data/archive", "/REST"):
            rows = session.get_json(f"{prefix}/projects")["ResultSet"]["Result"]
            assert [r["ID"] for r in rows] == ["ALIAS"], prefix


def test_injected_failure_answers_then_clears(xnat_server: XnatServer) -> None:
    xnat_server.emulator.fail_next(2, r"^/data/projects$", 503, method="GET")
    with xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR") as session:
        for _ in range(2):
            with pytest.raises(XNATResponseError) as failure:
                session.get_json("/data/projects")
            assert failure.value.status_code == 503
        assert session.get_json("/data/projects")["ResultSet"]["Result"] == []


def test_idle_session_times_out(xnat_server: XnatServer) -> None:
    session = xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR")
    session.put("/data/archive/projects/P1")
    # Shortened only now: building xnatpy's model takes longer than a timeout this short.
    xnat_server.emulator.security.session_timeout = 0.2
    time.sleep(0.4)
    with pytest.raises(XNATResponseError) as failure:
        session.get_json("/data/archive/projects")
    assert failure.value.status_code == 401
    session.disconnect()


def test_https_serves_tls13_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    certificates = make_certificates(tmp_path / "certs")
    with serve_xnat(
        tmp_path / "xnat", tls_cert=certificates.cert_pem, tls_key=certificates.key_pem
    ) as server:
        assert server.url.startswith("https://")
        # xnatpy trusts what requests trusts; requests reads the CA bundle from the environment.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca_pem))
        with xnat.connect(server.url, user="admin", password="admin", loglevel="ERROR") as session:
            assert session.logged_in_user == "admin"

        host, port = server.url.removeprefix("https://").split(":")
        tls13 = ssl.create_default_context(cafile=str(certificates.ca_pem))
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            tls13.wrap_socket(raw, server_hostname="localhost") as wrapped,
        ):
            assert wrapped.version() == "TLSv1.3"
        tls12 = ssl.create_default_context(cafile=str(certificates.ca_pem))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with (
            pytest.raises(ssl.SSLError),
            socket.create_connection((host, int(port)), timeout=5) as raw,
            tls12.wrap_socket(raw, server_hostname="localhost"),
        ):
            pass


def test_issued_alias_token_logs_in(xnat_server: XnatServer) -> None:
    with xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR") as session:
        token = session.get_json("/data/services/tokens/issue")
    with xnat.connect(
        xnat_server.url, user=token["alias"], password=token["secret"], loglevel="ERROR"
    ) as again:
        assert again.logged_in_user == "admin"
