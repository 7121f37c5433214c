"""The DICOM attributes the node indexes, at which level, in which column: one table for all uses.

STOW fills the columns from each instance's header, QIDO matches and returns them, and dataset
aggregation (issue 6) counts them. Adding an attribute here (plus a column and a migration) makes it
searchable and returnable everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """A level of the DICOM information model."""

    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


@dataclass(frozen=True)
class Attribute:
    """One DICOM attribute as the node knows it.

    ``column`` is the model column at ``level``; None marks a value the node computes (counts,
    ModalitiesInStudy, RetrieveURL). ``default`` says QIDO returns it without ``includefield``.
    """

    keyword: str
    tag: str
    vr: str
    level: Level
    column: str | None
    default: bool = True
    max_length: int = 64


_S, _SE, _I = Level.STUDY, Level.SERIES, Level.INSTANCE

ATTRIBUTES: tuple[Attribute, ...] = (
    # study level (patient attributes live here: the index keeps no separate patient table)
    Attribute("StudyInstanceUID", "0020000D", "UI", _S, "study_instance_uid"),
    Attribute("PatientID", "00100020", "LO", _S, "patient_id"),
    Attribute("PatientName", "00100010", "PN", _S, "patient_name", max_length=324),
    Attribute("PatientSex", "00100040", "CS", _S, "patient_sex", max_length=16),
    Attribute("PatientAge", "00101010", "AS", _S, "patient_age", default=False, max_length=4),
    Attribute("PatientBirthDate", "00100030", "DA", _S, "patient_birth_date", max_length=8),
    Attribute("StudyDate", "00080020", "DA", _S, "study_date", max_length=8),
    Attribute("StudyTime", "00080030", "TM", _S, "study_time", max_length=16),
    Attribute("AccessionNumber", "00080050", "SH", _S, "accession_number", max_length=16),
    Attribute("StudyID", "00200010", "SH", _S, "study_id", max_length=16),
    Attribute("StudyDescription", "00081030", "LO", _S, "study_description", default=False),
    Attribute("ModalitiesInStudy", "00080061", "CS", _S, None),
    Attribute("NumberOfStudyRelatedSeries", "00201206", "IS", _S, None),
    Attribute("NumberOfStudyRelatedInstances", "00201208", "IS", _S, None),
    # series level
    Attribute("SeriesInstanceUID", "0020000E", "UI", _SE, "series_instance_uid"),
    Attribute("Modality", "00080060", "CS", _SE, "modality", max_length=16),
    Attribute("SeriesNumber", "00200011", "IS", _SE, "series_number"),
    Attribute("SeriesDescription", "0008103E", "LO", _SE, "series_description"),
    Attribute("BodyPartExamined", "00180015", "CS", _SE, "body_part_examined", default=False),
    Attribute("Manufacturer", "00080070", "LO", _SE, "manufacturer", default=False),
    Attribute("ManufacturerModelName", "00081090", "LO", _SE, "manufacturer_model_name", default=False),
    Attribute("NumberOfSeriesRelatedInstances", "00201209", "IS", _SE, None),
    # instance level
    Attribute("SOPInstanceUID", "00080018", "UI", _I, "sop_instance_uid"),
    Attribute("SOPClassUID", "00080016", "UI", _I, "sop_class_uid"),
    Attribute("InstanceNumber", "00200013", "IS", _I, "instance_number"),
    Attribute("NumberOfFrames", "00280008", "IS", _I, "number_of_frames"),
    Attribute("Rows", "00280010", "US", _I, "rows"),
    Attribute("Columns", "00280011", "US", _I, "columns"),
    Attribute("AvailableTransferSyntaxUID", "00083002", "UI", _I, "transfer_syntax_uid"),
)

BY_KEYWORD = {a.keyword: a for a in ATTRIBUTES}
BY_TAG = {a.tag: a for a in ATTRIBUTES}
RETRIEVE_URL_TAG = "00081190"

_LEVEL_ORDER = {Level.STUDY: 0, Level.SERIES: 1, Level.INSTANCE: 2}


def find_attribute(name: str) -> Attribute | None:
    """Return the attribute named by keyword or by 8-hex-digit tag, or None when not indexed."""
    return BY_KEYWORD.get(name) or BY_TAG.get(name.upper())


def attributes_up_to(level: Level) -> list[Attribute]:
    """Return the attributes of ``level`` and the levels above it, in table order."""
    return [a for a in ATTRIBUTES if _LEVEL_ORDER[a.level] <= _LEVEL_ORDER[level]]


def stored_attributes(level: Level) -> list[Attribute]:
    """Return the attributes held in columns at exactly ``level``."""
    return [a for a in ATTRIBUTES if a.level is level and a.column is not None]
