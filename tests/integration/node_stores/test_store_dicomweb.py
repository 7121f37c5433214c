"""The DICOMweb image store against a real Orthanc: write-once by read-back, reads, delete, failures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from eucaim.errors import ConfigError, Conflict, NotFound, TransientError
from eucaim.node.store.config import DicomwebStoreSettings
from eucaim.node.store.dicomweb import DicomwebStore
from eucaim.node.store.write_once import place_once
from tests.support.node_server import deidentified_instance
from tests.support.orthanc import OrthancServer


def _store(orthanc: OrthancServer, **overrides: object) -> DicomwebStore:
    values: dict[str, object] = {
        "url": orthanc.dicomweb_url,
        "username": orthanc.username,
        "password": orthanc.password,
        "orthanc_url": orthanc.http_url,
    }
    return DicomwebStore(DicomwebStoreSettings(**(values | overrides)))  # type: ignore[arg-type]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_pacs_keeps_the_first_bytes_and_the_store_says_so(
    orthanc_clean: OrthancServer, tmp_path: Path
) -> None:
    store = _store(orthanc_clean)
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    key = f"bb/{study}/{series}/{sop}.dcm"
    uids = {"study_uid": study, "series_uid": series, "sop_uid": sop}
    first = tmp_path / "first.dcm"
    deidentified_instance(first, pixel_seed=1, **uids)
    content = first.read_bytes()
    assert store.put_new(key, first, sha256=hashlib.sha256(content).hexdigest())
    assert not first.exists()
    assert orthanc_clean.instances() == [sop]
    assert store.exists(key) and store.size(key) == len(content)
    with store.open(key) as f:
        assert f.read() == content

    again = tmp_path / "again.dcm"
    again.write_bytes(content)
    assert store.put_new(key, again, sha256=_sha(again))  # same bytes: fine
    other = tmp_path / "other.dcm"
    deidentified_instance(other, pixel_seed=2, **uids)
    assert not store.put_new(key, other, sha256=_sha(other))  # Orthanc kept the first
    assert other.exists()
    # One place per SOPInstanceUID: the content key cannot help, the instance is a duplicate.
    with pytest.raises(Conflict, match="other bytes under this SOPInstanceUID"):
        place_once(store, biobank_code="bb", source=other, sha256=_sha(other), **uids)
    with store.open(key) as f:
        assert f.read() == content

    store.delete(key)
    assert not store.exists(key) and orthanc_clean.count() == 0
    with pytest.raises(NotFound):
        store.open(key)


def test_unreachable_or_refusing_pacs(orthanc_clean: OrthancServer, tmp_path: Path) -> None:
    _store(orthanc_clean).check()
    with pytest.raises(TransientError, match="answered 401"):
        _store(orthanc_clean, password="wrong").check()
    source = tmp_path / "a.dcm"
    ds = deidentified_instance(source)
    key = f"bb/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
    with pytest.raises(TransientError, match="could not be reached"):
        _store(orthanc_clean, url="http://127.0.0.1:9/dicom-web").put_new(key, source, sha256=_sha(source))
    assert source.exists()
    with pytest.raises(ConfigError, match="EUCAIM_NODE_DICOMWEB_STORE_URL"):
        DicomwebStore(DicomwebStoreSettings(url=None))
