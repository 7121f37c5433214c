"""Interoperability: the real dicomweb-client stores, searches and retrieves against our node."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid
from requests.exceptions import HTTPError

from tests.support.node_server import SeededNode, deidentified_instance


def _client(seeded: SeededNode, token: str) -> DICOMwebClient:
    return DICOMwebClient(seeded.dicomweb_url, headers={"Authorization": f"Bearer {token}"})


def test_store_search_retrieve_round_trip(seeded_node: SeededNode, tmp_path: Path) -> None:
    study, series = generate_uid(), generate_uid()
    sent = [
        deidentified_instance(
            tmp_path / f"{n}.dcm", study_uid=study, series_uid=series, instance_number=n + 1
        )
        for n in range(2)
    ]
    client = _client(seeded_node, seeded_node.ingester_token)
    response = client.store_instances([pydicom.dcmread(tmp_path / f"{n}.dcm") for n in range(2)])
    assert {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence} == {
        ds.SOPInstanceUID for ds in sent
    }

    (found,) = client.search_for_studies(search_filters={"PatientID": "EUCAIM-0001"})
    assert found["0020000D"]["Value"] == [study]
    series_found = client.search_for_series(study_instance_uid=study)
    assert [s["0020000E"]["Value"][0] for s in series_found] == [series]
    instances = client.search_for_instances(study_instance_uid=study, series_instance_uid=series)
    assert len(instances) == 2

    retrieved = client.retrieve_instance(study, series, sent[0].SOPInstanceUID)
    assert retrieved.SOPInstanceUID == sent[0].SOPInstanceUID
    assert retrieved.PixelData == sent[0].PixelData
    metadata = client.retrieve_study_metadata(study)
    assert {m["00080018"]["Value"][0] for m in metadata} == {ds.SOPInstanceUID for ds in sent}


def test_client_sees_refusal_of_identified_data(seeded_node: SeededNode, tmp_path: Path) -> None:
    deidentified_instance(tmp_path / "x.dcm", identity_removed="NO")
    client = _client(seeded_node, seeded_node.ingester_token)
    with pytest.raises(HTTPError) as caught:
        client.store_instances([pydicom.dcmread(tmp_path / "x.dcm")])
    assert caught.value.response.status_code == 409
    assert client.search_for_studies() == []


def test_client_without_rights_gets_403(seeded_node: SeededNode) -> None:
    with pytest.raises(HTTPError) as caught:
        _client(seeded_node, seeded_node.outsider_token).search_for_studies()
    assert caught.value.response.status_code == 403
