"""`eucaim-ingest nifti push`: de-identify NIfTI files with their JSON sidecars and upload them
into the session of the study they were derived from (XNAT targets)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eucaim.ingest.cli.app import WorkspaceOption, app, console, resolve_workspace_path

nifti_app = typer.Typer(help="NIfTI and derived data, de-identified like the images.", no_args_is_help=True)
app.add_typer(nifti_app, name="nifti")


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
    from eucaim.ingest.nifti_push import NiftiPushed, push_nifti
    from eucaim.ingest.workspace import Workspace

    def report(pushed: NiftiPushed) -> None:
        console.print(
            f"{pushed.name}: {pushed.files} files into session {pushed.session} "
            f"(subject {pushed.subject}), digests checked",
            markup=False,
        )

    with Workspace.open(resolve_workspace_path(workspace)) as ws:
        push_nifti(ws, files, sidecar=sidecar, patient_id=patient_id, study_uid=study_uid, on_pushed=report)
