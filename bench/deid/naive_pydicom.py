"""The parse-and-write floor: read every file of a folder with pydicom and write it back unchanged.

Usage: python -m bench.deid.naive_pydicom IN_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom


def main(in_dir: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(in_dir.iterdir()):
        ds = pydicom.dcmread(path)
        ds.save_as(out_dir / path.name)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
