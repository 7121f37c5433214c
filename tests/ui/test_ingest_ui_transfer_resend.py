"""Step 4's "Send again what the node lost" in Chromium: `push --resend --study` from the page.

A transfer verifies everything on our node; the node then loses one object behind its back (its
own store, as a lost disk would); the form with that study puts it back through the same runner,
and says so. A form without ids is refused next to the field, and nothing starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from eucaim.ingest.config import NodeConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace
from tests.support.node_server import SeededNode, deidentified_instance
from tests.ui.conftest import RunningUi

pytestmark = pytest.mark.ui


def test_a_study_the_node_lost_is_sent_again_from_the_transfer_page(
    page: Page, ui_server: RunningUi, seeded_node: SeededNode, tmp_path: Path
) -> None:
    source = tmp_path / "hospital"  # two studies of one instance each
    deidentified_instance(source / "a.dcm", patient_id="HOSP-A", identity_removed=None, pixel_seed=1)
    deidentified_instance(source / "b.dcm", patient_id="HOSP-B", identity_removed=None, pixel_seed=2)
    ws_path = ui_server.settings.workspace
    node = NodeConfig(url=seeded_node.url, biobank=seeded_node.biobank)
    with Workspace.create(ws_path, node, token=seeded_node.ingester_token) as ws:
        scan_paths(ws.state, [source])
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/transfer")
    page.get_by_role("button", name="Start transfer").click()
    expect(page.get_by_text("Transfer complete: every instance is verified on the node.")).to_be_visible(
        timeout=60_000
    )
    with Workspace.open(ws_path) as ws:
        rows = ws.state.instances()
    assert {r.state for r in rows} == {InstanceState.VERIFIED} and len(rows) == 2
    lost = rows[0]
    objects = seeded_node.node.stored_objects()
    (key,) = [k for k, o in objects.items() if o.sha256 == lost.out_sha256]
    others = {k: o.version for k, o in objects.items() if k != key}
    seeded_node.node.delete_object(key)
    assert key not in seeded_node.node.stored_objects()

    # No ids and not "all": refused next to the field, nothing starts.
    page.goto(ui_server.url + "/transfer")
    form = page.locator("#resend-form")
    form.get_by_label("Studies").check()
    form.get_by_role("button", name="Send again").click()
    expect(page.locator("#resend-ids-error")).to_have_text(
        "Give at least one id, or choose All verified instances."
    )
    expect(page.get_by_label("Ids to send again")).to_have_attribute("aria-invalid", "true")
    # An id that matches nothing: the CLI's own refusal.
    page.get_by_label("Ids to send again").fill("1.2.3.4")
    page.locator("#resend-form").get_by_role("button", name="Send again").click()
    expect(page.locator("#resend-ids-error")).to_have_text(
        "--resend: no verified instance to take (nothing matches --study 1.2.3.4) "
        "(`eucaim-ingest status --by study --reveal` lists what this workspace sent)"
    )
    assert key not in seeded_node.node.stored_objects()

    # The study as the node knows it (its de-identified UID), re-sent.
    page.get_by_label("Ids to send again").fill(f"{lost.out_study_uid}\n")
    page.locator("#resend-form").get_by_label("Re-send").check()
    page.locator("#resend-form").get_by_role("button", name="Send again").click()
    expect(page.get_by_text("Transfer complete: every instance is verified on the node.")).to_be_visible(
        timeout=60_000
    )
    expect(page.locator("#transfer")).to_contain_text("re-sent: 1 of 1 instances")
    expect(page.locator("#verified-line")).to_have_text("2 of 2 instances")
    expect(page.locator("aside.cli")).to_contain_text(
        f"eucaim-ingest push --resend --study {lost.out_study_uid} -w"
    )
    after = seeded_node.node.stored_objects()
    assert after[key].sha256 == lost.out_sha256, "the lost object is back, the same bytes"
    assert {k: o.version for k, o in after.items() if k != key} == others, "nothing else was sent again"
    with Workspace.open(ws_path) as ws:
        assert {r.state for r in ws.state.instances()} == {InstanceState.VERIFIED}
