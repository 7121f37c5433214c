"""Loading profiles: built-ins, site files with a base, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from eucaim.deid.actions import Action
from eucaim.deid.profile import DEFAULT_PROFILE, list_profiles, load_profile
from eucaim.deid.rules import RuleSet
from eucaim.errors import ProfileError


def test_builtin_profiles_are_listed() -> None:
    names = [p.name for p in list_profiles()]
    assert names == ["ps315-basic", "eucaim"]
    assert DEFAULT_PROFILE in names


def test_profile_identity_is_stable_and_distinct() -> None:
    a, b = load_profile("eucaim"), load_profile("eucaim")
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert load_profile("ps315-basic").sha256 != a.sha256
    assert a.options == (
        "clean-structured-content",
        "clean-descriptors",
        "retain-long-modified-dates",
        "retain-patient-characteristics",
        "retain-safe-private",
    )


def _write(tmp_path: Path, text: str, name: str = "site.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_site_profile_extends_a_base(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'name = "site"\nversion = "2"\nbase = "eucaim"\noptions = ["retain-device-identity"]\n'
        '[overrides]\nStationName = "remove"\n"(0018,1000)" = "dummy"\n"vr:UT" = "remove"\n'
        '"private:ACME PRIVATE,0011,10" = "keep"\n'
        '"path:ReferencedImageSequence/ReferencedSOPInstanceUID" = "uid"\n',
    )
    profile = load_profile(path)
    assert profile.name == "site" and profile.version == "2"
    assert "retain-device-identity" in profile.options and "clean-descriptors" in profile.options
    rules = RuleSet(profile)
    assert rules.decide(0x00081010, "SH") is Action.REMOVE  # override beats retain-device-identity
    assert rules.decide(0x00181000, "LO") is Action.DUMMY
    assert rules.decide(0x00100010, "PN") is Action.PSEUDONYM  # inherited from eucaim
    assert rules.decide_private("ACME PRIVATE", 0x0011, 0x10, "LO") is Action.KEEP
    assert rules.decide_private("OTHER", 0x0011, 0x10, "LO") is Action.REMOVE
    assert profile.sha256 != load_profile("eucaim").sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\nversion = "1"\noptions = ["retain-everything"]\n', "unknown option"),
        ('name = "x"\nversion = "1"\n[overrides]\nPatientName = "shred"\n', "unknown action"),
        ('name = "x"\nversion = "1"\n[overrides]\nNotAKeyword = "keep"\n', "neither a DICOM keyword"),
        ('name = "x"\nversion = "1"\n[overrides]\n"vr:XX" = "keep"\n', "unknown VR"),
        ('name = "x"\nversion = "1"\n[overrides]\n"private:ACME,0010,10" = "keep"\n', "odd group"),
        ('name = "x"\nversion = "1"\n[overrides]\n"path:PatientName/PatientID" = "keep"\n', "not a sequence"),
        ('name = "x"\nversion = "1"\noptions = ["clean-recognizable-visual-features"]\n', "not supported"),
        ('name = "x"\noptions = []\n', "name and version"),
        ('name = "x"\nversion = "1"\nbase = "nope"\n', "neither a built-in"),
        ("name = [unclosed\n", "not valid TOML"),
        (
            'name = "x"\nversion = "1"\noptions = ["retain-long-full-dates", "retain-long-modified-dates"]\n',
            "exclude each other",
        ),
    ],
)
def test_bad_profiles_fail_at_load_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        load_profile(_write(tmp_path, text))


def test_base_cycle_is_refused(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text(f'name = "a"\nversion = "1"\nbase = "{b}"\n')
    b.write_text(f'name = "b"\nversion = "1"\nbase = "{a}"\n')
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(str(a))


def test_unknown_name_says_what_exists() -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("hipaa")
    assert "eucaim" in str(info.value)


def test_profile_show_lists_rules_with_their_source(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "s"\nversion = "1"\nbase = "eucaim"\n[overrides]\n"vr:UT" = "remove"\n')
    rules = RuleSet(load_profile(path))
    rows = {r.keyword or r.tag: r for r in rules.effective_rules()}
    assert rows["PatientName"].action is Action.PSEUDONYM and rows["PatientName"].source == "profile override"
    assert rows["StudyDate"].action is Action.SHIFT and rows["StudyDate"].source.endswith("+ options")
    assert rows["InstitutionName"].action is Action.REMOVE
    assert rows["SpecificCharacterSet"].source == "image allow-list"
    assert rows["vr:UT"].action is Action.REMOVE
    defaults = dict(rules.default_rules())
    assert defaults["anything else"] == "removed (default-deny)"
    assert "shifted" in defaults["DA, DT"]
