"""Names in every character set pydicom ships (Arabic, Greek, Hebrew, Japanese, Korean, Russian,
Chinese, ...) are gone after de-identification, and the files still decode."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pydicom.data
import pytest

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.profile import load_profile

from .conftest import SECRET

CHARSETS = Path(pydicom.data.__file__).parent / "charset_files"
FILES = sorted(p for p in CHARSETS.glob("chr*.dcm") if "SQEncoding" not in p.name)  # those lack UIDs


def _name_parts(ds: pydicom.Dataset) -> set[str]:
    parts = set()
    for elem in ds.iterall():
        if elem.VR == "PN" and elem.value:
            parts.update(
                p.strip() for p in str(elem.value).replace("=", "^").split("^") if len(p.strip()) >= 2
            )
    return parts


@pytest.mark.parametrize("src", FILES, ids=[p.name for p in FILES])
def test_names_in_any_character_set_are_removed(tmp_path: Path, src: Path) -> None:
    site = tmp_path / "allow.toml"  # these are secondary captures: allow them to see the header
    site.write_text('name = "cs"\nversion = "1"\nbase = "eucaim"\nburned_in = "allow"\n')
    parts = _name_parts(pydicom.dcmread(src, force=True))
    assert parts
    deidentify_file(src, tmp_path / "out.dcm", Deidentifier(load_profile(str(site)), SECRET))
    out = pydicom.dcmread(tmp_path / "out.dcm")
    texts = " ".join(str(e.value) for e in out.iterall() if e.VR in ("PN", "LO", "SH", "LT", "ST", "UT"))
    assert [p for p in parts if p in texts] == []
    assert out.SpecificCharacterSet == pydicom.dcmread(src, force=True).SpecificCharacterSet
