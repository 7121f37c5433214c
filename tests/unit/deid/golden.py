"""Golden outputs of ``deidentify_file``: what every input of a fixed corpus becomes, as digests.

The corpus is pydicom's bundled test files (RT, SR, multi-frame, odd encodings, charsets) under
both shipped profiles, the default synthetic cohort, and a highdicom DICOM-SEG with the CT series
it references. For each input the golden file holds the SHA-256 of the input bytes and the
SHA-256 of everything ``deidentify_file`` produced: the written bytes and the whole
``FileOutcome`` (audit, UIDs, keyed input hash), or the error class and reason.

Speed work on the engine and the writer must leave every output digest unchanged. Regenerate
only when an output is meant to change, and say why in the commit:

    .venv/bin/python -m tests.unit.deid.golden
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pydicom.data

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.profile import load_profile
from eucaim.dicom.synthetic import generate_cohort
from eucaim.errors import DeidentificationError, InvalidDicomError

from .conftest import SECRET

GOLDEN = Path(__file__).with_name("golden_outputs.json")
# Fixed dates and UIDs for what highdicom fills in from the clock and from random UIDs.
_SEG_FROZEN_DATE = "20240102"
_SEG_FROZEN_TIME = "030405"
_HIGHDICOM_UID_ROOT = "1.2.826.0.1.3680043.10."


def pydicom_test_files() -> list[Path]:
    """The files bundled in the pydicom wheel (get_testdata_files() would download more)."""
    return sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm"))


def site_profile(base: str, folder: Path) -> Deidentifier:
    """``base`` with burned-in files allowed through, so US/SC test files are written too."""
    path = folder / f"allow-{base}.toml"
    path.write_text(f'name = "golden"\nversion = "1"\nbase = "{base}"\nburned_in = "allow"\n')
    return Deidentifier(load_profile(str(path)), SECRET)


def _freeze_uids(ds: pydicom.Dataset, seen: dict[str, str]) -> None:
    """Replace highdicom's random UIDs (and clock values) by fixed ones, at every depth."""
    for elem in ds.iterall():
        if elem.VR == "UI" and isinstance(elem.value, str) and elem.value.startswith(_HIGHDICOM_UID_ROOT):
            elem.value = seen.setdefault(elem.value, f"1.2.826.0.1.999222.{len(seen) + 1}")
        elif elem.VR == "DA" and elem.keyword in ("ContentDate", "InstanceCreationDate"):
            elem.value = _SEG_FROZEN_DATE
        elif elem.VR == "DT" and elem.keyword == "ContributionDateTime":
            elem.value = _SEG_FROZEN_DATE + _SEG_FROZEN_TIME
        elif elem.VR == "TM" and elem.keyword in ("ContentTime", "InstanceCreationTime"):
            elem.value = _SEG_FROZEN_TIME


def write_seg_case(folder: Path) -> list[Path]:
    """Three CT slices and a highdicom SEG on them, written with deterministic bytes."""
    from .test_seg_references import _ct_series, _segmentation

    ct = _ct_series()
    seg = _segmentation(ct)
    _freeze_uids(seg, {})
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, ds in enumerate([*ct, seg]):
        path = folder / (f"ct{i}.dcm" if i < len(ct) else "seg.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def cases(work: Path) -> Iterator[tuple[str, Path, Deidentifier]]:
    """``(case name, input file, deidentifier)`` for the whole golden corpus."""
    eucaim = Deidentifier(load_profile("eucaim"), SECRET)
    allowed = {base: site_profile(base, work) for base in ("eucaim", "ps315-basic")}
    root = Path(pydicom.data.__file__).parent / "test_files"
    for path in pydicom_test_files():
        for base, deidentifier in allowed.items():
            yield f"pydicom/{path.relative_to(root)}@{base}", path, deidentifier
    cohort = generate_cohort(work / "cohort")
    for path in sorted(cohort.files):
        yield f"cohort/{path.relative_to(cohort.root)}", path, eucaim
    for path in write_seg_case(work / "seg"):
        yield f"seg/{path.name}", path, eucaim


def outcome_digest(src: Path, dst: Path, deidentifier: Deidentifier) -> str:
    """The digest of everything ``deidentify_file`` produces for ``src`` (or how it refused it)."""
    try:
        outcome = deidentify_file(src, dst, deidentifier)
    except (InvalidDicomError, DeidentificationError) as exc:
        return f"refused: {type(exc).__name__} {exc.reason}"
    record = dataclasses.asdict(outcome)
    record["written_sha256"] = hashlib.sha256(dst.read_bytes()).hexdigest()
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compute(work: Path) -> dict[str, dict[str, str]]:
    """``{case: {"input": sha256, "output": digest}}`` for the golden corpus."""
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for index, (name, src, deidentifier) in enumerate(cases(work)):
        result[name] = {
            "input": hashlib.sha256(src.read_bytes()).hexdigest(),
            "output": outcome_digest(src, out / f"{index}.dcm", deidentifier),
        }
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        golden = compute(Path(tmp))
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
