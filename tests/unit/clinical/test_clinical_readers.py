"""Reading hospital exports: encodings, delimiters, Excel headers and serial dates, nested JSON."""

from __future__ import annotations

import codecs
import json
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from eucaim.clinical.csv_reader import decode, detect_delimiter
from eucaim.clinical.loader import load_table
from eucaim.clinical.schema import Schema
from eucaim.clinical.validation import validate
from eucaim.errors import ClinicalDataError

from .samples import data_file

SPANISH = "NHC;Topografía;Observaciones\r\n000123;próstata;Señal dudosa, revisión año próximo\r\n"


def test_latin1_without_bom_is_read_as_windows_1252_and_said_so(tmp_path: Path) -> None:
    path = tmp_path / "es.csv"
    path.write_bytes(SPANISH.encode("latin-1"))
    table = load_table(path)
    assert table.source.encoding == "cp1252"
    assert table.source.delimiter == ";"
    assert table.rows[0].cells["Observaciones"] == "Señal dudosa, revisión año próximo"
    assert any(p.rule == "encoding" and not p.is_error for p in table.problems)


def test_utf8_with_bom_keeps_first_header_clean() -> None:
    table = load_table(data_file("cases_errors_utf8_bom.csv"))
    assert table.source.encoding == "utf-8-sig"
    assert table.columns[0] == "PatientID"  # no '\ufeff' glued to the ID column
    assert table.problems == ()


def test_utf8_bom_in_front_of_latin1_text_is_recovered_with_a_warning() -> None:
    table = load_table(data_file("cases_bom_latin1.csv"))
    assert table.columns[0] == "NHC"
    assert table.rows[0].cells["Nombre"] == "María José"
    notes = [p.message for p in table.problems]
    assert any("UTF-8 byte-order mark but its text is not UTF-8" in n for n in notes)


def test_utf16_export_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "patient_id\tsex\r\nP1\tF\r\n".encode("utf-16-le"))
    table = load_table(path)
    assert (table.source.encoding, table.source.delimiter) == ("utf-16", "\t")
    assert table.rows[0].cells == {"patient_id": "P1", "sex": "F"}


def test_cyrillic_single_byte_file_is_not_forced_into_windows_1252(tmp_path: Path) -> None:
    text = "PatientID;Пол;Комментарий\nP1;Ж;Пациентка с историей болезни, повторное обследование\n"
    text, encoding, _ = decode(text.encode("cp1251"))
    assert encoding == "cp1251"
    assert "Пациентка" in text


def test_tiny_latin1_file_is_not_mistaken_for_another_script(tmp_path: Path) -> None:
    # Found by the round-trip property: the detector called this two-line file non-Latin.
    path = tmp_path / "tiny.csv"
    path.write_bytes('a_;a__\r\n0;";aAñ"\r\n'.encode("cp1252"))
    assert load_table(path).rows[0].cells == {"a_": "0", "a__": ";aAñ"}


def test_explicit_encoding_that_does_not_fit_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(SPANISH.encode("latin-1"))
    with pytest.raises(ClinicalDataError, match="cannot decode the file as utf-8"):
        load_table(path, encoding="utf-8")


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_delimiter_is_detected_even_with_the_others_inside_values(delimiter: str) -> None:
    rows = ["patient_id", "imaging_protocol", "age"], ["P1", "CT; thorax, abdomen", "54,3"]
    text = "\n".join(delimiter.join(f'"{c}"' for c in row) for row in rows) + "\n"
    assert detect_delimiter(text) == delimiter


def test_excel_sep_hint_line_sets_the_delimiter_and_is_not_a_row(tmp_path: Path) -> None:
    path = tmp_path / "sep.csv"
    path.write_text(
        "sep=,\r\npatient_id,imaging_protocol\r\nP1,CT; thorax; abdomen; pelvis\r\n", encoding="utf-8"
    )
    table = load_table(path)
    assert table.source.delimiter == ","
    assert table.columns == ("patient_id", "imaging_protocol")
    assert table.rows[0].number == 2


def test_title_lines_above_the_header_are_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "title.csv"
    path.write_text("Export from HIS;;\n;;\npatient_id;sex;age\nP1;F;50\n", encoding="utf-8")
    table = load_table(path)
    assert (table.source.delimiter, table.columns) == (";", ("patient_id", "sex", "age"))
    assert table.rows[0].number == 4
    assert [(p.rule, p.is_error) for p in table.problems] == [("title-rows", False)]


def test_row_numbers_match_the_spreadsheet_across_blank_lines_and_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('patient_id,note\nP1,"two\nlines"\n\nP2,x\n', encoding="utf-8")
    table = load_table(path)
    # Header is row 1, P1 row 2 (its cell spans two text lines), blank row 3, P2 row 4.
    assert [(r.number, r.cells["patient_id"]) for r in table.rows] == [(2, "P1"), (4, "P2")]


def test_duplicate_header_and_extra_cells_are_findings_not_crashes(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("patient_id,sex,sex\nP1,F,F,surplus\n", encoding="utf-8")
    table = load_table(path)
    assert {(p.rule, p.row) for p in table.problems} == {("duplicate-column", 1), ("extra-cells", 2)}


def test_empty_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ClinicalDataError, match="no header row"):
        load_table(path)


