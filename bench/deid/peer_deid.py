"""Run pydicom/deid with its default recipe on one folder, the way its documentation shows.

Runs in bench/.venv-peers (deid is not a project dependency).
Usage: bench/.venv-peers/bin/python bench/deid/peer_deid.py IN_DIR OUT_DIR
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from deid.config import DeidRecipe  # type: ignore[import-not-found, unused-ignore]
from deid.dicom import replace_identifiers  # type: ignore[import-not-found, unused-ignore]


def main(in_dir: Path, out_dir: Path) -> None:
    logging.disable(logging.WARNING)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [str(p) for p in sorted(in_dir.iterdir())]
    replace_identifiers(
        dicom_files=files, deid=DeidRecipe(), save=True, output_folder=str(out_dir), overwrite=True
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
