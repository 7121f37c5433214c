"""No broken objects: dciodvfy finds no new errors after de-identification of pydicom's test files.

pydicom ships ~80 varied files (CT, MR, multi-frame Enhanced, RT Dose/Plan/Struct, SR, odd
encodings). Each one the engine accepts is checked with dciodvfy (dicom3tools) before and after;
the error messages, with values and item numbers stripped, must not grow.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.profile import load_profile
from eucaim.errors import InvalidDicomError

from .conftest import SECRET

DCIODVFY = shutil.which("dciodvfy")
needs_dciodvfy = pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian dicom3tools) is not installed")
DEFLATED = "1.2.840.10008.1.2.1.99"  # dciodvfy cannot read deflated files at all, before or after


def _errors(path: Path) -> set[str]:
    assert DCIODVFY is not None
    run = subprocess.run(
        [DCIODVFY, "-new", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (run.stdout + run.stderr).splitlines()
    # Keep the element path, drop values (<...> not starting with "/") and item numbers.
    return {
        re.sub(r"\[\d+\]", "[]", re.sub(r"<([^/>][^>]*)?>", "<>", line.strip()))
        for line in lines
        if line.startswith("Error")
    }


def _test_files() -> list[Path]:
    # The files bundled in the wheel; get_testdata_files() would also try to download more.
    return sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm"))


@needs_dciodvfy
@pytest.mark.parametrize("profile", ["eucaim", "ps315-basic"])
def test_no_new_dciodvfy_errors_on_pydicom_test_files(profile: str, tmp_path: Path) -> None:
    # Burned-in triage would quarantine the US/SC files; allow them here to check they stay valid.
    site = tmp_path / "allow.toml"
    site.write_text(f'name = "check"\nversion = "1"\nbase = "{profile}"\nburned_in = "allow"\n')
    deidentifier = Deidentifier(load_profile(str(site)), SECRET)
    tmp_path = tmp_path / "out"
    checked, regressions = 0, {}
    for src in _test_files():
        dst = tmp_path / src.name
        try:
            outcome = deidentify_file(src, dst, deidentifier)
        except InvalidDicomError:
            continue  # refused input is tested elsewhere; it never reaches the wire
        if pydicom.dcmread(dst, stop_before_pixels=True).file_meta.TransferSyntaxUID == DEFLATED:
            continue
        assert outcome.size > 0
        checked += 1
        new = _errors(dst) - _errors(src)
        if new:
            regressions[src.name] = sorted(new)
    assert checked >= 50, f"only {checked} files were checked"
    assert regressions == {}


def test_truncated_rt_plan_is_refused(tmp_path: Path) -> None:
    src = Path(pydicom.data.__file__).parent / "test_files" / "rtplan_truncated.dcm"
    with pytest.raises(InvalidDicomError, match="truncated"):
        deidentify_file(src, tmp_path / "o.dcm", Deidentifier(load_profile("eucaim"), SECRET))


@needs_dciodvfy
def test_no_new_dciodvfy_errors_on_the_synthetic_cohort(tmp_path: Path) -> None:
    from eucaim.dicom.synthetic import generate_cohort

    generate_cohort(tmp_path / "cohort", patients=2, image_size=16, slices=(2, 2))
    sources = sorted((tmp_path / "cohort" / "dicom").rglob("*.dcm"))
    assert sources
    deidentifier = Deidentifier(load_profile("eucaim"), SECRET)
    regressions = {}
    for i, src in enumerate(sources):
        dst = tmp_path / "out" / f"{i}.dcm"
        deidentify_file(src, dst, deidentifier)
        new = _errors(dst) - _errors(src)
        if new:
            regressions[src.name] = sorted(new)
    assert regressions == {}
