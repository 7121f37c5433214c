"""How `pacs find|retrieve` options and lists become study queries (no PACS needed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from eucaim.errors import ConfigError
from eucaim.ingest.pacs_intake import build_queries, describe_query
from eucaim.ingest.sources.query import StudyQuery


def test_options_make_one_query() -> None:
    [query] = build_queries(patient_id="P1", date_from="2024-01-01", date_to="20240131", modality="ct")
    assert query == StudyQuery(
        patient_id="P1", date_from=date(2024, 1, 1), date_to=date(2024, 1, 31), modality="CT"
    )
    assert describe_query(query) == "patient P1, dates 2024-01-01 to 2024-01-31, modality CT"


def test_a_list_gives_one_query_per_row_narrowed_by_the_options(tmp_path: Path) -> None:
    listing = tmp_path / "l.csv"
    listing.write_text("PatientID;StudyDate\nP1;20230505\nP2;\n", encoding="utf-8")

    queries = build_queries(list_file=listing, date_from="20240101", modality="MR")

    assert queries == [
        StudyQuery(patient_id="P1", date_from=date(2023, 5, 5), date_to=date(2023, 5, 5), modality="MR"),
        StudyQuery(patient_id="P2", date_from=date(2024, 1, 1), modality="MR"),
    ]


def test_a_list_and_an_identifier_option_together_are_refused(tmp_path: Path) -> None:
    listing = tmp_path / "l.csv"
    listing.write_text("PatientID\nP1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="either --list or"):
        build_queries(list_file=listing, patient_id="P9")


def test_a_malformed_date_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"--date-from/--date-to: not a date; write YYYYMMDD"):
        build_queries(patient_id="P1", date_from="01/02/2024")


def test_wildcards_are_refused() -> None:
    with pytest.raises(ConfigError, match="wildcard"):
        build_queries(patient_id="P*")
