"""Plan a synthetic cohort's studies and series (UIDs, dates, equipment, staff) before any pixel is made.

Pure: a seeded ``random.Random`` and the patients go in, frozen plans come out. The plan is what both
the DICOM writer and the leak-test list of identifying strings are built from, so they cannot drift.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
from dataclasses import dataclass

from eucaim.dicom.synthetic_people import SyntheticPatient

# pydicom's registered test root: clearly synthetic, and never the 2.25 form de-identification emits.
UID_ROOT = "1.2.826.0.1.3680043.8.498."
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

_MODELS = {
    "SIEMENS": {"CT": "SOMATOM Definition AS+", "MR": "MAGNETOM Skyra"},
    "Philips": {"CT": "Brilliance 64", "MR": "Ingenia"},
    "GE MEDICAL SYSTEMS": {"CT": "Revolution CT", "MR": "SIGNA Premier"},
}
_INSTITUTIONS = (
    ("Hospital Universitari i Politècnic La Fe", "Avinguda Fernando Abril Martorell 106, 46026 València"),
    ("Policlinico Sant'Orsola-Malpighi", "Via Giuseppe Massarenti 9, 40138 Bologna"),
    ("Universitair Medisch Centrum Utrecht", "Heidelberglaan 100, 3584 CX Utrecht"),
)
_STAFF = (
    "PEREZ^ALBERTO^^DR.",
    "VERHOEVEN^ANNEKE",
    "SILVA^RODRIGO",
    "FISCHER^KLAUS^^DR.",
    "MARINO^CHIARA",
    "LAMBERT^NOEMIE",
    "KRAWCZYK^PIOTR",
    "HOLMBERG^ASTRID",
    "ROMERO^LUCIA^^DRA.",
    "DAHL^ERIK",
)

# (description, kind) per series; kind picks geometry and acquisition attributes.
CT_SERIES = (("AX 5.0 B30f", "ct_soft"), ("AX 1.0 B70f LUNG", "ct_sharp"), ("COR MPR 3.0", "ct_mpr"))
MR_SERIES = (("t2_tse_tra", "mr_t2"), ("t1_vibe_fs_tra", "mr_t1"), ("ep2d_diff_b1000", "mr_dwi"))


@dataclass(frozen=True)
class SeriesPlan:
    """One series: its identity, geometry kind and the UIDs of its instances."""

    uid: str
    number: int
    description: str
    kind: str
    frame_of_reference_uid: str
    time: str
    instance_uids: tuple[str, ...]
    folder: str
    bare_names: bool  # files without the .dcm extension, as some PACS exports write them
    source_series: SeriesPlan | None = None  # for derived (MPR) series


@dataclass(frozen=True)
class StudyPlan:
    """One study of one patient, with everything identifying a real export would carry."""

    patient: SyntheticPatient
    modality: str
    uid: str
    date: dt.date
    time: str
    accession: str
    study_id: str
    description: str
    institution: str
    institution_address: str
    manufacturer: str
    model: str
    station: str
    device_serial: str
    referring: str
    operator: str
    performing: str
    requested_procedure_id: str
    folder: str
    series: tuple[SeriesPlan, ...]
    prior_study_uid: str | None = None  # a follow-up refers to its baseline

    @property
    def da(self) -> str:
        return self.date.strftime("%Y%m%d")


def make_uid(seed: int, *parts: str) -> str:
    """Return a deterministic UID under ``UID_ROOT`` for the given seed and path of names."""
    digest = hashlib.sha256("|".join((str(seed), *parts)).encode()).digest()
    return UID_ROOT + str(int.from_bytes(digest[:14], "big"))


def plan_studies(
    rng: random.Random, seed: int, patient: SyntheticPatient, slices: tuple[int, int]
) -> tuple[StudyPlan, ...]:
    """Return the patient's CT study, MR study and, for some, a follow-up CT."""
    studies = [_plan_study(rng, seed, patient, "CT", patient.baseline, slices, None, 1)]
    studies.append(_plan_study(rng, seed, patient, "MR", patient.mr_date, slices, None, 2))
    if patient.followup_date is not None:
        studies.append(
            _plan_study(rng, seed, patient, "CT", patient.followup_date, slices, studies[0].uid, 3)
        )
    return tuple(studies)


