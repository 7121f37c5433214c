"""Reading CSV/XLSX lists of patients, accessions and study UIDs into study queries."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from eucaim.errors import ConfigError
from eucaim.ingest.sources.query import StudyQuery
from eucaim.ingest.sources.querylist import QueryColumn, QueryListError, read_query_list

UID1 = "1.2.826.0.1.3680043.8.498.1"
UID2 = "1.2.826.0.1.3680043.8.498.2"


def write(tmp_path: Path, text: str, name: str = "list.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_patient_id_header(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID\nP001\nP002\n")

    assert read_query_list(path) == [StudyQuery(patient_id="P001"), StudyQuery(patient_id="P002")]


@pytest.mark.parametrize("header", ["Accession Number", "accession_number", "ACCESSION", "Acc. No"])
def test_header_names_are_recognised_in_any_spelling(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, f"{header}\nA1\n")

    assert read_query_list(path) == [StudyQuery(accession_number="A1")]


def test_semicolon_csv_from_european_excel_with_bom_and_extra_columns(tmp_path: Path) -> None:
    text = "\ufeffNHC;Nombre;Modality;StudyDate\n123;José;mr;20240101-20240131\n"
    path = write(tmp_path, text)

    [query] = read_query_list(path)

    assert query == StudyQuery(
        patient_id="123", modality="MR", date_from=date(2024, 1, 1), date_to=date(2024, 1, 31)
    )


def test_cp1252_csv_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "StudyInstanceUID,Comentario\n" + UID1 + ",niño\n", encoding="cp1252")

    assert read_query_list(path) == [StudyQuery(study_uid=UID1)]


def test_open_date_range_and_iso_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID,DateFrom,StudyDate\nP1,2024-02-01,\nP2,,20230505\nP3,,20240101-\n")

    assert read_query_list(path) == [
        StudyQuery(patient_id="P1", date_from=date(2024, 2, 1)),
        StudyQuery(patient_id="P2", date_from=date(2023, 5, 5), date_to=date(2023, 5, 5)),
        StudyQuery(patient_id="P3", date_from=date(2024, 1, 1)),
    ]


def test_blank_rows_are_skipped_and_duplicates_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID\n\nP1\n,\nP1\nP2\n")

    assert read_query_list(path) == [StudyQuery(patient_id="P1"), StudyQuery(patient_id="P2")]


def test_headerless_single_column_needs_to_be_told_what_it_holds(tmp_path: Path) -> None:
    path = write(tmp_path, "A100\nA200\n", name="accessions.txt")

    with pytest.raises(QueryListError, match="no header row") as caught:
        read_query_list(path)
    assert "AccessionNumber" in str(caught.value)

    assert read_query_list(path, default_column=QueryColumn.ACCESSION_NUMBER) == [
        StudyQuery(accession_number="A100"),
        StudyQuery(accession_number="A200"),
    ]


def test_bad_date_names_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID,StudyDate\nP1,20240101\nP2,31/12/2024\n")

    with pytest.raises(QueryListError) as caught:
        read_query_list(path)

    assert caught.value.row == 3
    assert caught.value.column == "study_date"
    assert "list.csv, row 3, column 'study_date'" in str(caught.value)
    assert "YYYYMMDD" in str(caught.value)


def test_bad_study_uid_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, f"StudyInstanceUID\n{UID1}\n{UID2}x\n")

    with pytest.raises(QueryListError, match="row 3") as caught:
        read_query_list(path)
    assert isinstance(caught.value, ConfigError)


def test_wildcard_in_patient_id_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID\nP*\n")

    with pytest.raises(QueryListError, match="wildcard"):
        read_query_list(path)


def test_row_with_only_a_modality_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID,Modality\nP1,CT\n,MR\n")

    with pytest.raises(QueryListError, match="row 3"):
        read_query_list(path)


def test_header_without_a_search_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Modality\nCT\n")

    with pytest.raises(QueryListError, match="no column to search by"):
        read_query_list(path)


def test_two_columns_with_the_same_meaning_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID,Patient ID\nP1,P1\n")

    with pytest.raises(QueryListError, match="two columns"):
        read_query_list(path)


def test_empty_file_and_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(QueryListError, match="empty"):
        read_query_list(write(tmp_path, "\n\n", name="a.csv"))
    with pytest.raises(QueryListError, match="no rows"):
        read_query_list(write(tmp_path, "PatientID\n", name="b.csv"))


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(QueryListError, match=r"unsupported file type \.pdf"):
        read_query_list(write(tmp_path, "x", name="list.pdf"))
    with pytest.raises(QueryListError, match="cannot read"):
        read_query_list(tmp_path / "missing.csv")


def test_xlsx_numbers_and_dates_become_text(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Patient ID", "Study Date", "Notes"])
    sheet.append([12345, datetime(2024, 3, 1), "x"])
    sheet.append([None, None, None])
    sheet.append(["P-7", "20240102", None])
    path = tmp_path / "list.xlsx"
    workbook.save(path)

    assert read_query_list(path) == [
        StudyQuery(patient_id="12345", date_from=date(2024, 3, 1), date_to=date(2024, 3, 1)),
        StudyQuery(patient_id="P-7", date_from=date(2024, 1, 2), date_to=date(2024, 1, 2)),
    ]


def test_xlsx_named_sheet(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.append(["ignored"])
    second = workbook.create_sheet("studies")
    second.append(["StudyInstanceUID"])
    second.append([UID1])
    path = tmp_path / "list.xlsx"
    workbook.save(path)

    assert read_query_list(path, sheet="studies") == [StudyQuery(study_uid=UID1)]
    with pytest.raises(QueryListError, match="no worksheet named 'nope'") as caught:
        read_query_list(path, sheet="nope")
    assert "studies" in str(caught.value)


def test_corrupt_xlsx_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "PatientID\nP1\n", name="list.xlsx")

    with pytest.raises(QueryListError, match="not a readable XLSX"):
        read_query_list(path)
