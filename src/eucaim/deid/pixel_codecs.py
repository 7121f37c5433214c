"""Compressed pixel data into native bytes for cleaning, and out again in a chosen transfer syntax.

Burned-in text lives mostly in ultrasound, and ultrasound is mostly JPEG Baseline. Cleaning
(``pixels.py``) works on native pixel bytes, so a compressed instance is decoded first with
pydicom's pixel pipeline and, once the boxes are black, written as:

- **the same syntax** for RLE Lossless (pydicom's encoder) and JPEG-LS Lossless (pyjpegls):
  every pixel outside the boxes keeps its exact stored value;
- **Explicit VR Little Endian** for lossy syntaxes (JPEG Baseline/Extended, JPEG-LS
  near-lossless, JPEG 2000): compressing lossily again would lose more detail on every pass and
  invent artefacts around the boxes. The pixels are kept as decoded, in the colour space the
  decoder gives (RGB for YCbCr JPEG), and LossyImageCompression stays (or becomes) ``01``;
- **Explicit VR Little Endian** for lossless syntaxes that no installed encoder writes (JPEG 2000
  Lossless, JPEG Lossless): still lossless, only larger.

The output syntax depends on the input syntax alone, so the same input always gives the same
bytes. An input that cannot be decoded, or a target whose encoder is missing or refuses the
image, fails closed with ``pixel_encoding_unsupported``: the original pixels never pass through.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import get_encoder
from pydicom.pixels.utils import compress, decompress
from pydicom.uid import UID, ExplicitVRLittleEndian

from eucaim.errors import DeidentificationError

RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
# Lossy syntax -> the LossyImageCompressionMethod term (PS3.3 C.7.6.1.1.5.1) for its codestream.
LOSSY_METHODS = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",  # JPEG Extended (Process 2 and 4)
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",  # JPEG 2000 (may be lossy)
    "1.2.840.10008.1.2.4.203": "ISO_15444_15",  # HTJ2K (may be lossy)
}
# May hold lossless codestreams: an explicit LossyImageCompression 00 from the producer is kept.
_MAYBE_LOSSLESS = frozenset({"1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203"})
# Lossless syntaxes re-encoded as they came; the others are written uncompressed.
_REENCODED = frozenset({RLE_LOSSLESS, JPEG_LS_LOSSLESS})
_LOSSLESS_DECODED = frozenset(
    {
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless (Process 14)
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless, first-order prediction
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
        "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
        "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    }
)
# What decoding changes, saved to put back when nothing needed blacking out.
_DECODE_TOUCHES = (
    "PixelData",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "NumberOfFrames",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
)
_ADVICE = (
    "convert it to an uncompressed transfer syntax (e.g. dcmdjpeg/dcmdrle, gdcmconv --raw) "
    "and scan again, or leave Clean Pixel Data off and review the file by hand"
)


@dataclass(frozen=True)
class Transcode:
    """How one compressed instance was decoded for cleaning and how it will be written back."""

    source: str  # the input transfer syntax
    target: str  # the output transfer syntax
    photometric: str  # the input's PhotometricInterpretation, restored when re-encoding
    planar: int | None  # the input's PlanarConfiguration, likewise
    is_lossy: bool  # the input's codestream may have lost information, so the output has too
    saved: tuple[tuple[str, DataElement | RawDataElement | None], ...]  # as received

    def note(self) -> str:
        """One audit line saying what happened to the encoding."""
        if self.target == self.source:
            return f"re-encoded as {UID(self.source).name}"
        kind = "lossy " if self.is_lossy else ""
        return f"{kind}{UID(self.source).name} decoded and written as {UID(self.target).name}"


def unsupported(why: str) -> DeidentificationError:
    """The fail-closed error for pixel data this module cannot clean; ``why`` says what and where."""
    return DeidentificationError(
        f"pixel data cannot be cleaned: {why}; quarantined", reason="pixel_encoding_unsupported"
    )


def decode_for_cleaning(ds: pydicom.Dataset, syntax: str) -> Transcode:
    """Decode the compressed PixelData of ``ds`` in place to native Explicit VR Little Endian.

    Lossless inputs are decoded to their stored values (no colour conversion); lossy inputs are
    decoded to what a viewer shows (YCbCr to RGB). PhotometricInterpretation and
    PlanarConfiguration are set to what the decoder produced.

    Raises:
        DeidentificationError: ``pixel_encoding_unsupported``: unknown syntax, no decoder, a
            missing encoder for the target, or data the decoder rejects.
    """
    name = UID(syntax).name if UID(syntax).is_transfer_syntax else syntax
    if syntax not in _REENCODED and syntax not in _LOSSLESS_DECODED and syntax not in LOSSY_METHODS:
        raise unsupported(
            f"transfer syntax {name or 'unknown'} is not one pixel cleaning can decode; {_ADVICE}"
        )
    target = syntax if syntax in _REENCODED else ExplicitVRLittleEndian
    if target != ExplicitVRLittleEndian and not get_encoder(target).is_available:
        raise unsupported(f"no {name} encoder is installed (pyjpegls for JPEG-LS); {_ADVICE}")
    decoder = get_decoder(syntax)
    if not decoder.is_available:
        options = ", ".join(decoder.missing_dependencies)
        raise unsupported(f"no decoder for {name} is installed (pydicom could use: {options}); {_ADVICE}")
    transcode = Transcode(
        source=syntax,
        target=str(target),
        photometric=str(ds.get("PhotometricInterpretation", "")).strip(),
        planar=int(ds.PlanarConfiguration) if "PlanarConfiguration" in ds else None,
        is_lossy=_is_lossy(ds, syntax),
        saved=tuple((k, _copy(ds, k)) for k in _DECODE_TOUCHES),
    )
    raw_size = len(ds.PixelData)
    try:
        decompress(ds, as_rgb=transcode.is_lossy, generate_instance_uid=False)
    except Exception as exc:  # any decoder failure: never let the original pixels through
        plugins = ", ".join(decoder.available_plugins)
        raise unsupported(
            f"the installed {name} decoder ({plugins}) could not decode this pixel data "
            f"({type(exc).__name__}); {_ADVICE}"
        ) from None
    for stale in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if stale in ds:
            del ds[stale]  # offsets into the old codestream
    if transcode.is_lossy:
        _declare_lossy(ds, syntax, raw_size)
    return transcode


def restore_received(ds: pydicom.Dataset, transcode: Transcode) -> None:
    """Put back the pixel data and attributes as received: nothing was blacked out, so there is
    no reason to make the file larger or change its encoding."""
    for keyword, element in transcode.saved:
        if element is None:
            if keyword in ds:
                del ds[keyword]
        else:
            ds[keyword] = element
    ds.file_meta.TransferSyntaxUID = UID(transcode.source)


def encode_after_cleaning(ds: pydicom.Dataset, transcode: Transcode) -> None:
    """Write the cleaned native pixels of ``ds`` in ``transcode.target``.

    Raises:
        DeidentificationError: ``pixel_encoding_unsupported`` if the encoder refuses the image
            (e.g. 32-bit RLE, which pydicom's RLE encoder does not write).
    """
    if transcode.target == ExplicitVRLittleEndian:
        return
    try:
        compress(ds, transcode.target, generate_instance_uid=False)
    except Exception as exc:
        raise unsupported(
            f"the cleaned image could not be re-encoded as {UID(transcode.target).name} "
            f"({type(exc).__name__}); {_ADVICE}"
        ) from None
    # The codestream defines the colour layout; keep the input's values so nothing else changes.
    ds.PhotometricInterpretation = transcode.photometric
    if transcode.planar is not None:
        ds.PlanarConfiguration = transcode.planar


def _is_lossy(ds: pydicom.Dataset, syntax: str) -> bool:
    """Lossy syntaxes are, unless the producer states 00 where the syntax allows a lossless
    codestream (JPEG-LS with NEAR 0, reversible JPEG 2000)."""
    declared = str(ds.get("LossyImageCompression", "") or "").strip()
    return syntax in LOSSY_METHODS and not (syntax in _MAYBE_LOSSLESS and declared == "00")


def _declare_lossy(ds: pydicom.Dataset, syntax: str, compressed_size: int) -> None:
    """Pixels that went through a lossy codestream say so (PS3.3 C.7.6.1.1.5), even uncompressed."""
    if str(ds.get("LossyImageCompression", "") or "").strip() == "01":
        return
    ds.LossyImageCompression = "01"
    if "LossyImageCompressionMethod" not in ds and "LossyImageCompressionRatio" not in ds:
        ratio = len(ds.PixelData) / max(compressed_size, 1)
        ds.LossyImageCompressionRatio = f"{ratio:.2f}"[:16]
        ds.LossyImageCompressionMethod = LOSSY_METHODS[syntax]


def _copy(ds: pydicom.Dataset, keyword: str) -> DataElement | RawDataElement | None:
    """The element as received; DataElements are copied because decoding changes them in place."""
    if keyword not in ds:
        return None
    element = ds.get_item(keyword)
    return copy.copy(element) if isinstance(element, DataElement) else element
