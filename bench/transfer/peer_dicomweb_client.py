"""dicomweb-client's ``store_instances``, used the way its documentation shows, on the same batches.

Runs in bench/.venv-peers (dicomweb-client is not a project dependency): read each file with
pydicom, then one ``store_instances(datasets, study_instance_uid)`` call per batch.
Usage: bench/.venv-peers/bin/python bench/transfer/peer_dicomweb_client.py MANIFEST ROOT TOKEN [BATCH_MB]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pydicom
from dicomweb_client.api import DICOMwebClient  # type: ignore[import-not-found, unused-ignore]


def main(manifest_path: Path, root: str, token: str, batch_mb: float) -> None:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    limit = int(batch_mb * 1024 * 1024)
    client = DICOMwebClient(url=root, headers={"Authorization": f"Bearer {token}"})
    by_study: dict[str, list[dict[str, str | int]]] = {}
    for item in manifest:
        by_study.setdefault(str(item["study"]), []).append(item)
    for study, items in by_study.items():
        batch: list[pydicom.Dataset] = []
        size = 0
        for item in items:
            if batch and size + int(item["size"]) > limit:
                client.store_instances(batch, study_instance_uid=study)
                batch, size = [], 0
            batch.append(pydicom.dcmread(str(item["path"])))
            size += int(item["size"])
        if batch:
            client.store_instances(batch, study_instance_uid=study)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 32)
