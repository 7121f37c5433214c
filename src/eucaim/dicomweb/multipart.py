"""Streaming multipart/related: spool a request body's parts to files, and encode parts for sending.

The reader never holds a whole part in memory: each part goes to its own file as bytes arrive,
with its size and SHA-256 computed on the way. A body that breaks off (a truncated upload) or that
is not multipart at all is recorded on the result, not raised, so the caller can still answer for
the parts that arrived whole.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser

# A preamble before the first boundary is legal (RFC 2046) but python-multipart refuses it, so we
# skip it ourselves; anything longer than this is not a multipart body.
MAX_PREAMBLE = 64 * 1024


@dataclass
class SpooledPart:
    """One part of a multipart body, written to ``path``.

    ``complete`` is False when the body ended (or broke) before this part's closing boundary.
    """

    index: int
    path: Path
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    sha256: str = ""
    complete: bool = False

    @property
    def content_type(self) -> str:
        """Return the part's Content-Type header, or an empty string when it has none."""
        return self.headers.get("content-type", "")


@dataclass
class SpoolResult:
    """Every part seen, and whether the body was well-formed to its closing boundary."""

    parts: list[SpooledPart]
    finished: bool
    error: str | None = None


class PartSpooler:
    """Feed a multipart body in chunks; each part is written to a file in ``directory``.

    Use ``feed(chunk)`` for every chunk and ``close()`` once at the end, which returns the parts.
    """

    def __init__(self, boundary: str, directory: Path) -> None:
        if not boundary or len(boundary) > 70:
            raise ValueError("a multipart boundary has 1 to 70 characters (RFC 2046)")
        self._directory = directory
        self._opening = b"--" + boundary.encode("latin-1")
        self._preamble: bytearray | None = bytearray()
        self._parts: list[SpooledPart] = []
        self._file: BinaryIO | None = None
        self._hash = hashlib.sha256()
        self._field = bytearray()
        self._value = bytearray()
        self._finished = False
        self._error: str | None = None
        self._parser = MultipartParser(
            boundary.encode("latin-1"),
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body; after an error or the closing boundary it is ignored."""
        if self._error is not None or self._finished or not chunk:
            return
        if self._preamble is not None:
            chunk = self._skip_preamble(chunk)
            if not chunk:
                return
        try:
            self._parser.write(chunk)
        except ParseError as exc:
            self._error = f"malformed multipart body: {exc}"

    def close(self) -> SpoolResult:
        """Finish parsing and return every part seen, complete or not."""
        if self._preamble is not None and self._error is None:
            self._error = "body holds no multipart boundary; is the Content-Type boundary right?"
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self._finished and self._error is None:
            self._error = "body ended before the closing boundary (truncated upload?)"
        if self._finished and not self._parts:
            self._error = "multipart body holds no parts"
        return SpoolResult(parts=list(self._parts), finished=self._finished, error=self._error)

    def _skip_preamble(self, chunk: bytes) -> bytes:
        assert self._preamble is not None
        self._preamble += chunk
        at = self._preamble.find(self._opening)
        # The first boundary must start the body or a line; "\r\n--b" inside the preamble ends it.
        while at > 0 and self._preamble[at - 2 : at] != b"\r\n":
            at = self._preamble.find(self._opening, at + 1)
        if at < 0 and len(self._preamble) <= MAX_PREAMBLE:
            return b""  # wait for more bytes
        if at < 0 or at > MAX_PREAMBLE:
            self._error = "no multipart boundary in the first 64 KiB of the body"
            return b""
        rest = bytes(self._preamble[at:])
        self._preamble = None
        return rest

    def _on_part_begin(self) -> None:
        index = len(self._parts)
        part = SpooledPart(index=index, path=self._directory / f"part-{index:05d}")
        self._parts.append(part)
        self._file = part.path.open("wb")
        self._hash = hashlib.sha256()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self._parts[-1].headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        assert self._file is not None
        view = memoryview(data)[start:end]
        self._file.write(view)
        self._hash.update(view)
        self._parts[-1].size += end - start

    def _on_part_end(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        part = self._parts[-1]
        part.sha256 = self._hash.hexdigest()
        part.complete = True

    def _on_end(self) -> None:
        self._finished = True


def new_boundary() -> str:
    """Return a random boundary that cannot occur by chance in DICOM bytes."""
    return f"eucaim-{secrets.token_hex(16)}"


def multipart_related_type(boundary: str, part_type: str) -> str:
    """Return the Content-Type header value of a multipart/related body."""
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


def encode_multipart(parts: Iterable[tuple[str, Iterable[bytes]]], boundary: str) -> Iterator[bytes]:
    """Yield a multipart body from ``(content_type, chunks)`` pairs, one chunk at a time.

    The chunks of each part are pulled only when the body is consumed, so a part backed by a file
    is streamed rather than loaded.
    """
    delimiter = f"--{boundary}".encode("latin-1")
    for content_type, chunks in parts:
        yield delimiter + b"\r\nContent-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
        yield from chunks
        yield b"\r\n"
    yield delimiter + b"--\r\n"


def iter_file(path: Path, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """Yield a file's bytes in chunks, opening it only when the first chunk is asked for."""
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk
