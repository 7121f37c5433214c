"""`eucaim-ingest nifti push`: de-identify NIfTI files with their JSON sidecars and upload them
into the session of the study they were derived from (XNAT targets)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eucaim.errors import ConfigError
from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path

nifti_app = typer.Typer(help="NIfTI and derived data, de-identified like the images.", no_args_is_help=True)
app.add_typer(nifti_app, name="nifti")


def sidecar_of(nifti: Path) -> Path:
    """``x.nii.gz`` / ``x.nii`` → ``x.json`` (the BIDS convention)."""
    name = nifti.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else nifti.stem
    return nifti.with_name(stem + ".json")


@nifti_app.command("push")
def nifti_push(
    files: Annotated[list[Path], typer.Argument(help="NIfTI files (.nii or .nii.gz)")],
    sidecar: Annotated[
        Path | None,
        typer.Option("--sidecar", help="JSON sidecar (DICOM JSON or BIDS); default: <name>.json beside it"),
    ] = None,
    patient_id: Annotated[
        str | None,
        typer.Option("--patient-id", help="Original PatientID, when the sidecar does not carry it"),
    ] = None,
    study_uid: Annotated[
        str | None,
        typer.Option("--study-uid", help="Original StudyInstanceUID, when the sidecar does not carry it"),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Upload NIfTI files into their study's session; push the study's DICOM images first."""
    from eucaim.deid.engine import Deidentifier
    from eucaim.deid.profile import load_profile
    from eucaim.ingest.targets import build_xnat_target
    from eucaim.ingest.upload.xnat_nifti import prepare_nifti, upload_nifti_xnat
    from eucaim.ingest.workspace import Workspace

    if sidecar is not None and len(files) > 1:
        raise ConfigError("--sidecar goes with a single NIfTI file")
    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        if ws.config.node.kind != "xnat":
            raise ConfigError(
                "NIfTI upload is available for XNAT targets (the Health-RI node)",
                hint="a EUCAIM DICOMweb node stores DICOM only; convert derived data to DICOM "
                "(e.g. DICOM-SEG) to send it there",
            )
        deidentifier = Deidentifier(
            load_profile(ws.config.deid.profile), ws.secret, pseudonym_format=ws.config.deid.pseudonym_format
        )
        target = build_xnat_target(ws)
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
                console.print(
                    f"{nifti.name}: {len(uploaded)} files into session {prepared.session} "
                    f"(subject {prepared.subject}), digests checked",
                    markup=False,
                )
        finally:
            target.close()
