"""The documentation's examples work: the site profile in docs/deid loads and behaves as described."""

from __future__ import annotations

import re
from pathlib import Path

from eucaim.deid.actions import Action
from eucaim.deid.profile import OPTIONS, list_profiles, load_profile
from eucaim.deid.rules import RuleSet

DOCS = Path(__file__).resolve().parents[3] / "docs" / "deid"


def test_site_profile_example_loads(tmp_path: Path) -> None:
    text = (DOCS / "site-profiles.md").read_text()
    example = re.search(r"```toml\n(.*?)```", text, re.S)
    assert example is not None
    path = tmp_path / "site.toml"
    path.write_text(example.group(1))
    profile = load_profile(str(path))
    assert profile.name == "hospital-x"
    rules = RuleSet(profile)
    assert rules.decide(0x00081010, "SH") is Action.REMOVE
    assert rules.decide(0x00181000, "LO") is Action.KEEP
    assert rules.decide_private("SIEMENS MR HEADER", 0x0019, 0x0C, "DS") is Action.KEEP


def test_every_builtin_profile_has_a_page_naming_its_options() -> None:
    for profile in list_profiles():
        page = (DOCS / f"{profile.name}.md").read_text()
        assert f"version {profile.version}" in page
        for option in profile.options:
            assert OPTIONS[option].code in page, (profile.name, option)


def test_code_example_runs(tmp_path: Path) -> None:
    from .conftest import make_instance

    text = (DOCS / "README.md").read_text()
    example = re.search(r"## Using it from code\n\n```python\n(.*?)```", text, re.S)
    assert example is not None
    source = tmp_path / "scan"
    source.mkdir()
    make_instance().save_as(source / "a.dcm", enforce_file_format=True)
    scope: dict[str, object] = {"source_dir": source, "out_dir": tmp_path / "out"}
    exec(compile(example.group(1), "docs/deid/README.md", "exec"), scope)
    assert scope["report"].will_send == 1  # type: ignore[attr-defined]
    assert scope["outcome"].pseudonym.startswith("EUCAIM-")  # type: ignore[attr-defined]
    assert ("(0010,0010)", "PatientName", "pseudonym", "profile override") in scope["shown"]  # type: ignore[operator]
