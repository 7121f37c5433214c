"""Write deterministic synthetic cohorts (DICOM tree + clinical CSV) with identifying data planted everywhere.

Used by the demo, the tests and the benchmarks. A cohort looks like a messy hospital export: CT and MR
studies per patient, some follow-ups, most files under ``<root>/<PatientID>/<study>/<series>/<n>.dcm``,
some named without extension, a few thrown into a flat ``misc`` folder. Identifying values sit in
every place a real export has them (names in several spellings, IDs, addresses, staff, institutions,
UIDs in nested references, a private block, free-text descriptions); ``Cohort.phi_strings`` lists
them all so leak tests can look for each one in de-identified output.

The same seed and arguments give byte-identical files.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eucaim.dicom.synthetic_clinical import CLINICAL_COLUMNS, clinical_row
from eucaim.dicom.synthetic_instances import build_instance, make_pixels
from eucaim.dicom.synthetic_malformed import write_malformed_examples
from eucaim.dicom.synthetic_people import SyntheticPatient, make_patients
from eucaim.dicom.synthetic_plan import SeriesPlan, StudyPlan, identifying_strings, plan_studies

__all__ = [
    "Cohort",
    "SyntheticPatient",
    "generate_cohort",
    "generate_ct_corpus",
    "write_malformed_examples",
]

logger = logging.getLogger(__name__)

MISC_FOLDER = "misc"


@dataclass(frozen=True)
class Cohort:
    """A generated cohort on disk and everything a test needs to check what happened to it."""

    root: Path  # folder holding the DICOM tree
    files: tuple[Path, ...]  # every DICOM file written, sorted
    patients: tuple[SyntheticPatient, ...]
    clinical_csv: Path  # first column PatientID, equal to the original DICOM PatientID
    phi_strings: tuple[str, ...]  # every planted identifying string, for leak tests
    n_studies: int
    n_series: int
    studies: tuple[StudyPlan, ...] = ()  # the plan the files were written from (UIDs, dates, staff)


def generate_cohort(
    out_dir: Path,
    *,
    patients: int = 10,
    seed: int = 0,
    image_size: int = 64,
    slices: tuple[int, int] = (8, 12),
) -> Cohort:
    """Write a synthetic cohort under ``out_dir`` and return its description.

    ``out_dir/dicom`` receives the DICOM tree and ``out_dir/clinical.csv`` the clinical data. Each
    patient has a CT and an MR study of 2-3 series each; about 40 % of the cases (not the controls:
    every fifth patient) also have a follow-up CT. Each series has between ``slices[0]`` and
    ``slices[1]`` images of ``image_size`` x ``image_size`` signed 16-bit pixels.

    Raises:
        ValueError: when a count or size is out of range.
        FileExistsError: when ``out_dir/dicom`` already holds files (stale files from another
            cohort would make ``Cohort.files`` lie about the tree); use a fresh folder.
    """
    if patients < 1:
        raise ValueError(f"patients must be at least 1, got {patients}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    if not 1 <= slices[0] <= slices[1]:
        raise ValueError(f"slices must be (low, high) with 1 <= low <= high, got {slices}")
    root = out_dir / "dicom"
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; generate the cohort into a fresh folder")
    rng = random.Random(seed)
    people = make_patients(rng, patients)
    plans = tuple(study for person in people for study in plan_studies(rng, seed, person, slices))
    files = list(_write_studies(root, plans, image_size))
    clinical_csv = out_dir / "clinical.csv"
    _write_clinical_csv(clinical_csv, people)
    logger.info("wrote synthetic cohort: %d patients, %d files", len(people), len(files))
    return Cohort(
        root=root,
        files=tuple(sorted(files)),
        patients=people,
        clinical_csv=clinical_csv,
        phi_strings=_phi_strings(people, plans),
        n_studies=len(plans),
        n_series=sum(len(study.series) for study in plans),
        studies=plans,
    )


def generate_ct_corpus(out_dir: Path, n: int, *, size: int = 512, seed: int = 0) -> tuple[Path, ...]:
    """Write ``n`` CT slices of ``size`` x ``size`` pixels (series of up to 100) for benchmarks.

    About 0.5 MB a file at the default size; 2,000 files take roughly 1 GB.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    written: list[Path] = []
    # Every CT study has at least two series of 100 slices, so this many patients always suffice.
    people = make_patients(rng, -(-n // 200))
    for person in people:
        ct = plan_studies(rng, seed, person, (100, 100))[0]
        for path in _write_studies(out_dir, (ct,), size, misc=False):
            written.append(path)
            if len(written) == n:
                return tuple(written)
    return tuple(written)


def _write_studies(
    root: Path, plans: tuple[StudyPlan, ...], size: int, *, misc: bool = True
) -> Iterator[Path]:
    misc_count = 0
    for study in plans:
        for series in study.series:
            count = len(series.instance_uids)
            # The series UID already depends on seed, patient and series: distinct noise everywhere.
            pixel_rng = np.random.default_rng(int(series.uid.rsplit(".", 1)[1]))
            for index in range(count):
                pixels = make_pixels(pixel_rng, size, index, count, study.modality)
                ds = build_instance(study, series, index, pixels)
                # One file per MR study lands in a flat folder, as when someone copies files by hand.
                to_misc = misc and study.modality == "MR" and series.number == 1 and index == count - 1
                if to_misc:
                    misc_count += 1
                    path = root / MISC_FOLDER / f"IMG{misc_count:05d}"
                else:
                    path = _tree_path(root, study, series, index)
                path.parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(path, enforce_file_format=True)
                yield path


def _tree_path(root: Path, study: StudyPlan, series: SeriesPlan, index: int) -> Path:
    name = f"IM{index + 1:04d}" if series.bare_names else f"{index + 1}.dcm"
    return root / study.patient.patient_id / study.folder / series.folder / name


def _write_clinical_csv(path: Path, people: tuple[SyntheticPatient, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CLINICAL_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for person in people:
            writer.writerow(clinical_row(person))


def _phi_strings(people: tuple[SyntheticPatient, ...], plans: tuple[StudyPlan, ...]) -> tuple[str, ...]:
    values: list[str] = []
    for person in people:
        values.extend(person.name_spellings)
        values.extend(
            (person.patient_id, person.national_id, person.birth_date, person.address, person.telephone)
        )
    for study in plans:
        values.extend(identifying_strings(study))
    return tuple(dict.fromkeys(values))
