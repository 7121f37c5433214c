"""The doctor's verdicts (pure) and its checklist over a scripted node (httpx MockTransport)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from eucaim.ingest.config import NodeConfig, load_config, save_config
from eucaim.ingest.doctor import (
    TARGET_CHECKS,
    Check,
    access_checks,
    disk_check,
    proxy_check,
    redact_url,
    run_checks,
    secret_mode_check,
    tls_check,
)
from eucaim.ingest.workspace import Workspace

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NODE = "https://node.example.org"


def test_redact_url_hides_user_and_password_only() -> None:
    assert redact_url("http://bob:pw@proxy:3128/x") == "http://***@proxy:3128/x"
    assert redact_url("http://proxy:3128") == "http://proxy:3128"


def test_proxy_none_set_means_direct() -> None:
    check = proxy_check({}, NODE)
    assert check == Check("proxy", True, "none: direct connection to node.example.org")


def test_proxy_in_effect_hides_credentials() -> None:
    check = proxy_check({"https_proxy": "http://bob:hunter2@proxy.hosp:8080"}, NODE)
    assert check.ok
    assert check.detail == (
        "through http://***@proxy.hosp:8080 (from https_proxy); credentials in the proxy URL are hidden"
    )
    assert "hunter2" not in check.detail + check.hint and "bob" not in check.detail


@pytest.mark.parametrize("no_proxy", ["example.org", ".example.org", "*", "other, node.example.org"])
def test_no_proxy_match_means_direct(no_proxy: str) -> None:
    check = proxy_check({"HTTPS_PROXY": "http://proxy:1", "NO_PROXY": no_proxy}, NODE)
    assert check.detail.endswith("NO_PROXY lists node.example.org: direct connection")


def test_http_proxy_does_not_apply_to_an_https_node() -> None:
    assert proxy_check({"HTTP_PROXY": "http://proxy:1"}, NODE).detail.startswith("none")


def cert(not_after: str) -> dict[str, object]:
    return {
        "subject": ((("commonName", "node.example.org"),), (("organizationName", "UPV"),)),
        "notAfter": not_after,
    }


def test_tls_13_with_a_long_lived_certificate_is_ok() -> None:
    check = tls_check("TLSv1.3", cert("Jun  1 12:00:00 2026 GMT"), NOW)
    assert check.status == "ok"
    assert check.detail == (
        "TLS 1.3, certificate commonName=node.example.org, organizationName=UPV, "
        "valid until 2026-06-01 (151 days)"
    )


def test_a_certificate_expiring_within_30_days_warns() -> None:
    check = tls_check("TLSv1.3", cert("Jan 20 00:00:00 2026 GMT"), NOW)
    assert check.status == "warning" and check.ok
    assert "expires soon" in check.hint


def test_tls_older_than_13_fails() -> None:
    check = tls_check("TLSv1.2", None, NOW)
    assert not check.ok
    assert "requires TLS 1.3" in check.detail


@pytest.mark.parametrize(
    ("qido", "stow", "token_status", "rights_status", "words"),
    [
        (200, 415, "ok", "ok", "can search and store into biobank bb"),
        (200, 403, "ok", "failed", "can search biobank bb but not store into it"),
        (401, None, "failed", "skipped", "not checked: the token was refused"),
        (403, None, "ok", "failed", "refused access to biobank bb (403)"),
        (404, None, "ok", "failed", "no biobank bb (404)"),
        (None, None, "skipped", "skipped", "not checked: the node cannot be reached"),
    ],
)
def test_access_lines_per_status(
    qido: int | None, stow: int | None, token_status: str, rights_status: str, words: str
) -> None:
    token, rights = access_checks(qido, "bb", write_status=stow)
    assert (token.name, rights.name) == ("token", "biobank rights")
    assert (token.status, rights.status) == (token_status, rights_status)
    assert words in rights.detail
    if rights.status == "failed":
        assert rights.hint


def test_an_unexpected_status_fails_the_token_line() -> None:
    token, _ = access_checks(500, "bb")
    assert token.status == "failed" and "answered 500" in token.detail


def test_disk_space_thresholds(tmp_path: Path) -> None:
    gb = 1_000_000_000
    assert disk_check(50 * gb, 2 * gb, tmp_path).status == "ok"
    low = disk_check(3 * gb, 2 * gb, tmp_path)
    assert low.status == "warning" and "keep at least 4.0 GB free" in low.hint
    assert disk_check(int(0.5 * gb), 0, tmp_path).status == "warning"  # below 1 GB whatever is waiting
    assert disk_check(1 * gb, 2 * gb, tmp_path).status == "failed"


def test_secret_readable_by_others_fails_with_chmod_hint(tmp_path: Path) -> None:
    assert secret_mode_check(tmp_path / "s", 0o100600).ok
    check = secret_mode_check(tmp_path / "s", 0o100644)
    assert not check.ok and check.hint == f"chmod 600 {tmp_path / 's'}" and "mode 644" in check.detail


# -- the whole checklist, the node scripted ------------------------------------------------------------


def make_ws(tmp_path: Path, url: str = "http://127.0.0.1:8000") -> Path:
    with Workspace.create(tmp_path / "ws", NodeConfig(url=url, biobank="bb"), token="tok-123"):
        pass
    return tmp_path / "ws"


def scripted(qido_status: int, stow_status: int = 415, health_status: int = 200) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(health_status, json={"status": "ok" if health_status == 200 else "failing"})
        assert request.headers["Authorization"] == "Bearer tok-123"
        assert request.url.path == "/biobanks/bb/dicom-web/studies"
        if request.method == "GET":
            assert request.url.params["limit"] == "1"
            return httpx.Response(qido_status, json=[])
        return httpx.Response(stow_status)

    return httpx.MockTransport(answer)


def test_checklist_order_and_all_green(tmp_path: Path) -> None:
    checks = run_checks(make_ws(tmp_path), env={}, now=NOW, transport=scripted(200))

    assert [c.name for c in checks] == [
        "node reachable", "TLS", "proxy", "token", "biobank rights", "PACS", "disk space", "site secret",
        "de-identification profile",
    ]  # fmt: skip
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {c.name: c.status for c in checks}["PACS"] == "skipped"


def test_unhealthy_node_fails_reachability_but_still_checks_the_token(tmp_path: Path) -> None:
    checks = {
        c.name: c
        for c in run_checks(make_ws(tmp_path), env={}, now=NOW, transport=scripted(401, health_status=503))
    }

    assert not checks["node reachable"].ok and "answered 503" in checks["node reachable"].detail
    assert not checks["token"].ok


def test_broken_secret_and_profile_fail(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    os.chmod(ws / "secret.key", 0o644)
    config = load_config(ws)
    config.deid.profile = "no-such-profile"
    save_config(ws, config)

    checks = {c.name: c for c in run_checks(ws, env={}, now=NOW, transport=scripted(200))}

    assert not checks["site secret"].ok and "chmod 600" in checks["site secret"].hint
    assert not checks["de-identification profile"].ok
    assert "no-such-profile" in checks["de-identification profile"].detail


def test_a_missing_secret_fails_without_showing_content(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    (ws / "secret.key").write_text("short\n")
    os.chmod(ws / "secret.key", 0o600)

    check = {c.name: c for c in run_checks(ws, env={}, now=NOW, transport=scripted(200))}["site secret"]

    assert not check.ok and "at least 16 are needed" in check.detail and "short" not in check.detail


def test_not_a_workspace_is_one_failed_line(tmp_path: Path) -> None:
    [check] = run_checks(tmp_path / "nothing-here", env={}, now=NOW)
    assert check.name == "workspace" and not check.ok
    assert "eucaim-ingest init" in check.hint


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    config = load_config(ws)
    config.node.url = "http://node.example.org"
    save_config(ws, config)

    checks = {c.name: c for c in run_checks(ws, env={}, now=NOW)}

    assert not checks["node reachable"].ok and "plain HTTP" in checks["node reachable"].detail


def test_a_target_kind_without_checks_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_ws(tmp_path)
    monkeypatch.delitem(TARGET_CHECKS, "eucaim")

    checks = run_checks(ws, env={}, now=NOW)

    assert checks[0] == Check("node", True, "no checks for target kind 'eucaim' yet", skipped=True)
