# ruff: noqa: E501  (sample CSV rows stay one per line, as they appear in the file)
"""Write the clinical sample files in this folder (fixed content; rerun after changing it).

Run: .venv/bin/python tests/data/clinical/generate.py
Every name, ID and date here is invented.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import openpyxl

HERE = Path(__file__).parent

# Spanish hospital export: ';' separated, Windows-1252 without BOM, day-first dates, decimal comma,
# site column names and codes (H = hombre, M = mujer), names and a birth date in the file.
CASES_ES = """\
NHC;Nombre;Apellidos;Fecha nacimiento;Población;Sexo;Edad diagnóstico;Fecha detección radiológica;Fecha confirmación AP;Método confirmación;Órgano;Morfología;Protocolo imagen;Tratamiento;Fecha 1er tratamiento;Fecha adquisición;Edad;Observaciones
000123;María José;Núñez Peña;14/02/1961;caso;M;58,1;02/03/2019;20/03/2019;biopsia;mama;8500/3;RM mama con contraste;cirugía|quimioterapia;15/04/2019;;;Paciente refiere antecedentes familiares
000456;José;García Ibáñez;30/11/1950;caso;H;68,5;11/06/2019;01/07/2019;biopsia;próstata;8140/3;RM multiparamétrica próstata;radioterapia;02/09/2019;;;
000789;Ana;López;05/05/1970;control;M;;;;;mama;;;;;10/01/2022;51,7;
"""
CASES_ES_MAPPING = """\
# Mapping for cases_es_latin1.csv: site columns and codes onto eucaim-minimum.
date_format = "%d/%m/%Y"
drop = ["Nombre", "Apellidos", "Observaciones"]

[columns]
"NHC" = "patient_id"
"Fecha nacimiento" = "birth_date"
"Población" = "population"
"Sexo" = "sex"
"Edad diagnóstico" = "age_at_diagnosis"
"Fecha detección radiológica" = "date_radiological_detection"
"Fecha confirmación AP" = "date_pathological_confirmation"
"Método confirmación" = "pathological_confirmation_method"
"Órgano" = "topography"
"Morfología" = "pathology"
"Protocolo imagen" = "imaging_protocol"
"Tratamiento" = "treatment"
"Fecha 1er tratamiento" = "date_first_treatment"
"Fecha adquisición" = "acquisition_date"
"Edad" = "age"

[values.population]
"caso" = "case"

[values.sex]
"H" = "male"
"M" = "female"

[values.pathological_confirmation_method]
"biopsia" = "biopsy"

[values.topography]
"mama" = "breast"
"próstata" = "prostate"

