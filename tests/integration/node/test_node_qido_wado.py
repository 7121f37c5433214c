"""QIDO-RS matching and counts, and WADO-RS retrieval, against a node holding a small cohort."""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.support.node_server import SeededNode, deidentified_instance, stow_body


@dataclass
class Cohort:
    """Three studies: P1 has a CT+MR study (2020) and a CT study (2022); P2 has an MR study (2021)."""

    seeded: SeededNode
    studies: dict[str, str]
    series: dict[str, str]
    files: dict[str, Path]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.seeded.dicomweb_url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.seeded.validator_token}"},
        )


@pytest.fixture
def cohort(seeded_node: SeededNode, tmp_path: Path) -> Cohort:
    studies = {name: generate_uid() for name in ("s1", "s2", "s3")}
    series = {name: generate_uid() for name in ("s1-ct", "s1-mr", "s2-ct", "s3-mr")}
    layout = [  # (series, study, patient, date, modality, instances)
        ("s1-ct", "s1", "EUCAIM-P1", "20200105", "CT", 3),
        ("s1-mr", "s1", "EUCAIM-P1", "20200105", "MR", 2),
        ("s2-ct", "s2", "EUCAIM-P1", "20220310", "CT", 1),
        ("s3-mr", "s3", "EUCAIM-P2", "20210720", "MR", 2),
    ]
    files: dict[str, Path] = {}
    for series_name, study_name, patient, date, modality, count in layout:
        for n in range(count):
            path = tmp_path / "cohort" / f"{series_name}-{n}.dcm"
            deidentified_instance(
                path,
                study_uid=studies[study_name],
                series_uid=series[series_name],
                patient_id=patient,
                study_date=date,
                modality=modality,
                instance_number=n + 1,
                BodyPartExamined="CHEST",
                Manufacturer="ACME",
            )
            files[f"{series_name}-{n}"] = path
    content_type, body = stow_body(list(files.values()))
    response = httpx.post(
        f"{seeded_node.dicomweb_url}/studies",
        content=body,
        headers={"Authorization": f"Bearer {seeded_node.ingester_token}", "Content-Type": content_type},
    )
    assert response.status_code == 200
    return Cohort(seeded_node, studies, series, files)


def _values(result: dict[str, Any], tag: str) -> list[Any]:
    return list(result.get(tag, {}).get("Value", []))


def _study_uids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom+json"
    return {_values(r, "0020000D")[0] for r in response.json()}


def test_all_studies_with_counts_and_modalities(cohort: Cohort) -> None:
    results = {_values(r, "0020000D")[0]: r for r in cohort.get("/studies").json()}
    s1 = results[cohort.studies["s1"]]
    assert _values(s1, "00201206") == [2]  # NumberOfStudyRelatedSeries
    assert _values(s1, "00201208") == [5]  # NumberOfStudyRelatedInstances
    assert _values(s1, "00080061") == ["CT", "MR"]  # ModalitiesInStudy
    assert _values(s1, "00100020") == ["EUCAIM-P1"]
    assert _values(s1, "00081190") == [f"{cohort.seeded.dicomweb_url}/studies/{cohort.studies['s1']}"]
    assert _values(results[cohort.studies["s3"]], "00201208") == [2]


def test_patient_id_exact_and_wildcard(cohort: Cohort) -> None:
    s = cohort.studies
    assert _study_uids(cohort.get("/studies", PatientID="EUCAIM-P1")) == {s["s1"], s["s2"]}
    assert _study_uids(cohort.get("/studies", PatientID="EUCAIM-P*")) == {s["s1"], s["s2"], s["s3"]}
    assert _study_uids(cohort.get("/studies", PatientID="EUCAIM-P?")) == {s["s1"], s["s2"], s["s3"]}
    assert _study_uids(cohort.get("/studies", PatientID="EUCAIM-P")) == set()
    # A LIKE special character in the value matches only itself.
    assert _study_uids(cohort.get("/studies", PatientID="EUCAIM_P1")) == set()
    # Case matters for IDs (as on PostgreSQL), not for person names.
    assert _study_uids(cohort.get("/studies", PatientID="eucaim-p*")) == set()
    assert _study_uids(cohort.get("/studies", PatientName="eucaim-p2*")) == {s["s3"]}


