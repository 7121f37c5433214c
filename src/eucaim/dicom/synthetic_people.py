"""Invent synthetic patients, with identities and clinical timelines, from a seeded random source.

Pure: the caller passes a ``random.Random``; the same seed gives the same people. Nobody here is
real. Names carry accents and apostrophes, as hospital registries do, so de-identification is tested
against more than ASCII.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

_FAMILY = (
    "García López",
    "Müller",
    "Rossi",
    "De Vries",
    "Sørensen",
    "Núñez",
    "Papadopoulos",
    "Kowalski",
    "Dubois",
    "O'Brien",
    "Conceição",
    "Janssens",
    "Lindqvist",
    "Fernández Ruiz",
    "Bianchi",
    "Novák",
    "Schäfer",
    "Moreau",
    "Van den Berg",
    "Ortega",
    "Esposito",
    "Horváth",
    "Nieminen",
    "Costa",
)
_GIVEN_F = ("María José", "Zoë", "Ana", "Giulia", "Ingrid", "Élodie", "Sofía", "Katarzyna", "Inês", "Eva")
_GIVEN_M = ("José", "Jürgen", "Marco", "Pieter", "Lars", "Andrés", "Nikos", "Tomasz", "Luc", "João")
_STREETS = ("Avinguda Fernando Abril Martorell", "Calle Mayor", "Via Roma", "Hauptstraße", "Keizersgracht")
_CITIES = ("46026 València", "28013 Madrid", "00184 Roma", "10115 Berlin", "1016 Amsterdam")


@dataclass(frozen=True)
class Diagnosis:
    """A cancer (or, for a control, the organ imaged) and where it is seen."""

    topography: str  # ICD-O-3 topography
    pathology: str  # ICD-O-3 morphology
    body_part: str  # DICOM BodyPartExamined
    ct_protocol: str
    mr_protocol: str
    confirmation: str
    treatment: str


_DIAGNOSES = (
    Diagnosis("C34.1", "8140/3", "CHEST", "CT THORAX W CONTRAST", "MR THORAX", "biopsy", "surgery"),
    Diagnosis("C34.3", "8070/3", "CHEST", "CT THORAX LOW DOSE", "MR THORAX", "cytology", "chemoradiotherapy"),
    Diagnosis("C50.4", "8500/3", "BREAST", "CT THORAX STAGING", "MR BREAST DCE", "biopsy", "chemotherapy"),
    Diagnosis("C18.7", "8140/3", "ABDOMEN", "CT ABDOMEN PORTAL", "MR ABDOMEN", "surgery", "surgery"),
    Diagnosis("C61.9", "8550/3", "PELVIS", "CT PELVIS", "MR PROSTATE MPMRI", "biopsy", "radiotherapy"),
    Diagnosis("C71.9", "9440/3", "BRAIN", "CT HEAD", "MR BRAIN GLIOMA", "surgery", "chemoradiotherapy"),
)


@dataclass(frozen=True)
class SyntheticPatient:
    """One invented patient: identity (all of it identifying) and what the clinical CSV says."""

    patient_id: str  # hospital MRN, also the clinical CSV's PatientID
    name: str  # DICOM PN form, FAMILY^Given
    family_name: str
    given_name: str
    birth_date: str  # DICOM DA, YYYYMMDD
    sex: str  # M or F
    age: int  # years at the first study
    weight_kg: float
    height_m: float
    address: str
    telephone: str
    national_id: str  # another identifier, stored in OtherPatientIDsSequence
    population: str  # case or control
    diagnosis: Diagnosis
    baseline: dt.date  # first CT
    mr_date: dt.date
    confirmation_date: dt.date | None  # cases only
    treatment_date: dt.date | None  # cases only
    followup_date: dt.date | None  # second CT timepoint, some patients only

    @property
    def free_text_name(self) -> str:
        """The name as a clerk types it in free text: 'Given Family'."""
        return f"{self.given_name} {self.family_name}"

    @property
    def name_spellings(self) -> tuple[str, ...]:
        """Every spelling of the name that appears somewhere in this patient's data."""
        return (
            self.name,
            self.free_text_name,
            self.ascii_name,
            f"{self.family_name}, {self.given_name}",
            self.family_name,
        )

    @property
    def ascii_name(self) -> str:
        """Upper-case name without accents, the way legacy systems and private tags store it."""
        return _to_ascii(f"{self.family_name} {self.given_name}").upper()


def _to_ascii(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def make_patients(rng: random.Random, count: int) -> tuple[SyntheticPatient, ...]:
    """Return ``count`` distinct patients; every fifth one (index 4, 9, ...) is a control."""
    families = rng.sample(_FAMILY, k=min(count, len(_FAMILY)))
    ids: set[str] = set()
    patients = []
    for index in range(count):
        family = families[index % len(families)]
        if index >= len(families):
            family = f"{family}-{_FAMILY[index % len(_FAMILY)]}"
        patients.append(_make_patient(rng, index, family, ids))
    return tuple(patients)


def _unique_id(rng: random.Random, ids: set[str]) -> str:
    # Letters keep an MRN from being found by chance inside digit runs such as 2.25 UIDs,
    # which would make leak tests flaky.
    while True:
        candidate = f"HSJ{rng.randint(1000000, 9999999)}"
        if candidate not in ids:
            ids.add(candidate)
            return candidate


def _make_patient(rng: random.Random, index: int, family: str, ids: set[str]) -> SyntheticPatient:
    sex = rng.choice("FM")
    given = rng.choice(_GIVEN_F if sex == "F" else _GIVEN_M)
    is_control = index % 5 == 4
    diagnosis = rng.choice(_DIAGNOSES)
    if diagnosis.body_part == "PELVIS" and sex == "F":
        diagnosis = _DIAGNOSES[3]
    baseline = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 9 * 365))
    age = rng.randint(32, 84)
    birth = baseline - dt.timedelta(days=age * 365 + rng.randint(5, 360))
    mr_date = baseline + dt.timedelta(days=rng.randint(3, 20))
    confirmation = treatment = followup = None
    if not is_control:
        confirmation = mr_date + dt.timedelta(days=rng.randint(5, 25))
        treatment = confirmation + dt.timedelta(days=rng.randint(10, 40))
        if rng.random() < 0.4:
            followup = treatment + dt.timedelta(days=rng.randint(60, 200))
    height = round(rng.uniform(1.52, 1.68) if sex == "F" else rng.uniform(1.64, 1.90), 2)
    return SyntheticPatient(
        patient_id=_unique_id(rng, ids),
        name=f"{family.upper()}^{given}",
        family_name=family,
        given_name=given,
        birth_date=birth.strftime("%Y%m%d"),
        sex=sex,
        age=(baseline - birth).days // 365,
        weight_kg=round(rng.uniform(48, 102), 1),
        height_m=height,
        address=f"{rng.choice(_STREETS)} {rng.randint(1, 180)}, {rng.choice(_CITIES)}",
        telephone=f"+34 6{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        national_id=f"{rng.randint(10000000, 99999999)}{rng.choice('TRWAGMYFPDXBNJZSQVHLCKE')}",
        population="control" if is_control else "case",
        diagnosis=diagnosis,
        baseline=baseline,
        mr_date=mr_date,
        confirmation_date=confirmation,
        treatment_date=treatment,
        followup_date=followup,
    )