def _plan_study(
    rng: random.Random,
    seed: int,
    patient: SyntheticPatient,
    modality: str,
    date: dt.date,
    slices: tuple[int, int],
    prior_uid: str | None,
    ordinal: int,
) -> StudyPlan:
    pid = patient.patient_id
    uid = make_uid(seed, pid, "study", str(ordinal))
    manufacturer = rng.choice(tuple(_MODELS))
    institution, address = rng.choice(_INSTITUTIONS)
    description = patient.diagnosis.ct_protocol if modality == "CT" else patient.diagnosis.mr_protocol
    # Real RIS text fields often carry the patient's name or MRN; plant that in some studies.
    if rng.random() < 0.4:
        description = f"{description} {patient.family_name.upper()}"
    catalogue = CT_SERIES if modality == "CT" else MR_SERIES
    n_series = rng.randint(2, 3)
    series: list[SeriesPlan] = []
    frame_uid = make_uid(seed, pid, "for", str(ordinal))
    study_time = f"{rng.randint(7, 18):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"
    for number, (series_desc, kind) in enumerate(catalogue[:n_series], start=1):
        count = rng.randint(*slices)
        series_uid = make_uid(seed, pid, "series", str(ordinal), str(number))
        folder = f"S{number:03d}_" + re.sub(r"[^A-Za-z0-9]+", "_", series_desc)
        if rng.random() < 0.2:
            series_desc = f"{series_desc} {pid}"
        source = series[0] if kind == "ct_mpr" else None
        series.append(
            SeriesPlan(
                uid=series_uid,
                number=number,
                description=series_desc,
                kind=kind,
                frame_of_reference_uid=frame_uid,
                time=f"{study_time[:2]}{min(59, int(study_time[2:4]) + number):02d}{study_time[4:]}",
                instance_uids=tuple(
                    make_uid(seed, pid, "sop", str(ordinal), str(number), str(i)) for i in range(count)
                ),
                folder=folder,
                bare_names=rng.random() < 0.25,
                source_series=source,
            )
        )
    return StudyPlan(
        patient=patient,
        modality=modality,
        uid=uid,
        date=date,
        time=study_time,
        accession=f"ACC{rng.randint(10**7, 10**8 - 1)}",
        study_id=f"S{rng.randint(10000, 99999)}",
        description=description,
        institution=institution,
        institution_address=address,
        manufacturer=manufacturer,
        model=_MODELS[manufacturer][modality],
        station=_station_name(rng, modality, institution),
        device_serial=f"SN{rng.randint(10**5, 10**6 - 1)}",
        referring=rng.choice(_STAFF),
        operator=rng.choice(_STAFF),
        performing=rng.choice(_STAFF),
        requested_procedure_id=f"RP{rng.randint(10**5, 10**6 - 1)}",
        folder=f"{modality}_{date.strftime('%Y%m%d')}",
        series=tuple(series),
        prior_study_uid=prior_uid,
    )


def _station_name(rng: random.Random, modality: str, institution: str) -> str:
    room = rng.choice(("SCAN", "ROOM", "SUITE"))
    return f"{modality}{room}{rng.randint(1, 9)}_{institution[:3]}".upper()  # SH: 16 characters at most


def identifying_strings(study: StudyPlan) -> tuple[str, ...]:
    """Every identifying value the study's files carry, besides the patient's own identity."""
    values = [
        study.uid,
        study.accession,
        study.study_id,
        study.institution,
        study.institution_address,
        study.station,
        study.device_serial,
        study.referring,
        study.operator,
        study.performing,
        study.requested_procedure_id,
    ]
    for series in study.series:
        values.extend((series.uid, series.frame_of_reference_uid, *series.instance_uids))
    return tuple(values)