def test_study_uid_single_list_and_tag_form(cohort: Cohort) -> None:
    s = cohort.studies
    assert _study_uids(cohort.get("/studies", StudyInstanceUID=s["s2"])) == {s["s2"]}
    assert _study_uids(cohort.get("/studies", StudyInstanceUID=f"{s['s1']},{s['s3']}")) == {s["s1"], s["s3"]}
    assert _study_uids(cohort.get("/studies", **{"0020000D": s["s3"]})) == {s["s3"]}


def test_study_date_ranges(cohort: Cohort) -> None:
    s = cohort.studies
    assert _study_uids(cohort.get("/studies", StudyDate="20200105")) == {s["s1"]}
    assert _study_uids(cohort.get("/studies", StudyDate="20210101-20221231")) == {s["s2"], s["s3"]}
    assert _study_uids(cohort.get("/studies", StudyDate="20210101-")) == {s["s2"], s["s3"]}
    assert _study_uids(cohort.get("/studies", StudyDate="-20201231")) == {s["s1"]}


def test_modalities_in_study(cohort: Cohort) -> None:
    s = cohort.studies
    assert _study_uids(cohort.get("/studies", ModalitiesInStudy="MR")) == {s["s1"], s["s3"]}
    assert _study_uids(cohort.get("/studies", ModalitiesInStudy="CT,MR")) == {s["s1"], s["s2"], s["s3"]}
    assert _study_uids(cohort.get("/studies", ModalitiesInStudy="PT")) == set()


def test_limit_and_offset_page_through_studies(cohort: Cohort) -> None:
    responses = [cohort.get("/studies", limit=2, offset=o) for o in (0, 2, 4)]
    pages = [_study_uids(r) for r in responses]
    assert [len(p) for p in pages] == [2, 1, 0]
    assert pages[0] | pages[1] == set(cohort.studies.values())
    # Only the first page says more results exist.
    assert ["warning" in r.headers for r in responses] == [True, False, False]
    assert "additional results" in responses[0].headers["warning"]


def test_includefield_adds_optional_attributes(cohort: Cohort) -> None:
    plain = cohort.get("/studies", StudyInstanceUID=cohort.studies["s1"]).json()[0]
    assert "00101010" not in plain  # PatientAge is optional
    with_age = cohort.get(
        "/studies", StudyInstanceUID=cohort.studies["s1"], includefield="PatientAge"
    ).json()[0]
    assert _values(with_age, "00101010") == ["054Y"]
    everything = cohort.get("/studies", StudyInstanceUID=cohort.studies["s1"], includefield="all").json()[0]
    assert "00081030" in everything and "00101010" in everything


def test_series_search_in_a_study_and_across_the_biobank(cohort: Cohort) -> None:
    in_s1 = cohort.get(f"/studies/{cohort.studies['s1']}/series").json()
    by_uid = {_values(r, "0020000E")[0]: r for r in in_s1}
    assert set(by_uid) == {cohort.series["s1-ct"], cohort.series["s1-mr"]}
    assert _values(by_uid[cohort.series["s1-ct"]], "00201209") == [3]  # NumberOfSeriesRelatedInstances
    assert _values(by_uid[cohort.series["s1-ct"]], "00080060") == ["CT"]
    mr = cohort.get("/series", Modality="MR", includefield="BodyPartExamined").json()
    assert {_values(r, "0020000E")[0] for r in mr} == {cohort.series["s1-mr"], cohort.series["s3-mr"]}
    assert all(_values(r, "00180015") == ["CHEST"] for r in mr)


