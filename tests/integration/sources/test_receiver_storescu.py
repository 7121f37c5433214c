"""The C-STORE receiver under real senders: a dcmtk storescu burst, pynetdicom, and bad input."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import pydicom
import pynetdicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, StoragePresentationContexts, build_context

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.sources.pacs import PacsClient, PacsConfig, PacsError
from eucaim.ingest.sources.receiver import Receiver
from tests.integration.sources.studies import write_instance
from tests.support.orthanc import free_port

pytestmark = pytest.mark.integration

AET = "EUCAIMTEST"


def write_files(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    study, series = str(generate_uid()), str(generate_uid())
    return [
        write_instance(
            folder / f"{n:04d}.dcm",
            patient_id="PAT1",
            accession="ACC1",
            study_uid=study,
            series_uid=series,
            study_date="20240101",
            modality="CT",
            number=n,
        )
        for n in range(count)
    ]


def require_storescu() -> str:
    path = shutil.which("storescu")
    if path is None:
        pytest.skip("dcmtk's storescu is not installed: apt-get install dcmtk")
    return path


def store_with_pynetdicom(port: int, payload: pydicom.Dataset | Path, called: str = AET) -> int:
    ae = AE(ae_title="SENDER")
    # Explicit VR first, so a file streamed unparsed (see below) matches the accepted syntax.
    ae.requested_contexts = [
        build_context(cx.abstract_syntax, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        for cx in StoragePresentationContexts
    ]
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(payload)
        return int(status.Status)
    finally:
        assoc.release()


def test_storescu_burst_of_200_files_in_one_association_is_stored_completely(tmp_path: Path) -> None:
    storescu = require_storescu()
    uids = write_files(tmp_path / "send", 200)
    port = free_port()
    seen: list[str] = []

    with Receiver(
        AET, port, tmp_path / "in", lambda _p, uid: seen.append(uid), bind_address="127.0.0.1"
    ) as rx:
        started = time.perf_counter()
        done = subprocess.run(
            [storescu, "-aet", "BURST", "-aec", AET, "+sd", "127.0.0.1", str(port), str(tmp_path / "send")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            # Debian's dcmtk leaves Nagle's algorithm on unless told; each instance would then wait
            # ~40 ms for our delayed ACK (200 files: 9 s instead of under 1 s).
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        elapsed = time.perf_counter() - started

    assert done.returncode == 0, done.stderr
    assert rx.stored == 200 and rx.failed == 0
    assert sorted(seen) == sorted(uids)
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == sorted(f"{u}.dcm" for u in uids)
    logging.getLogger(__name__).info("storescu burst: 200 files in %.2f s", elapsed)


def test_received_file_keeps_the_sent_dataset(tmp_path: Path) -> None:
    [uid] = write_files(tmp_path / "send", 1)
    sent = pydicom.dcmread(tmp_path / "send" / "0000.dcm")
    port = free_port()

    with Receiver(AET, port, tmp_path / "in", bind_address="127.0.0.1"):
        assert store_with_pynetdicom(port, sent) == 0x0000

    got = pydicom.dcmread(tmp_path / "in" / f"{uid}.dcm")
    assert got.PixelData == sent.PixelData
    assert got.PatientID == sent.PatientID
    assert got.file_meta.MediaStorageSOPInstanceUID == uid


def test_wrong_called_ae_title_is_rejected_with_a_hint(tmp_path: Path) -> None:
    port = free_port()
    config = PacsConfig("127.0.0.1", port, called_aet="SOMEONEELSE", calling_aet="SCU", timeout=5.0)

    with Receiver(AET, port, tmp_path / "in", bind_address="127.0.0.1"), pytest.raises(PacsError) as caught:
        PacsClient(config).echo()

    assert "called AE title not recognised" in str(caught.value)
    assert "SOMEONEELSE" in str(caught.value)


def test_only_listed_senders_are_accepted(tmp_path: Path) -> None:
    port = free_port()
    receiver = Receiver(
        AET, port, tmp_path / "in", bind_address="127.0.0.1", allowed_calling_aets=["THEPACS"]
    )

    def echo_from(calling: str) -> float:
        return PacsClient(PacsConfig("127.0.0.1", port, AET, calling, timeout=5.0)).echo()

    with receiver:
        assert echo_from("THEPACS") < 5.0
        with pytest.raises(PacsError, match="calling AE title not recognised"):
            echo_from("INTRUDER")


def test_echo_to_the_receiver_succeeds(tmp_path: Path) -> None:
    port = free_port()
    config = PacsConfig("127.0.0.1", port, called_aet=AET, calling_aet="SCU", timeout=5.0)

    with Receiver(AET, port, tmp_path / "in", bind_address="127.0.0.1"):
        assert PacsClient(config).echo() < 5.0


def test_unparsable_dataset_is_answered_cannot_understand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [uid] = write_files(tmp_path / "send", 1)
    path = tmp_path / "send" / "0000.dcm"
    meta_end = pydicom.dcmread(path).file_meta.get("FileMetaInformationGroupLength") + 12 + 132
    path.write_bytes(path.read_bytes()[:meta_end] + b"\x08\x00\x18\x00UI\xff\xff garbage")
    port = free_port()
    # Makes the sender stream the file's bytes as they are instead of parsing them first.
    monkeypatch.setattr(pynetdicom._config, "STORE_SEND_CHUNKED_DATASET", True)

    with Receiver(AET, port, tmp_path / "in", bind_address="127.0.0.1") as rx:
        status = store_with_pynetdicom(port, path)

    assert status == 0xC000
    assert rx.failed == 1
    assert not (tmp_path / "in" / f"{uid}.dcm").exists()


def test_unwritable_destination_is_answered_out_of_resources(tmp_path: Path) -> None:
    write_files(tmp_path / "send", 1)
    sent = pydicom.dcmread(tmp_path / "send" / "0000.dcm")
    port = free_port()

    with Receiver(AET, port, tmp_path / "in", bind_address="127.0.0.1") as rx:
        # The folder vanishing (unmounted share, cleanup job) is the disk error we can cause as root.
        shutil.rmtree(tmp_path / "in")
        status = store_with_pynetdicom(port, sent)

    assert status == 0xA700
    assert rx.failed == 1


def test_failing_callback_makes_the_sender_retry_and_keeps_the_file(tmp_path: Path) -> None:
    [uid] = write_files(tmp_path / "send", 1)
    sent = pydicom.dcmread(tmp_path / "send" / "0000.dcm")
    port = free_port()

    def broken_index(_path: Path, _uid: str) -> None:
        raise RuntimeError("workspace database locked")

    with Receiver(AET, port, tmp_path / "in", broken_index, bind_address="127.0.0.1"):
        status = store_with_pynetdicom(port, sent)

    assert status == 0x0110
    assert (tmp_path / "in" / f"{uid}.dcm").exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with Receiver(AET, port, tmp_path / "a", bind_address="127.0.0.1"):
        second = Receiver(AET, port, tmp_path / "b", bind_address="127.0.0.1")
        with pytest.raises(Exception, match=f"cannot listen on 127.0.0.1:{port}"):
            second.start()


def test_no_identifying_value_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=1, slices=(1, 1), image_size=8)
    datasets = [pydicom.dcmread(path) for path in cohort.files]
    port = free_port()
    caplog.set_level(logging.DEBUG)

    with Receiver(AET, port, tmp_path / "in", bind_address="127.0.0.1") as rx:
        for ds in datasets:
            assert store_with_pynetdicom(port, ds) == 0x0000

    assert rx.stored == len(datasets)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("eucaim.ingest"))
    assert ours, "the receiver logged nothing, so this test proves nothing"
    leaked = [s for s in cohort.phi_strings if s in everything]
    leaked += [str(ds.SOPInstanceUID) for ds in datasets if str(ds.SOPInstanceUID) in everything]
    assert leaked == []
