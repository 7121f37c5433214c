"""`eucaim-ingest ui` without a browser: who gets in, where it listens, what the picker shows, pausing."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from typer.testing import CliRunner

from eucaim.dicom.synthetic import generate_cohort
from eucaim.errors import ConfigError
from eucaim.ingest.cli import app as ingest_app
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.memory import MemoryTarget
from eucaim.ingest.web.deps import upload_path
from eucaim.ingest.web.jobs import Job, JobRunner, JobStatus
from eucaim.ingest.web.transfer import run_push
from eucaim.ingest.workspace import Workspace
from tests.ui.conftest import RunningUi


def test_every_page_needs_the_token_and_a_wrong_one_is_refused(ui_server: RunningUi) -> None:
    # A browser names the page a form comes from (Origin); the server refuses forms from elsewhere.
    client = httpx.Client(base_url=ui_server.url, headers={"Origin": ui_server.url})
    for path in (
        "/",
        "/sources",
        "/review",
        "/transfer",
        "/transfer/progress",
        "/clinical",
        "/status",
        "/dataset",
    ):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), path
    assert client.post("/init", data={"node": "x"}, follow_redirects=False).status_code == 303
    refused = client.post("/login", data={"token": "guess"})
    assert refused.status_code == 401 and "That token is not valid for this server." in refused.text
    signed_in = client.get(ui_server.login_url, follow_redirects=False)
    assert signed_in.status_code == 303
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert "samesite=strict" in signed_in.headers["set-cookie"].lower()
    # The cookie is a session id of its own, never the start token printed in the terminal.
    assert ui_server.settings.token not in signed_in.headers["set-cookie"]
    page = client.get("/")
    assert page.status_code == 200 and "1. Connect to the node" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/job").json() == {"status": None}
    # Signing out ends the session: the same cookie no longer opens anything.
    cookie = client.cookies.get("eucaim_ingest_ui")
    assert client.post("/logout", follow_redirects=False).headers["location"] == "/login"
    again = httpx.get(f"{ui_server.url}/", cookies={"eucaim_ingest_ui": cookie or ""}, follow_redirects=False)
    assert again.headers["location"] == "/login"


def test_a_form_posted_from_another_page_is_refused(ui_server: RunningUi, tmp_path: Path) -> None:
    client = httpx.Client(base_url=ui_server.url, follow_redirects=True)
    client.get(ui_server.login_url)
    node, form = {"node": "http://127.0.0.1:9", "biobank": "bb", "token": "t"}, "/init"
    # Another web application on this machine (another port is the same "site" for SameSite):
    for headers in ({"Origin": "http://127.0.0.1:1"}, {"Referer": "http://evil.example/x"}, {}):
        refused = client.post(form, data=node, headers=headers)
        assert refused.status_code == 403, headers
        assert "not sent from this application's own page" in refused.text
    assert not (tmp_path / "ws").exists()
    # Behind a TLS proxy: the browser names the proxy, which passes its host on.
    proxied = {"Origin": "https://ui.hospital.example", "X-Forwarded-Host": "ui.hospital.example"}
    assert client.post("/logout", headers=proxied, follow_redirects=False).status_code == 303
    client.get(ui_server.login_url)
    done = client.post(form, data=node, headers={"Referer": f"{ui_server.url}/"}, follow_redirects=False)
    assert done.status_code == 303 and (tmp_path / "ws" / "config.toml").is_file()


def test_the_folder_picker_stays_inside_its_root(ui_server: RunningUi, tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    client = httpx.Client(base_url=ui_server.url, follow_redirects=True)
    client.get(ui_server.login_url)
    inside = client.get("/sources", params={"dir": str(tmp_path)})
    assert ">exports/</a>" in inside.text
    outside = client.get("/sources", params={"dir": "/etc"})
    assert f"Choose a folder inside {tmp_path.resolve()}." in outside.text
    assert "passwd" not in outside.text


def test_ui_refuses_a_non_loopback_address_without_allow_remote(tmp_path: Path) -> None:
    result = CliRunner().invoke(ingest_app, ["ui", "--host", "0.0.0.0", "-w", str(tmp_path / "ws")])
    assert result.exit_code != 0
    assert "refusing to listen on 0.0.0.0" in str(result.exception)


def test_pause_stops_sending_and_resume_sends_the_rest(tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=1, slices=(1, 2))
    target = MemoryTarget()
    node = NodeConfig(url="http://127.0.0.1:9", biobank="bb")
    with Workspace.create(tmp_path / "ws", node, token="x") as ws:
        scan_paths(ws.state, [cohort.root])
        paused = Job("push", "eucaim-ingest push")
        paused.pause_requested = True
        assert run_push(ws, paused, target) == "paused"
        # Nothing reached the node; what was de-identified waits in the outbox, the rest is pending.
        counts = ws.state.counts_by_state()
        assert target.requests == 0 and target.store == {}
        assert counts[InstanceState.VERIFIED] == 0 and counts[InstanceState.QUARANTINED] == 0
        assert counts[InstanceState.DEIDENTIFIED] + counts[InstanceState.PENDING] == len(cohort.files)
        resumed = Job("push", "eucaim-ingest push")
        assert run_push(ws, resumed, target) == "complete"
        assert ws.state.counts_by_state()[InstanceState.VERIFIED] == len(cohort.files)


def test_an_uploaded_file_lands_in_its_folder_whatever_its_name(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    folder = tmp_path / "ws" / "clinical"
    assert upload_path(folder, "../../config.toml") == folder / "config.toml"
    assert upload_path(folder, "/etc/passwd") == folder / "passwd"
    assert upload_path(folder, "..") is None
    assert upload_path(folder, "") is None
    assert upload_path(folder, None) is None


def test_a_check_runs_beside_a_transfer_but_two_writers_never_run_together() -> None:
    runner, release = JobRunner(), threading.Event()

    def blocked(job: Job) -> str:
        job.progress = "halfway"
        release.wait(10)
        return "done"

    assert runner.start(Job("push", "eucaim-ingest push"), blocked)
    assert not runner.start(Job("clinical-push", "eucaim-ingest clinical push f.csv"), blocked)
    assert runner.busy and runner.current is not None and runner.current.kind == "push"
    # The doctor only reads: it runs now, but never twice at once.
    assert runner.start(Job("doctor", "eucaim-ingest doctor"), blocked, exclusive=False)
    assert not runner.start(Job("doctor", "eucaim-ingest doctor"), blocked, exclusive=False)
    assert runner.current.kind == "push" and runner.last["doctor"].progress == "halfway"
    release.set()
    runner.wait(5)
    runner.wait(5, kind="doctor")
    assert {kind: job.status for kind, job in runner.last.items()} == {
        "push": JobStatus.FINISHED,
        "doctor": JobStatus.FINISHED,
    }

    def broken(job: Job) -> str:
        raise ConfigError("the node could not create dataset d1: no such series", hint="run restart")

    assert runner.start(Job("dataset-create", "eucaim-ingest dataset create --name x"), broken)
    runner.wait(5)
    failed = runner.last["dataset-create"]
    assert failed.status is JobStatus.FAILED and "no such series (run restart)" in failed.error
    assert runner.last["push"].result == "done"  # each kind keeps its own last outcome


def test_a_running_dataset_creation_shows_its_progress_and_the_command(ui_server: RunningUi) -> None:
    settings = ui_server.settings
    Workspace.create(
        settings.workspace, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="x"
    ).close()
    release = threading.Event()

    def building(job: Job) -> str:
        job.progress = "dataset d1: indexing series (40%)"
        release.wait(10)
        return "dataset d1 created"

    command = "eucaim-ingest dataset create --name Lungs --series 1.2.3 -w ws"
    form = {"name": "Lungs", "description": "", "scope": "series", "ids": {}, "previous": None}
    assert settings.jobs.start(Job("dataset-create", command, detail={"form": form}), building)
    try:
        client = httpx.Client(base_url=ui_server.url, follow_redirects=True)
        client.get(ui_server.login_url)
        page = client.get("/dataset")
        assert "The node is building the dataset…" in page.text
        assert "dataset d1: indexing series (40%)" in page.text and command in page.text
        assert 'data-poll-job="/job"' in page.text  # the page reloads itself when the job ends
        assert client.get("/job").json()["progress"] == "dataset d1: indexing series (40%)"
        # Another writer must wait; the page says so rather than starting it.
        settings.clinical_file = settings.workspace / "clinical.csv"
        settings.clinical_file.write_text("patient_id\n", encoding="utf-8")
        busy = client.post("/clinical/push", headers={"Origin": ui_server.url})
        assert "Another operation is still running" in busy.text
    finally:
        release.set()
        settings.jobs.wait(5)