def test_instance_search_levels(cohort: Cohort) -> None:
    st, se = cohort.studies["s1"], cohort.series["s1-ct"]
    in_series = cohort.get(f"/studies/{st}/series/{se}/instances").json()
    assert sorted(_values(r, "00200013")[0] for r in in_series) == [1, 2, 3]
    assert all(_values(r, "0020000E") == [se] for r in in_series)
    assert len(cohort.get(f"/studies/{st}/instances").json()) == 5
    assert len(cohort.get("/instances", PatientID="EUCAIM-P2").json()) == 2
    url = _values(in_series[0], "00081190")[0]
    assert url.startswith(f"{cohort.seeded.dicomweb_url}/studies/{st}/series/{se}/instances/")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"StudyDate": "2020"}, "YYYYMMDD"),
        ({"limit": "many"}, "limit must be an integer"),
        ({"PatientWeight": "70"}, "not a matching key"),
        ({"SOPInstanceUID": "1.2"}, "not a matching key"),  # an instance key at study level
    ],
)
def test_bad_queries_are_400_naming_the_parameter(
    cohort: Cohort, params: dict[str, str], fragment: str
) -> None:
    response = cohort.get("/studies", **params)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def _multipart_parts(response: httpx.Response) -> list[tuple[str, bytes]]:
    header = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + response.content)
    return [(part.get_content_type(), part.get_payload(decode=True)) for part in message.iter_parts()]


def test_wado_instance_bytes_are_identical_to_what_was_sent(cohort: Cohort) -> None:
    st, se = cohort.studies["s3"], cohort.series["s3-mr"]
    uid = cohort.get(f"/studies/{st}/series/{se}/instances", InstanceNumber="2").json()[0]["00080018"][
        "Value"
    ][0]
    response = cohort.get(f"/studies/{st}/series/{se}/instances/{uid}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith('multipart/related; type="application/dicom"')
    ((content_type, payload),) = _multipart_parts(response)
    assert content_type == "application/dicom"
    assert payload == cohort.files["s3-mr-1"].read_bytes()


def test_wado_series_and_study_return_every_instance(cohort: Cohort) -> None:
    st = cohort.studies["s1"]
    series_parts = _multipart_parts(cohort.get(f"/studies/{st}/series/{cohort.series['s1-ct']}"))
    assert sorted(p for _, p in series_parts) == sorted(
        cohort.files[f"s1-ct-{n}"].read_bytes() for n in range(3)
    )
    assert len(_multipart_parts(cohort.get(f"/studies/{st}"))) == 5


def test_wado_metadata_is_dicom_json_without_pixels(cohort: Cohort) -> None:
    st, se = cohort.studies["s2"], cohort.series["s2-ct"]
    (meta,) = cohort.get(f"/studies/{st}/metadata").json()
    assert _values(meta, "0020000E") == [se]
    assert _values(meta, "00120062") == ["YES"]
    assert _values(meta, "00020010") == ["1.2.840.10008.1.2.1"]
    assert "7FE00010" not in meta
    uid = _values(meta, "00080018")[0]
    assert cohort.get(f"/studies/{st}/series/{se}/instances/{uid}/metadata").json() == [meta]
    assert (
        len(cohort.get(f"/studies/{cohort.studies['s1']}/series/{cohort.series['s1-mr']}/metadata").json())
        == 2
    )


def test_wado_unknown_objects_are_404(cohort: Cohort) -> None:
    st = cohort.studies["s1"]
    assert cohort.get(f"/studies/{generate_uid()}").status_code == 404
    assert cohort.get(f"/studies/{st}/series/{cohort.series['s1-ct']}/instances/1.2.3").status_code == 404
    # Another biobank's study is not reachable through this one.
    other = httpx.get(
        f"{cohort.seeded.node.dicomweb_url('other-bb')}/studies/{st}",
        headers={"Authorization": f"Bearer {cohort.seeded.admin_token}"},
    )
    assert other.status_code == 404


def test_wado_refuses_an_accept_it_cannot_serve(cohort: Cohort) -> None:
    st = cohort.studies["s2"]
    response = httpx.get(
        f"{cohort.seeded.dicomweb_url}/studies/{st}",
        headers={"Authorization": f"Bearer {cohort.seeded.validator_token}", "Accept": "application/zip"},
    )
    assert response.status_code == 406


def test_an_object_lost_from_the_store_is_a_server_error_not_a_404(cohort: Cohort) -> None:
    st, se = cohort.studies["s2"], cohort.series["s2-ct"]
    node = cohort.seeded.node
    lost = [key for key in node.stored_objects() if f"/{se}/" in key]
    assert lost
    for key in lost:
        node.delete_object(key)
    response = cohort.get(f"/studies/{st}/metadata")
    assert response.status_code == 500
    assert response.json()["detail"] == "an indexed instance is missing from the image store"
