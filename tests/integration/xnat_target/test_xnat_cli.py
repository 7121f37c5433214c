"""`eucaim-ingest init --kind xnat` then `scan` and `push`, as processes, against the XNAT emulator."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import Cohort
from eucaim.errors import ConfigError
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace

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

    with Workspace.open(ws) as opened:  # scanning is not what this test is about: in-process
        scan_paths(opened.state, [cohort.root])
    pushed = ingest("push", ws=ws)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert sum(archive_digests(xnat_site).values()) == len(cohort.files)
    assert PASSWORD not in pushed.stdout + pushed.stderr
    with Workspace.open(ws) as opened:
        counts = opened.state.counts_by_state()
        assert counts[InstanceState.VERIFIED] == sum(counts.values()) == len(cohort.files)


def test_init_kind_xnat_refuses_half_given_credentials(tmp_path: Path) -> None:
    from eucaim.ingest.cli.init import init

    url = "http://127.0.0.1:1"
    with pytest.raises(ConfigError, match="--user needs --password-file"):
        init(node=url, kind="xnat", project="P", user=USER, workspace=tmp_path / "a")
    with pytest.raises(ConfigError, match="--kind must be eucaim or xnat"):
        init(node=url, kind="orthanc", project="P", token="t", workspace=tmp_path / "b")
    with pytest.raises(ConfigError, match="name the same thing"):
        init(node=url, kind="xnat", project="P", biobank="Q", token="t", workspace=tmp_path / "c")
    with pytest.raises(ConfigError, match="--user and --password-file are for --kind xnat"):
        init(node=url, biobank="B", user=USER, token="t", workspace=tmp_path / "d")
    assert not (tmp_path / "a").exists()
