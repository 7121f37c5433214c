"""The emulator's DICOM receiver, fed by pynetdicom's Storage SCU, files instances as XNAT routes them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pydicom
import pytest
import xnat
from pynetdicom import AE
from pynetdicom.sop_class import MRImageStorage  # type: ignore[attr-defined]

from tests.support.xnat_emulator import XnatEmulator
from tests.support.xnat_fixture import XnatServer

pytestmark = pytest.mark.integration

MakeInstances = Callable[[int, str], list[pydicom.Dataset]]  # the make_instances fixture (conftest.py)


def c_store(port: int, datasets: list[pydicom.Dataset], ae_title: str = "XNAT") -> list[int]:
    ae = AE(ae_title="EUCAIM")
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    try:
        return [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def archived(emulator: XnatEmulator, project: str, label: str) -> bool:
    try:
        emulator.experiment(project, label)
    except KeyError:
        return False
    return True


def test_routed_instances_are_archived_in_an_auto_archiving_project(
    xnat_server: XnatServer, make_instances: MakeInstances
) -> None:
    emulator = xnat_server.emulator
    emulator.create_project("P1").prearchive_code = 4
    receiver = emulator.start_dicom_receiver()
    sent = make_instances(3, "Project: P1 Subject: SUBJ-1 Session: SUBJ-1_MR")
    assert c_store(receiver.port, sent) == [0x0000] * 3
    wait_for(lambda: archived(emulator, "P1", "SUBJ-1_MR"))

    with xnat.connect(xnat_server.url, user="admin", password="admin", loglevel="ERROR") as session:
        experiment = session.projects["P1"].subjects["SUBJ-1"].experiments["SUBJ-1_MR"]
        scan = experiment.scans["4"]
        assert scan.resources["DICOM"].file_count == 3
        assert scan.read_dicom().SOPInstanceUID in {ds.SOPInstanceUID for ds in sent}


def test_without_routing_the_session_waits_in_the_prearchive(
    xnat_server: XnatServer, make_instances: MakeInstances
) -> None:
    emulator = xnat_server.emulator
    emulator.create_project("P1")  # prearchive code 0: everything waits in the prearchive
    receiver = emulator.start_dicom_receiver()
    c_store(receiver.port, make_instances(2, "Project: P1"))
    c_store(receiver.port, make_instances(1, "Project: NOSUCH Subject: X"))
    wait_for(lambda: sum(s.status == "READY" for s in emulator.prearchive_sessions()) == 2)
    by_project = {s.project: s for s in emulator.prearchive_sessions()}
    # Classic XNAT naming without routing: subject = PatientName, session = PatientID.
    assert (by_project["P1"].subject, by_project["P1"].name) == ("PN-77", "PN-77")
    assert emulator.prearchive_file_count(by_project["P1"]) == 2
    # An unknown project sends the session to Unassigned.
    assert by_project["Unassigned"].subject == "X"


def test_aa_true_archives_and_sessions_settle_only_after_idle_time(
    xnat_server: XnatServer, make_instances: MakeInstances
) -> None:
    emulator = xnat_server.emulator
    emulator.create_project("P1")
    receiver = emulator.start_dicom_receiver(settle_after=0.5)
    c_store(receiver.port, make_instances(2, "Project: P1 Subject: S2 Session: S2_MR AA:true"))
    wait_for(lambda: len(emulator.prearchive_sessions("P1")) == 1)
    assert emulator.prearchive_sessions("P1")[0].status == "RECEIVING"
    assert not archived(emulator, "P1", "S2_MR")
    wait_for(lambda: archived(emulator, "P1", "S2_MR"))
    assert emulator.prearchive_sessions() == []
    assert len(emulator.session_files("P1", "S2_MR")["4"]) == 2
