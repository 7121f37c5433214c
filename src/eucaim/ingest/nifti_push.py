"""Push NIfTI files into the XNAT session of the study they come from (CLI ``nifti push`` and web UI).

Each file is de-identified with its JSON sidecar (``prepare_nifti``) and uploaded next to the
study's DICOM images (``upload_nifti_xnat``), so the study must have been pushed first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eucaim.errors import ConfigError
from eucaim.ingest.workspace import Workspace

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class NiftiPushed:
    """One NIfTI file uploaded: its (local) name, how many files went up, where (pseudonymised ids)."""

    name: str
    files: int
    session: str
    subject: str


def is_nifti(path: Path) -> bool:
    return path.name.endswith(NIFTI_SUFFIXES)


def sidecar_of(nifti: Path) -> Path:
    """``x.nii.gz`` / ``x.nii`` → ``x.json`` (the BIDS convention)."""
    name = nifti.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else nifti.stem
    return nifti.with_name(stem + ".json")


def check_nifti_target(ws: Workspace) -> None:
    """Raise ConfigError unless the workspace sends to XNAT (a DICOMweb node stores DICOM only)."""
    if ws.config.node.kind != "xnat":
        raise ConfigError(
            "NIfTI upload is available for XNAT targets (the Health-RI node)",
            hint="a EUCAIM DICOMweb node stores DICOM only; convert derived data to DICOM "
            "(e.g. DICOM-SEG) to send it there",
        )


def push_nifti(
    ws: Workspace,
    files: Sequence[Path],
    *,
    sidecar: Path | None = None,
    patient_id: str | None = None,
    study_uid: str | None = None,
    on_pushed: Callable[[NiftiPushed], None] | None = None,
) -> list[NiftiPushed]:
    """De-identify and upload ``files`` in order; ``on_pushed`` hears of each one as it lands.

    ``sidecar`` replaces ``<name>.json`` (one file only); ``patient_id``/``study_uid`` name the
    original study when the sidecar does not carry them.

    Raises:
        ConfigError: not an XNAT workspace, a sidecar missing, ``sidecar`` with several files.
        UploadError: XNAT refused a file (the study's session not there: push the study first).
    """
    from eucaim.deid.engine import Deidentifier
    from eucaim.deid.profile import load_profile
    from eucaim.ingest.targets import build_xnat_target
    from eucaim.ingest.upload.xnat_nifti import prepare_nifti, upload_nifti_xnat

    if sidecar is not None and len(files) > 1:
        raise ConfigError("--sidecar goes with a single NIfTI file")
    check_nifti_target(ws)
    deidentifier = Deidentifier(
        load_profile(ws.config.deid.profile), ws.secret, pseudonym_format=ws.config.deid.pseudonym_format
    )
    target = build_xnat_target(ws)
    done: list[NiftiPushed] = []
    try:
        for nifti in files:
            side = sidecar or sidecar_of(nifti)
            if not side.is_file():
                raise ConfigError(f"{nifti.name} has no sidecar {side.name}", hint="give --sidecar")
            prepared = prepare_nifti(
                nifti,
                side,
                deidentifier,
                ws.secret,
                ws.outbox / "nifti",
                patient_id=patient_id,
                study_uid=study_uid,
            )
            uploaded = upload_nifti_xnat(target, prepared)
            pushed = NiftiPushed(nifti.name, len(uploaded), prepared.session, prepared.subject)
            done.append(pushed)
            if on_pushed is not None:
                on_pushed(pushed)
    finally:
        target.close()
    return done
