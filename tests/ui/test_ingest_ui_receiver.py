"""The C-STORE receiver started from the sources page, in Chromium, with dcmtk and Orthanc as senders.

What `eucaim-ingest receive` does, from the page: bad settings are refused next to their field, a
storescu push shows up in the live count and in the workspace's index, a C-MOVE retrieve made
from the page goes through the running receiver, and Stop frees the port with the final counts.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from eucaim.ingest.config import NodeConfig
from eucaim.ingest.web.app import create_app, new_token
from eucaim.ingest.web.deps import UiSettings
from eucaim.ingest.web.receiver import running_receiver, stop_receiver
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import make_workspace, upload_study
from tests.integration.pacs_cli.test_receive_cli import storescu, write_study
from tests.support.orthanc import OrthancServer, free_port
from tests.ui.conftest import RunningUi
from tests.ui.test_ingest_ui_accessibility import _violations

pytestmark = pytest.mark.ui

AET = "EUCAIMRX"  # the AE title storescu calls (tests.integration.pacs_cli.test_receive_cli.AET)


@pytest.fixture
def receiver_stopped(ui_server: RunningUi) -> Iterator[None]:
    """Whatever a failing test left listening is stopped, so the port is free for the next test."""
    yield
    stop_receiver(ui_server.settings.workspace)


def _open_sources(page: Page, ui: RunningUi) -> None:
    page.goto(ui.login_url)
    page.goto(ui.url + "/sources")


def test_a_storescu_push_into_the_receiver_started_in_the_page_is_counted_live_and_indexed(
    page: Page, ui_server: RunningUi, receiver_stopped: None, tmp_path: Path, shots: Path
) -> None:
    Workspace.create(
        ui_server.settings.workspace, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="x"
    ).close()
    uids = write_study(tmp_path / "send", 12)
    _open_sources(page, ui_server)
    receiver = page.get_by_role("region", name="Receive studies the PACS sends (C-STORE receiver)")

    # A bad AE title, then a port another program holds: each refused next to its own field.
    receiver.get_by_label("Receiver AE title").fill("AN AE TITLE FAR TOO LONG")
    receiver.get_by_label("Receiver port").fill("104x")
    receiver.get_by_label("Listen on address").fill("127.0.0.1")
    receiver.get_by_role("button", name="Start receiver").click()
    expect(page.locator("#rx-ae-error")).to_contain_text("must have 1 to 16 printable ASCII characters")
    expect(page.get_by_label("Receiver AE title")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Receiver AE title")).to_have_value("AN AE TITLE FAR TOO LONG")  # kept
    page.get_by_label("Receiver AE title").fill(AET)
    page.get_by_role("button", name="Start receiver").click()
    expect(page.locator("#rx-port-error")).to_have_text("port '104x' is not a number")
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        page.get_by_label("Receiver port").fill(str(busy.getsockname()[1]))
        page.get_by_role("button", name="Start receiver").click()
        expect(page.locator("#rx-port-error")).to_contain_text(
            f"cannot listen on 127.0.0.1:{busy.getsockname()[1]}"
        )
        expect(page.locator("#rx-port-error")).to_contain_text("choose a free port")
    expect(page.locator("#rx-ae-error")).to_have_count(0)

    port = free_port()
    page.get_by_label("Receiver port").fill(str(port))
    page.get_by_label("Accept only these sending AE titles").fill("PACS")
    page.get_by_role("button", name="Start receiver").click()
    expect(page.locator("#receiver-state")).to_have_text(
        f"Listening as {AET} on 127.0.0.1:{port}. Accepting only PACS."
    )
    expect(receiver).to_contain_text(
        f"eucaim-ingest receive --ae-title {AET} --port {port} --bind 127.0.0.1 --allow-aet PACS -w"
    )
    expect(page.locator("#receiver-count")).to_have_text("0 instances received, 0 indexed")

    # The page is not reloaded: the count follows what arrives.
    sent = storescu(port, tmp_path / "send")
    assert sent.returncode == 0, sent.stderr
    refused = storescu(port, tmp_path / "send", calling="INTRUDER")
    assert refused.returncode != 0  # not an accepted sender
    expect(page.locator("#receiver-count")).to_have_text("12 instances received, 12 indexed")
    page.screenshot(path=shots / "02-receiver.png", full_page=True)

    page.get_by_role("button", name="Stop receiver").click()
    expect(page.locator("#receiver-final")).to_have_text(
        "Receiver stopped: 12 instances received, 12 indexed, 0 duplicate copies, "
        "0 not usable DICOM, 0 refused."
    )
    expect(page.locator("#indexed")).to_have_text("12 instances of 1 patients, 1 studies, 1 series indexed.")
    with socket.socket() as again:  # the port is free once stopped
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
    with Workspace.open(ui_server.settings.workspace) as ws:
        rows = ws.state.instances()
    assert sorted(r.sop_uid for r in rows) == sorted(uids)
    received = (ui_server.settings.workspace / "incoming" / "received").resolve()
    assert all(Path(r.path).parent.resolve() == received for r in rows)


def test_a_c_move_retrieve_from_the_page_goes_through_the_receiver_started_there(
    page: Page,
    ui_server: RunningUi,
    receiver_stopped: None,
    orthanc_clean: OrthancServer,
    tmp_path: Path,
    shots: Path,
) -> None:
    src = tmp_path / "pacs-src"
    wanted = upload_study(orthanc_clean, src / "a", patient_id="MOVEPAT", accession="MACC1",
                          study_date="20240115", count=4)  # fmt: skip
    upload_study(orthanc_clean, src / "b", patient_id="OTHERPAT", accession="MACC2", study_date="20240116")
    make_workspace(ui_server.settings.workspace, orthanc_clean)
    _open_sources(page, ui_server)

    # Orthanc knows our AE title at the receiver port: start the receiver there from the page.
    page.get_by_label("Receiver AE title").fill(orthanc_clean.receiver_aet)
    page.get_by_label("Receiver port").fill(str(orthanc_clean.receiver_port))
    page.get_by_label("Listen on address").fill("127.0.0.1")
    page.get_by_role("button", name="Start receiver").click()
    expect(page.locator("#receiver-count")).to_have_text("0 instances received, 0 indexed")

    # Search by patient ID: one study; retrieve it by C-MOVE.
    page.get_by_label("Patient ID", exact=True).fill("MOVEPAT")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#pacs-outcome")).to_have_text("1 studies found (1 queries)")
    expect(page.locator("#pacs-table tbody tr")).to_have_count(1)
    expect(page.locator("#move-help")).to_have_text(
        f"C-MOVE sends to the receiver running below as {orthanc_clean.receiver_aet} "
        f"on port {orthanc_clean.receiver_port}."
    )
    page.get_by_label("C-MOVE: the PACS sends them to our receiver").check()
    page.get_by_role("button", name="Retrieve ticked studies").click()
    expect(page.locator("#pacs-outcome")).to_have_text(
        "C-MOVE: 1 of 1 studies complete, 4 instances indexed", timeout=30_000
    )
    expect(page.locator("#pacs-instances")).to_have_text("4 of 4 instances in the workspace")
    expect(page.locator("#indexed")).to_have_text("4 instances of 1 patients, 1 studies, 1 series indexed.")
    expect(page.locator("#receiver-count")).to_have_text("4 instances received, 4 indexed")
    expect(page.locator("#pacs")).to_contain_text(
        "eucaim-ingest pacs retrieve --patient-id MOVEPAT --method move -w"
    )
    page.screenshot(path=shots / "02-pacs-move.png", full_page=True)

    # The receiver still listens after the retrieve, for what the PACS sends on its own.
    expect(page.locator("#receiver-state")).to_contain_text(f"Listening as {orthanc_clean.receiver_aet}")
    with Workspace.open(ui_server.settings.workspace) as ws:
        rows = ws.state.instances()
    assert sorted(r.sop_uid for r in rows) == sorted(wanted.sop_uids)
    study_folder = (ui_server.settings.workspace / "incoming" / wanted.study_uid).resolve()
    assert all(Path(r.path).parent.resolve() == study_folder for r in rows)
    page.get_by_role("button", name="Stop receiver").click()
    expect(page.locator("#receiver-final")).to_contain_text("Receiver stopped: 4 instances received")

    # Without the page's receiver, C-MOVE starts one for the retrieve on the configured port, as the CLI does.
    page.get_by_label("Patient ID", exact=True).fill("OTHERPAT")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#move-help")).to_have_text(
        f"C-MOVE starts a receiver as {orthanc_clean.receiver_aet} on port {orthanc_clean.receiver_port} "
        "for the retrieve."
    )
    page.get_by_label("C-MOVE: the PACS sends them to our receiver").check()
    page.get_by_role("button", name="Retrieve ticked studies").click()
    expect(page.locator("#pacs-outcome")).to_have_text(
        "C-MOVE: 1 of 1 studies complete, 2 instances indexed", timeout=30_000
    )
    expect(page.locator("#indexed")).to_have_text("6 instances of 2 patients, 2 studies, 2 series indexed.")


def test_pacs_receiver_and_transfer_options_pass_axe_with_results_errors_and_live_counts(
    browser: Browser,
    ui_server: RunningUi,
    receiver_stopped: None,
    orthanc_clean: OrthancServer,
    tmp_path: Path,
    axe_script: Path,
) -> None:
    """States the main accessibility test does not reach: results table, running receiver, field errors."""
    upload_study(
        orthanc_clean, tmp_path / "src", patient_id="AXEPAT", accession="AXE1", study_date="20240115"
    )
    make_workspace(ui_server.settings.workspace, orthanc_clean)
    # The app's Content-Security-Policy rightly refuses injected scripts; only the checker may bypass it.
    page = browser.new_context(bypass_csp=True, viewport={"width": 1366, "height": 820}).new_page()
    _open_sources(page, ui_server)
    found: dict[str, list[str]] = {}

    page.get_by_label("Receiver AE title").fill("AN AE TITLE FAR TOO LONG")
    page.get_by_role("button", name="Start receiver").click()
    expect(page.locator("#rx-ae-error")).to_be_visible()
    found["receiver error"] = _violations(page, axe_script)

    page.get_by_label("Receiver AE title").fill(AET)
    page.get_by_label("Receiver port").fill(str(free_port()))
    page.get_by_label("Listen on address").fill("127.0.0.1")
    page.get_by_role("button", name="Start receiver").click()
    page.get_by_label("Patient ID", exact=True).fill("AXEPAT")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#pacs-table tbody tr")).to_have_count(1)
    expect(page.locator("#receiver-count")).to_be_visible()
    found["results and running receiver"] = _violations(page, axe_script)

    page.goto(ui_server.url + "/transfer")
    page.get_by_label("Send only between (daily, local time)").fill("25:00-06:00")
    page.get_by_label("Requests in flight at once").fill("99")
    page.get_by_role("button", name="Start transfer").click()
    expect(page.locator("#window-error")).to_be_visible()
    found["transfer option errors"] = _violations(page, axe_script)
    assert {k: v for k, v in found.items() if v} == {}


def test_stopping_the_ui_server_stops_its_receiver_and_frees_the_port(tmp_path: Path) -> None:
    """Ctrl-C on `eucaim-ingest ui` must not leave the receiver's port held or its last files unindexed."""
    Workspace.create(tmp_path / "ws", NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="x").close()
    settings = UiSettings(workspace=tmp_path / "ws", browse_root=tmp_path, token=new_token())
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    port = free_port()
    try:
        with httpx.Client(base_url=url, headers={"Origin": url}) as client:
            client.get(f"/login?token={settings.token}")
            started = client.post(
                "/sources/pacs/receiver/start",
                data={"ae_title": AET, "port": str(port), "bind": "127.0.0.1", "allow": ""},
            )
            assert started.status_code == 303, started.text
        assert running_receiver(settings.workspace) is not None
        with socket.socket() as probe:  # it listens
            probe.connect(("127.0.0.1", port))
    finally:
        server.should_exit = True
        thread.join(10)
    assert running_receiver(settings.workspace) is None
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
