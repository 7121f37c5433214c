"""Reference closure of a de-identified set: do the UIDs it points at exist in it?

After a batch, every SOP Instance UID an instance references (ReferencedSOPInstanceUID at any
depth: SEG sources, RT plan/structure links, SR evidence) should be an instance of the batch or
at least have been remapped; and no original UID may survive. Pure: takes datasets, returns facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pydicom

_REFERENCED_SOP_INSTANCE_UID = 0x00081155


@dataclass(frozen=True)
class ReferenceReport:
    """What a set of de-identified instances references, and what it cannot resolve."""

    instances: int
    references: int
    dangling: tuple[str, ...]  # referenced SOP Instance UIDs not in the set (new UIDs)
    surviving_originals: tuple[str, ...]  # original UIDs still present anywhere

    @property
    def is_closed(self) -> bool:
        """Every reference resolves inside the set."""
        return not self.dangling


def check_references(
    datasets: Iterable[pydicom.Dataset], *, original_uids: Iterable[str] = ()
) -> ReferenceReport:
    """Check ``datasets`` (already de-identified) for dangling references and surviving originals.

    ``original_uids`` are the UIDs of the input (the caller knows them, e.g. from its index);
    any of them found in the output means a UID escaped remapping.
    """
    originals = set(original_uids)
    present: set[str] = set()
    referenced: set[str] = set()
    survivors: set[str] = set()
    count = 0
    for ds in datasets:
        count += 1
        present.add(str(ds.SOPInstanceUID))
        for elem in ds.iterall():
            if elem.VR != "UI" or elem.value is None:
                continue
            values = (
                elem.value if isinstance(elem.value, list | pydicom.multival.MultiValue) else [elem.value]
            )
            for value in (str(v) for v in values):
                if value in originals:
                    survivors.add(value)
                if elem.tag == _REFERENCED_SOP_INSTANCE_UID:
                    referenced.add(value)
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            survivors.update(str(e.value) for e in meta.iterall() if str(e.value) in originals)
    return ReferenceReport(
        instances=count,
        references=len(referenced),
        dangling=tuple(sorted(referenced - present)),
        surviving_originals=tuple(sorted(survivors)),
    )
