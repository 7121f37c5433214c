"""Streaming multipart parsing: parts reach disk whole however the body is chunked; breaks are reported."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eucaim.dicomweb.multipart import PartSpooler, SpoolResult, encode_multipart, iter_file, new_boundary


def _spool(body: bytes, directory: Path, boundary: str = "XYZ", chunk: int = 65536) -> SpoolResult:
    spooler = PartSpooler(boundary, directory)
    for i in range(0, len(body), chunk):
        spooler.feed(body[i : i + chunk])
    return spooler.close()


def _body(parts: list[bytes], boundary: str = "XYZ") -> bytes:
    return b"".join(encode_multipart([("application/dicom", [p]) for p in parts], boundary))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.binary(min_size=0, max_size=3000), min_size=1, max_size=4),
    chunk=st.integers(min_value=1, max_value=4096),
)
def test_parts_survive_any_chunking(
    tmp_path_factory: pytest.TempPathFactory, parts: list[bytes], chunk: int
) -> None:
    directory = tmp_path_factory.mktemp("spool")
    result = _spool(_body(parts), directory, chunk=chunk)
    assert result.finished and result.error is None
    assert [p.path.read_bytes() for p in result.parts] == parts
    assert [p.sha256 for p in result.parts] == [hashlib.sha256(p).hexdigest() for p in parts]
    assert [p.size for p in result.parts] == [len(p) for p in parts]
    assert all(p.complete and p.content_type == "application/dicom" for p in result.parts)


def test_a_part_containing_a_boundary_lookalike_is_not_split(tmp_path: Path) -> None:
    payload = b"--XY\r\n--XYZX\r\n\r\n--XYZ-"
    result = _spool(_body([payload]), tmp_path, chunk=3)
    assert [p.path.read_bytes() for p in result.parts] == [payload]


def test_preamble_before_the_first_boundary_is_skipped(tmp_path: Path) -> None:
    result = _spool(b"some preamble text\r\n" + _body([b"abc"]), tmp_path, chunk=5)
    assert result.error is None
    assert [p.path.read_bytes() for p in result.parts] == [b"abc"]


def test_truncated_body_marks_the_last_part_incomplete(tmp_path: Path) -> None:
    body = _body([b"first", b"second-part-bytes"])
    result = _spool(body[:-30], tmp_path)
    assert not result.finished
    assert result.error is not None and "truncated" in result.error
    assert [p.complete for p in result.parts] == [True, False]
    assert result.parts[0].path.read_bytes() == b"first"


def test_body_without_boundary_is_an_error_not_an_exception(tmp_path: Path) -> None:
    result = _spool(b"hello, this is not multipart", tmp_path)
    assert result.parts == []
    assert result.error is not None and "boundary" in result.error


def test_huge_preamble_gives_up(tmp_path: Path) -> None:
    result = _spool(b"x" * 70_000 + _body([b"a"]), tmp_path, chunk=8192)
    assert result.parts == [] and result.error is not None and "64 KiB" in result.error


def test_malformed_part_header_stops_parsing_with_a_reason(tmp_path: Path) -> None:
    result = _spool(b"--XYZ\r\nno colon here\r\n\r\ndata\r\n--XYZ--\r\n", tmp_path)
    assert result.error is not None and result.error.startswith("malformed multipart body")
    assert [p.complete for p in result.parts] == [False]


def test_oversized_headers_are_refused(tmp_path: Path) -> None:
    body = b"--XYZ\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\ndata\r\n--XYZ--\r\n"
    result = _spool(body, tmp_path)
    assert result.error is not None and "header size" in result.error


def test_headers_are_case_insensitive(tmp_path: Path) -> None:
    header = b"CONTENT-TYPE: application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    body = b"--XYZ\r\n" + header + b"\r\n\r\nx\r\n--XYZ--\r\n"
    (part,) = _spool(body, tmp_path).parts
    assert part.content_type == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"


@pytest.mark.parametrize("boundary", ["", "b" * 71])
def test_invalid_boundaries_are_refused(tmp_path: Path, boundary: str) -> None:
    with pytest.raises(ValueError, match="boundary"):
        PartSpooler(boundary, tmp_path)


def test_encoder_streams_files_lazily(tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"0123456789" * 100_000)
    boundary = new_boundary()
    chunks = encode_multipart([("application/dicom", iter_file(source, chunk_size=4096))], boundary)
    sizes = [len(c) for c in chunks]
    assert max(sizes) <= 4096 + 200  # never the whole file at once
    (tmp_path / "s").mkdir()
    body = b"".join(encode_multipart([("application/dicom", iter_file(source))], boundary))
    spooled = _spool(body, tmp_path / "s", boundary)
    assert spooled.parts[0].path.read_bytes() == source.read_bytes()


def test_body_with_only_the_closing_boundary_has_no_parts(tmp_path: Path) -> None:
    result = _spool(b"--XYZ--\r\n", tmp_path)
    assert result.parts == [] and result.error == "multipart body holds no parts"


def test_new_boundaries_differ() -> None:
    assert len({new_boundary() for _ in range(50)}) == 50


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.binary(max_size=600), cut=st.integers(min_value=0, max_value=700))
def test_arbitrary_bytes_never_raise(
    tmp_path_factory: pytest.TempPathFactory, noise: bytes, cut: int
) -> None:
    directory = tmp_path_factory.mktemp("noise")
    body = (_body([b"ok"]) + noise)[:cut] if cut % 2 else b"--XYZ\r\n" + noise
    result = _spool(body, directory, chunk=7)
    assert result.finished or result.error is not None
