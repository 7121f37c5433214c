"""`eucaim-ingest init --kind xnat` then `scan` and `push`, as processes, against the XNAT emulator."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import Cohort

from .conftest import PASSWORD, USER, XnatSite, archive_digests

pytestmark = pytest.mark.integration


def ingest(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from eucaim.ingest.cli import main; main()", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_init_kind_xnat_then_push_archives_the_cohort(
    xnat_site: XnatSite, cohort: Cohort, tmp_path: Path
) -> None:
    password_file = tmp_path / "xnat-password"
    password_file.write_text(PASSWORD + "\n")
    ws = tmp_path / "ws-cli"
    url = xnat_site.server.url
    init = ingest(
        "init", "--kind", "xnat", "--node", url, "--project", xnat_site.project,
        "--user", USER, "--password-file", str(password_file), ws=ws,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert f"project {xnat_site.project}  as user {USER}" in init.stdout
    assert PASSWORD not in init.stdout + init.stderr
    # The password is copied into the workspace, readable by its owner only.
    stored = ws / "token"
    assert stored.read_text().strip() == PASSWORD
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    assert ingest("scan", str(cohort.root), ws=ws).returncode == 0
    pushed = ingest("push", ws=ws)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert sum(archive_digests(xnat_site).values()) == len(cohort.files)
    assert PASSWORD not in pushed.stdout + pushed.stderr

    again = ingest("push", ws=ws)
    assert again.returncode == 0
    assert "nothing to do" in again.stdout


def test_init_kind_xnat_refuses_half_given_credentials(xnat_site: XnatSite, tmp_path: Path) -> None:
    url = xnat_site.server.url
    no_password = ingest(
        "init", "--kind", "xnat", "--node", url, "--project", "P", "--user", USER, ws=tmp_path / "a"
    )
    assert no_password.returncode == 1
    assert "--user needs --password-file" in no_password.stderr
    bad_kind = ingest(
        "init", "--kind", "orthanc", "--node", url, "--project", "P", "--token", "t", ws=tmp_path / "b"
    )
    assert bad_kind.returncode == 1
    assert "--kind must be eucaim or xnat" in bad_kind.stderr
