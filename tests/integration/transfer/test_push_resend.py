"""`push --resend` / `--reverify`: a data manager re-sends what the node lost, against our real node.

The program runs as a data manager runs it (a process); the node is ours, in a thread, and the
tests remove objects behind its back through its own store, the way a lost disk would.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from eucaim.ingest.state.db import InstanceRow
from eucaim.ingest.state.states import InstanceState, QuarantineReason
from eucaim.ingest.workspace import Workspace
from eucaim.node.db import session_scope
from eucaim.node.models import Instance
from tests.support.node_server import SeededNode, deidentified_instance

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


@dataclass
class Sent:
    """A workspace whose three studies (one, one and two instances) are verified on the node."""

    ws: Path
    source: Path
    node: SeededNode

    def rows(self) -> list[InstanceRow]:
        with Workspace.open(self.ws) as ws:
            return ws.state.instances()

    def study(self, patient: str) -> list[InstanceRow]:
        return [r for r in self.rows() if r.patient_id == patient]

    def key_of(self, row: InstanceRow) -> str:
        (key,) = [k for k, o in self.node.node.stored_objects().items() if o.sha256 == row.out_sha256]
        return key

    def last_report(self) -> dict[str, object]:
        reports = sorted((self.ws / "reports").glob("push-*.json"), key=lambda p: p.stat().st_mtime_ns)
        summary: dict[str, object] = json.loads(reports[-1].read_text())["summary"]
        return summary

    def wado(self, row: InstanceRow) -> httpx.Response:
        return httpx.get(
            f"{self.node.dicomweb_url}/studies/{row.out_study_uid}/series/{row.out_series_uid}"
            f"/instances/{row.out_sop_uid}",
            headers=self.node.node.auth(self.node.ingester_token),
        )


@pytest.fixture
def sent(seeded_node: SeededNode, tmp_path: Path) -> Sent:
    source = tmp_path / "hospital"
    deidentified_instance(source / "a.dcm", patient_id="HOSP-A", identity_removed=None, pixel_seed=1)
    deidentified_instance(source / "b.dcm", patient_id="HOSP-B", identity_removed=None, pixel_seed=2)
    study, series = "1.2.826.0.1.3680043.10.1.1", "1.2.826.0.1.3680043.10.1.1.1"
    for i in (1, 2):
        deidentified_instance(
            source / f"c{i}.dcm",
            patient_id="HOSP-C",
            study_uid=study,
            series_uid=series,
            instance_number=i,
            identity_removed=None,
            pixel_seed=10 + i,
        )
    ws = tmp_path / "ws"
    init = ingest("init", "--node", seeded_node.url, "--biobank", seeded_node.biobank,
                  "--token", seeded_node.ingester_token, ws=ws)  # fmt: skip
    assert init.returncode == 0, init.stderr
    push = ingest("push", str(source), ws=ws)
    assert push.returncode == 0, push.stdout + push.stderr
    result = Sent(ws, source, seeded_node)
    assert {r.state for r in result.rows()} == {InstanceState.VERIFIED}
    assert list((ws / "outbox").glob("*.dcm")) == []  # push cleaned its outbox copies
    return result


def _wado_bytes(response: httpx.Response) -> bytes:
    header = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + response.content)
    ((payload,),) = [[part.get_payload(decode=True)] for part in message.iter_parts()]
    assert isinstance(payload, bytes)
    return payload


def test_resend_a_study_puts_back_the_object_the_node_lost(sent: Sent) -> None:
    (lost,) = sent.study("HOSP-A")
    (kept,) = sent.study("HOSP-B")
    key = sent.key_of(lost)
    kept_version = sent.node.node.stored_objects()[sent.key_of(kept)].version
    sent.node.node.delete_object(key)
    assert key not in sent.node.node.stored_objects()

    # The operator names the study as the node knows it (its de-identified UID).
    again = ingest("push", "--resend", "--study", lost.out_study_uid or "", ws=sent.ws)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "re-sent: 1 of 1 instances; 1 de-identified again from the source" in again.stdout
    objects = sent.node.node.stored_objects()
    assert objects[key].sha256 == lost.out_sha256
    response = sent.wado(lost)
    assert response.status_code == 200
    assert hashlib.sha256(_wado_bytes(response)).hexdigest() == lost.out_sha256
    assert objects[sent.key_of(kept)].version == kept_version, "a study not chosen is not sent again"
    report = sent.last_report()
    assert (report["resend_selected"], report["resent"], report["resend_not_verified"]) == (1, 1, {})
    assert {r.state for r in sent.rows()} == {InstanceState.VERIFIED}
    (after,) = sent.study("HOSP-A")
    assert (after.out_sop_uid, after.out_sha256) == (lost.out_sop_uid, lost.out_sha256)
    assert list((sent.ws / "outbox").glob("*.dcm")) == []


def test_resend_a_patient_by_original_id_makes_the_same_bytes_again(sent: Sent) -> None:
    before = sent.study("HOSP-C")
    assert len(before) == 2

    again = ingest("push", "--resend", "--patient", "HOSP-C", ws=sent.ws)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "re-sent: 2 of 2 instances; 2 de-identified again from the source" in again.stdout
    after = sent.study("HOSP-C")
    assert [(r.out_sop_uid, r.out_sha256) for r in after] == [(r.out_sop_uid, r.out_sha256) for r in before]
    assert all(r.state is InstanceState.VERIFIED for r in after)
    assert sent.last_report()["resent"] == 2


def test_resend_with_the_outbox_copy_still_there_sends_it_as_it_is(sent: Sent) -> None:
    (row,) = sent.study("HOSP-B")
    key = sent.key_of(row)
    assert row.out_path
    Path(row.out_path).write_bytes(_wado_bytes(sent.wado(row)))  # as transfer.keep_outbox leaves it
    sent.node.node.delete_object(key)

    again = ingest("push", "--resend", "--series", row.series_uid, ws=sent.ws)  # the original UID

    assert again.returncode == 0, again.stdout + again.stderr
    assert "re-sent: 1 of 1 instances\n" in again.stdout, "the outbox copy is sound: no de-identification"
    assert sent.node.node.stored_objects()[key].sha256 == row.out_sha256
    assert sent.last_report()["resend_deidentified_again"] == 0


def test_resend_when_the_source_is_gone_too_quarantines_and_says_so(sent: Sent) -> None:
    (row,) = sent.study("HOSP-A")
    Path(row.path).unlink()

    again = ingest("push", "--resend", "--study", row.study_uid, ws=sent.ws)

    assert again.returncode == 1
    assert "re-sent: 0 of 1 instances" in again.stdout
    assert "not re-sent: 1 source_missing (the outbox copy and the source file are both gone" in again.stderr
    (after,) = sent.study("HOSP-A")
    assert (after.state, after.reason) == (InstanceState.QUARANTINED, QuarantineReason.SOURCE_MISSING)
    assert after.out_sha256 == row.out_sha256
    assert sent.last_report()["resend_not_verified"] == {"source_missing": 1}


def test_resend_refuses_a_copy_that_would_differ_from_the_verified_one(sent: Sent) -> None:
    (row,) = sent.study("HOSP-B")
    source = Path(row.path)
    st = source.stat()
    data = bytearray(source.read_bytes())
    data[-1] ^= 0xFF  # a pixel changed, same size and mtime: the scan cannot tell
    source.write_bytes(bytes(data))
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    version = sent.node.node.stored_objects()[sent.key_of(row)].version

    again = ingest("push", "--resend", "--patient", row.pseudonym or "", ws=sent.ws)

    assert again.returncode == 1
    assert "not re-sent: 1 source_changed" in again.stderr
    (after,) = sent.study("HOSP-B")
    assert (after.state, after.reason) == (InstanceState.QUARANTINED, QuarantineReason.SOURCE_CHANGED)
    assert "differs from the one the node verified" in (after.last_error or "")
    assert sent.node.node.stored_objects()[sent.key_of(row)].version == version, "nothing was sent"
    assert list((sent.ws / "outbox").glob("*.dcm")) == []


def test_resend_needs_a_scope(sent: Sent) -> None:
    bare = ingest("push", "--resend", ws=sent.ws)
    assert bare.returncode != 0
    assert "--resend needs a scope" in bare.stderr and "--all" in bare.stderr
    nothing = ingest("push", "--resend", "--study", "1.2.3.4", ws=sent.ws)
    assert nothing.returncode != 0
    assert "no verified instance to take (nothing matches --study 1.2.3.4)" in nothing.stderr
    stray = ingest("push", "--study", "1.2.3.4", ws=sent.ws)
    assert stray.returncode != 0
    assert "--resend or --reverify" in stray.stderr
    assert {r.state for r in sent.rows()} == {InstanceState.VERIFIED}


def test_resend_all_sends_everything_again(sent: Sent) -> None:
    again = ingest("push", "--resend", "--all", ws=sent.ws)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "re-sent: 4 of 4 instances" in again.stdout
    assert {r.state for r in sent.rows()} == {InstanceState.VERIFIED}


def test_reverify_resends_only_what_the_node_no_longer_lists(sent: Sent) -> None:
    first, second = sent.study("HOSP-C")
    version = sent.node.node.stored_objects()[sent.key_of(second)].version
    # The node forgets one instance (its index row and its object), as an operator's clean-up might.
    with session_scope(sent.node.node.context.sessions) as session:
        session.execute(delete(Instance).where(Instance.sop_instance_uid == first.out_sop_uid))
    sent.node.node.delete_object(sent.key_of(first))

    again = ingest("push", "--reverify", "--patient", "HOSP-C", ws=sent.ws)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "re-sent: 1 of 1 instances (1 of the 2 checked are still on the node)" in again.stdout
    assert sent.wado(first).status_code == 200
    assert sent.node.node.stored_objects()[sent.key_of(second)].version == version
    report = sent.last_report()
    assert (report["resend_selected"], report["reverified"], report["resent"]) == (2, 1, 1)