def test_xlsx_merged_header_cells_become_group_slash_column() -> None:
    table = load_table(data_file("cohort_merged_header.xlsx"))
    assert table.source.header_rows == 2
    assert table.source.sheet == "Clinical"
    assert table.columns[:3] == ("PatientID", "Demographics / population", "Demographics / sex")
    assert table.columns[-1] == "Treatment / date_first_treatment"


def test_xlsx_rows_keep_sheet_numbers_and_native_values() -> None:
    table = load_table(data_file("cohort_merged_header.xlsx"))
    assert [r.number for r in table.rows] == [3, 4, 6]  # row 5 is blank in the sheet
    first = table.rows[0].cells
    assert first["Diagnosis / date_radiological_detection"] == 43840  # a serial, left for the schema
    assert first["Treatment / date_first_treatment"] == datetime(2020, 2, 15)
    assert table.rows[1].cells["PatientID"] == 1002


def test_xlsx_1904_date_system_serials(tmp_path: Path, schema: Schema) -> None:
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.append(["patient_id", "population", "sex", "topography", "acquisition_date", "age"])
    ws.append(["C1", "control", "F", "breast", 42378, 50])  # 42378 days after 1904-01-01
    path = tmp_path / "mac.xlsx"
    wb.save(path)
    table = load_table(path)
    assert table.source.excel_1904
    result = validate(table, schema, today=date(2025, 6, 1))
    assert result.rows[0].values["acquisition_date"] == date(2020, 1, 10)


def test_xlsx_unknown_sheet_names_the_sheets(tmp_path: Path) -> None:
    with pytest.raises(ClinicalDataError, match="use one of: Clinical"):
        load_table(data_file("cohort_merged_header.xlsx"), sheet="Sheet9")


def test_a_file_named_xlsx_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0 legacy xls")
    with pytest.raises(ClinicalDataError, match=r"cannot open old\.xlsx as an Excel workbook"):
        load_table(path)


def test_xlsx_title_row_merged_across_the_table_is_skipped(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Clinical export 2024", None])
    ws.merge_cells("A1:B1")
    ws.append(["patient_id", "sex"])
    ws.append(["P1", "F"])
    path = tmp_path / "title.xlsx"
    wb.save(path)
    table = load_table(path)
    assert table.columns == ("patient_id", "sex")
    assert table.rows[0].number == 3
    assert [p.rule for p in table.problems] == ["title-rows"]


def test_xlsx_unmerged_title_row_is_skipped(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Clinical export 2024"])
    ws.append([])
    ws.append(["patient_id", "sex"])
    ws.append(["P1", "F"])
    path = tmp_path / "title.xlsx"
    wb.save(path)
    table = load_table(path)
    assert (table.columns, table.rows[0].number, table.source.header_rows) == (("patient_id", "sex"), 4, 1)
    assert [p.rule for p in table.problems] == ["title-rows"]


def test_nested_json_is_flattened_by_dotted_path() -> None:
    table = load_table(data_file("subjects_nested.json"))
    first = table.rows[0].cells
    assert first["patient.id"] == "P001"
    assert first["diagnosis.pathological_confirmation.method"] == "biopsy"
    assert first["diagnosis.age_at_diagnosis"] == 54.3  # {"value": 54.3} collapsed
    assert first["treatment"] == "surgery|radiotherapy"
    assert (table.source.row_noun, table.rows[1].number) == ("record", 2)


def test_json_wrapper_object_single_object_and_json_lines(tmp_path: Path) -> None:
    wrapped = tmp_path / "w.json"
    wrapped.write_text(json.dumps({"subjects": [{"patient_id": "A"}, {"patient_id": "B"}]}))
    assert [r.cells["patient_id"] for r in load_table(wrapped).rows] == ["A", "B"]
    single = tmp_path / "s.json"
    single.write_text(json.dumps({"patient_id": "A", "sex": "F"}))
    assert len(load_table(single).rows) == 1
    lines = tmp_path / "l.jsonl"
    lines.write_text('{"patient_id": "A"}\n\n{"patient_id": "B"}\n')
    table = load_table(lines)
    assert table.source.row_noun == "line"
    assert [r.number for r in table.rows] == [1, 3]


def test_json_object_keyed_by_patient_id(tmp_path: Path) -> None:
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps({"P1": {"sex": "F", "age": 50}, "P2": {"sex": "M", "age": 61}}))
    table = load_table(path)
    assert [(r.cells["patient_id"], r.cells["sex"]) for r in table.rows] == [("P1", "F"), ("P2", "M")]
    nested = tmp_path / "one.json"
    nested.write_text(json.dumps({"patient": {"id": "P1"}, "diagnosis": {"topography": "lung"}}))
    assert load_table(nested).columns == ("patient.id", "diagnosis.topography")


def test_broken_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"patient_id": "A",}]')
    with pytest.raises(ClinicalDataError, match=r"not valid JSON: .* at line 1 column 21"):
        load_table(path)


def test_json_list_of_non_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    path.write_text('["A", "B"]')
    with pytest.raises(ClinicalDataError, match="record 1 is a JSON str, not an object"):
        load_table(path)


def test_unsupported_or_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "data.sav"
    path.write_bytes(b"x")
    with pytest.raises(ClinicalDataError, match=r"unsupported file type '\.sav'"):
        load_table(path)
    with pytest.raises(ClinicalDataError, match="does not exist"):
        load_table(tmp_path / "nope.csv")
