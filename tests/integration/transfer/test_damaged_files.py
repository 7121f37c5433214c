"""A damaged file that the de-identifier did not foresee is quarantined; the push finishes the rest.

pydicom raises more than ``InvalidDicomError`` on some damage (an unknown VR gives
``NotImplementedError``). Such a file passes the scan (which reads only a few attributes) and used
to end every push with a traceback, so no transfer containing it could ever finish.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.pipeline.runner import PushOptions
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.db import StateDB
from eucaim.ingest.state.states import InstanceState, QuarantineReason
from tests.integration.transfer.conftest import Endpoint, SleepLog, Transfer, fast_retry, push_until_done

pytestmark = pytest.mark.integration
PIXEL_REPRESENTATION_US = bytes.fromhex("28000301") + b"US"
PATIENT_ID_LO = bytes.fromhex("10002000") + b"LO"


def _give_unknown_vr(path: Path, element: bytes) -> None:
    raw = path.read_bytes()
    at = raw.index(element) + 4
    path.write_bytes(raw[:at] + b"\x55\xb0" + raw[at + 2 :])  # a VR no DICOM edition defines


@pytest.mark.parametrize("endpoint", ["node"], indirect=True)
def test_a_file_with_an_unknown_vr_is_quarantined_and_the_rest_is_sent(
    endpoint: Endpoint, transfer: Transfer
) -> None:
    victim = transfer.cohort.files[0]
    _give_unknown_vr(victim, PIXEL_REPRESENTATION_US)
    stat = victim.stat()
    with transfer.ws.state.transaction() as conn:  # as if the damage was there when it was scanned
        conn.execute(
            "UPDATE instances SET size=?, mtime_ns=? WHERE path=?",
            (stat.st_size, stat.st_mtime_ns, str(victim)),
        )

    summary = push_until_done(
        transfer.ws,
        lambda: endpoint.target(fast_retry(SleepLog())),
        PushOptions(workers=2, concurrency=2, batch_bytes=8 * 1024),
        max_runs=1,
    )[0]

    assert summary.fatal is None
    [bad] = transfer.ws.state.instances([InstanceState.QUARANTINED])
    assert bad.path == str(victim) and bad.reason == QuarantineReason.DEID_FAILED
    assert "may be damaged" in (bad.last_error or "")
    verified = transfer.ws.state.instances([InstanceState.VERIFIED])
    assert len(verified) == len(transfer.cohort.files) - 1
    assert endpoint.stored() == Counter(r.out_sop_uid for r in verified)


def test_scan_records_a_file_with_an_unknown_vr_in_an_identifier_as_a_problem(tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=1, image_size=8, slices=(1, 1))
    _give_unknown_vr(cohort.files[0], PATIENT_ID_LO)
    state = StateDB(tmp_path / "state.db")
    try:
        summary = scan_paths(state, [cohort.root])
    finally:
        state.close()
    assert [path for path, _, _ in summary.problems] == [str(cohort.files[0])]
    assert summary.new == len(cohort.files) - 1
