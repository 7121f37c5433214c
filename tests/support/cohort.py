"""Synthetic cohort fixtures: one default cohort per test session, and the malformed examples.

Register the fixtures once in ``tests/conftest.py``::

    pytest_plugins = ["tests.support.cohort"]

then ask for them in a test::

    def test_no_phi_leaks(cohort: Cohort, tmp_path: Path) -> None:
        deidentify_tree(cohort.root, tmp_path / "out")
        ...

- ``cohort`` (session): ``generate_cohort`` with its defaults (10 patients, seed 0, about 560
  files of 64 x 64 pixels, under 2 s). Shared by every test of the session: treat it as read-only,
  and copy it (``cohort_copy``) before changing anything in it.
- ``cohort_copy`` (function): a private copy of the session cohort's DICOM tree and CSV in
  ``tmp_path``, as a :class:`Cohort` whose paths point into the copy.
- ``small_cohort`` (function): a fresh two-patient cohort with short series (about 20 files), for
  tests that change files or only need a few.
- ``malformed`` (function): ``write_malformed_examples`` in ``tmp_path``; see its docstring for how
  each file fails.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import Cohort, generate_cohort, write_malformed_examples


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """The default synthetic cohort, generated once per session (read-only)."""
    return generate_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture
def cohort_copy(cohort: Cohort, tmp_path: Path) -> Cohort:
    """A private, writable copy of the session cohort."""
    base = tmp_path / "cohort"
    root = base / cohort.root.name
    shutil.copytree(cohort.root, root)
    clinical_csv = base / cohort.clinical_csv.name
    shutil.copy2(cohort.clinical_csv, clinical_csv)
    files = tuple(root / path.relative_to(cohort.root) for path in cohort.files)
    return dataclasses.replace(cohort, root=root, files=files, clinical_csv=clinical_csv)


@pytest.fixture
def small_cohort(tmp_path: Path) -> Cohort:
    """A fresh two-patient cohort with two or three slices per series."""
    return generate_cohort(tmp_path / "small_cohort", patients=2, slices=(2, 3))


@pytest.fixture
def malformed(tmp_path: Path) -> dict[str, Path]:
    """One broken file per failure mode: not_dicom, truncated, unreadable, no_sop_uid, empty."""
    return write_malformed_examples(tmp_path / "malformed")
