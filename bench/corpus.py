"""The benchmark corpora, generated once per size and kept under bench/work/ (git-ignored).

- ``ct``: 512 x 512 CT slices from ``generate_ct_corpus`` (about 0.5 MB each, pixel-dominated).
- ``header``: small files from ``generate_cohort`` with 16 x 16 pixels (a few KB each, so the work is
  all in the header: names, UIDs, dates, nested references and a private block everywhere).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.common import WORK, dicom_files
from eucaim.dicom.synthetic import generate_cohort, generate_ct_corpus

HEADER_IMAGE_SIZE = 16
FILES_PER_PATIENT = 40  # a cohort patient has 45-90 files; ask for enough, trim the rest


def corpus(kind: str, n: int) -> Path:
    """The folder holding ``n`` files of corpus ``kind``; made on first use, reused after."""
    root = WORK / f"corpus-{kind}-{n}"
    done = root / ".complete"
    if done.exists():
        return root / "dicom"
    if root.exists():
        shutil.rmtree(root)
    dicom = root / "dicom"
    if kind == "ct":
        generate_ct_corpus(dicom, n)
    elif kind == "header":
        cohort = generate_cohort(
            root, patients=max(1, -(-n // FILES_PER_PATIENT)), seed=7, image_size=HEADER_IMAGE_SIZE
        )
        for extra in cohort.files[n:]:
            extra.unlink()
        if len(cohort.files) < n:
            raise RuntimeError(f"cohort gave {len(cohort.files)} files, fewer than {n}")
    else:
        raise ValueError(f"unknown corpus {kind!r}")
    files = dicom_files(dicom)
    assert len(files) == n
    for path in files:
        path.chmod(0o444)  # a tool that writes into its input fails instead of spoiling later runs
    done.touch()
    return dicom