[values.treatment]
"cirugía" = "surgery"
"quimioterapia" = "chemotherapy"
"radioterapia" = "radiotherapy"
"""

# An export with the schema's own column names, UTF-8 with a BOM (Excel "CSV UTF-8"), and
# one of every common mistake; the expected findings are listed in tests/unit/clinical.
HEADER = (
    "PatientID;population;sex;age_at_diagnosis;date_radiological_detection;"
    "date_pathological_confirmation;pathological_confirmation_method;topography;pathology;"
    "imaging_protocol;treatment;date_first_treatment;acquisition_date;age;Patient Name;ward"
)
# fmt: off
CASES_ERRORS = "\n".join([
    HEADER,
    "P001;case;female;54.3;2020-01-10;2020-01-20;biopsy;breast;8500/3;MRI breast;surgery;2020-02-15;;;Jane Roe;B2",
    "P002;case;X;61.0;2020-03-01;2020-03-05;biopsy;lung;8140/3;CT thorax;chemotherapy;2020-02-01;;;John Doe;C1",
    "P003;case;male;;2021-05-01;;;prostate;8140/3;mpMRI;radiotherapy;2021-06-01;;;Max Mustermann;A",
    "P004;case;male;70.2;2021-01-01;2021-01-10;biopsy;liver;8170;CT liver;none;;;;Erika M;A",
    "P001;control;female;;;;;breast;;;;;2020-05-05;55.0;Jane Roe;B2",
    "P005;control;female;;;;;brain;;;;;2022-07-01;250;Ann Other;D",
    "",
])
# fmt: on

CONTROLS_TSV = (
    "patient_id\tpopulation\tsex\tacquisition_date\tage\ttopography\n"
    "C-0001\tcontrol\tF\t20220301\t47.25\tbreast\n"
    "C-0002\tcontrol\tM\t2022-04-12\t51,0\tprostate\n"
)

SUBJECTS = [
    {
        "patient": {"id": "P001", "sex": "female", "population": "case"},
        "diagnosis": {
            "age_at_diagnosis": {"value": 54.3},
            "date_radiological_detection": "2020-01-10",
            "pathological_confirmation": {"date": "2020-01-20", "method": "biopsy"},
            "topography": "breast",
            "pathology": "8500/3",
        },
        "imaging_protocol": "MRI breast",
        "treatment": ["surgery", "radiotherapy"],
        "date_first_treatment": "2020-02-15",
    },
    {
        "patient": {"id": "P002", "sex": "male", "population": "case"},
        "diagnosis": {
            "age_at_diagnosis": {"value": 61},
            "date_radiological_detection": "2020-03-01",
            "pathological_confirmation": {"date": "2020-03-05", "method": "cytology"},
            "topography": "lung",
            "pathology": "8140/3",
        },
        "imaging_protocol": "CT thorax",
        "treatment": ["chemotherapy"],
        "date_first_treatment": "2020-03-20",
    },
]
SUBJECTS_MAPPING = """\
[columns]
"patient.id" = "patient_id"
"diagnosis.pathological_confirmation.date" = "date_pathological_confirmation"
"diagnosis.pathological_confirmation.method" = "pathological_confirmation_method"
"""


def write_xlsx(path: Path) -> None:
    """Two header rows with merged groups, IDs as numbers, dates as serials and as datetimes."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Clinical"
    # fmt: off
    ws.append(["PatientID", "Demographics", None, None, "Diagnosis", None, None, None, None, None,
               "Treatment", None])
    ws.append([None, "population", "sex", "age_at_diagnosis", "date_radiological_detection",
               "date_pathological_confirmation", "pathological_confirmation_method", "topography",
               "pathology", "imaging_protocol", "treatment", "date_first_treatment"])
    for cells in ("A1:A2", "B1:D1", "E1:J1", "K1:L1"):
        ws.merge_cells(cells)
    # 43840 is 2020-01-10 as an Excel serial number in a cell left in General format.
    ws.append(["P001", "case", "F", 54.3, 43840, 43850, "biopsy", "breast", "8500/3", "MRI breast",
               "surgery", datetime(2020, 2, 15)])
    ws.append([1002, "case", "M", 61, 43891, 43895, "biopsy", "lung", "8140/3", "CT thorax",
               "chemotherapy", 43850])
    ws.append([None] * 12)  # a blank row users leave in; numbering must continue past it
    ws.append(["P003", "case", "M", 66.0, datetime(2021, 5, 1), datetime(2021, 5, 9), "biopsy",
               "prostate", "8140/3", "mpMRI", "radiotherapy", datetime(2021, 6, 1)])
    # fmt: on
    wb.save(path)


def main() -> None:
    (HERE / "cases_es_latin1.csv").write_bytes(CASES_ES.replace("\n", "\r\n").encode("cp1252"))
    (HERE / "cases_es_mapping.toml").write_text(CASES_ES_MAPPING, encoding="utf-8")
    (HERE / "cases_errors_utf8_bom.csv").write_bytes(b"\xef\xbb\xbf" + CASES_ERRORS.encode("utf-8"))
    # A broken exporter: UTF-8 byte-order mark in front of Windows-1252 text.
    (HERE / "cases_bom_latin1.csv").write_bytes(b"\xef\xbb\xbf" + CASES_ES.encode("cp1252"))
    (HERE / "controls.tsv").write_text(CONTROLS_TSV, encoding="utf-8")
    (HERE / "subjects_nested.json").write_text(json.dumps(SUBJECTS, indent=2, ensure_ascii=False) + "\n")
    (HERE / "subjects_nested_mapping.toml").write_text(SUBJECTS_MAPPING, encoding="utf-8")
    write_xlsx(HERE / "cohort_merged_header.xlsx")


if __name__ == "__main__":
    main()
