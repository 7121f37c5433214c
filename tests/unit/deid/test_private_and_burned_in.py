"""Retain Safe Private (creator-qualified, from CTP's dictionary) and burned-in text triage."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.uid import SecondaryCaptureImageStorage, UltrasoundImageStorage

from eucaim.deid.burned_in import burned_in_risk
from eucaim.deid.engine import Deidentifier
from eucaim.deid.profile import load_profile
from eucaim.errors import DeidentificationError

from .conftest import PHI, SECRET, make_instance


def _with_ge_block(ds: Dataset, creator: str = "GEMS_PARM_01") -> Dataset:
    block = ds.private_block(0x0043, creator, create=True)
    block.add_new(0x01, "SS", 7)  # safe in CTP's dictionary (numeric acquisition parameter)
    block.add_new(0x27, "SH", f"scan {PHI['name_part']}")  # "safe" text: still scrubbed
    block.add_new(0xF0, "LO", PHI["private_text"])  # not in the safe list
    return ds


def test_safe_private_elements_are_kept_with_their_creator(eucaim: Deidentifier) -> None:
    ds = eucaim.deidentify(_with_ge_block(make_instance())).dataset
    block = ds.private_block(0x0043, "GEMS_PARM_01")
    assert block[0x01].value == 7
    assert PHI["name_part"] not in str(block[0x27].value)
    assert 0x004310F0 not in ds
    # The other private block (ACME PRIVATE) is unknown: gone, creator and all.
    assert 0x00110010 not in ds and 0x00111010 not in ds


def test_safe_list_is_creator_qualified(eucaim: Deidentifier) -> None:
    ds = eucaim.deidentify(_with_ge_block(make_instance(), creator="SOMEONE ELSE")).dataset
    assert not [e for e in ds if e.tag.group == 0x0043]


def test_without_the_option_every_private_element_goes(basic: Deidentifier) -> None:
    ds = basic.deidentify(_with_ge_block(make_instance())).dataset
    assert not [e for e in ds.iterall() if e.tag.is_private]


def test_private_element_without_creator_is_removed(eucaim: Deidentifier) -> None:
    ds = make_instance()
    ds.add_new(0x00431001, "SS", 3)  # no (0043,0010) creator: not attributable, not keepable
    out = eucaim.deidentify(ds).dataset
    assert 0x00431001 not in out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"BurnedInAnnotation": "YES"}, "BurnedInAnnotation"),
        ({"Modality": "US", "SOPClassUID": UltrasoundImageStorage}, "modality US"),
        ({"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]}, "SCREEN SAVE"),
        ({"SOPClassUID": SecondaryCaptureImageStorage, "BurnedInAnnotation": "NO"}, "secondary capture"),
    ],
)
def test_burned_in_risk_is_quarantined(
    eucaim: Deidentifier, change: dict[str, object], expected: str
) -> None:
    ds = make_instance()
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    assert expected in (burned_in_risk(ds) or "")
    with pytest.raises(DeidentificationError) as info:
        eucaim.deidentify(ds)
    assert info.value.reason == "burned_in_risk"


def test_explicit_no_from_the_producer_is_trusted_for_ultrasound() -> None:
    ds = make_instance()
    ds.Modality = "US"
    ds.BurnedInAnnotation = "NO"
    assert burned_in_risk(ds) is None


def test_ct_without_pixels_or_flags_is_not_at_risk() -> None:
    ds = make_instance()
    assert burned_in_risk(ds) is None
    del ds.PixelData
    ds.Modality = "US"
    assert burned_in_risk(ds) is None  # nothing to show


def test_encapsulated_document_is_at_risk() -> None:
    ds = make_instance()
    del ds.PixelData
    ds.EncapsulatedDocument = b"%PDF-1.4 Doe Johnathan"
    assert "document" in (burned_in_risk(ds) or "")


def test_profile_may_allow_burned_in_risk_with_a_warning(tmp_path: Path) -> None:
    site = tmp_path / "allow.toml"
    site.write_text('name = "allow"\nversion = "1"\nbase = "eucaim"\nburned_in = "allow"\n')
    ds = make_instance()
    ds.BurnedInAnnotation = "YES"
    out = Deidentifier(load_profile(str(site)), SECRET).deidentify(ds)
    assert any("burned-in" in w for w in out.warnings)


def test_burned_in_policy_is_inherited_and_validated(tmp_path: Path) -> None:
    site = tmp_path / "child.toml"
    site.write_text('name = "child"\nversion = "1"\nbase = "eucaim"\n')
    assert load_profile(str(site)).burned_in == "quarantine"
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nversion = "1"\nburned_in = "ocr-maybe"\n')
    from eucaim.errors import ProfileError

    with pytest.raises(ProfileError, match="burned_in"):
        load_profile(str(bad))
