"""The output formats Cutout writes: one row per format, read by every dialect, the CLI and the jobs.

A new output format is one row here (its names, MIME type, extension, the
largest side it holds, whether it keeps transparency) and its encoder in
`images.encode` (or, for a document format, a module of its own such as
`psd.py`). Everything else asks this table: `pipeline.Options` which formats a
cut-out may ask for, the dialects their MIME types and enums, result keys their
extensions, the jobs the format "same as the input" means, `images` the side
limits it refuses before any pixel work.

Side limits are the encoders' and formats' own: libjpeg's JPEG_MAX_DIMENSION
(65,500 px), libwebp's WEBP_MAX_DIMENSION (16,383 px), PSD's 30,000 px (Adobe's
Photoshop File Formats Specification; PSB goes further). Pillow only fails on a
larger image while writing it, and a panorama within the megapixel limit can be
wider than either lossy format holds.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One output format.

    name: Cutout's name (what `Options.format` and the CLI's `--format` take).
    aliases: other names clients use for it (`jpeg`).
    mime: the Content-Type of a file in this format.
    extension: the file-name extension, without the dot.
    label: how messages name it ("JPEG").
    max_side: the largest width or height the format holds, px (None: no practical limit).
    alpha: whether it keeps transparency (a ZIP keeps it as its own layer).
    decoded_as: the decoder's name for an input in this format (`images.Header.format`),
        when an input of that format can be answered in the same format.
    cutout: whether `pipeline.cut` writes it (the PSD is a job's layered document).
    """

    name: str
    mime: str
    extension: str
    label: str
    max_side: int | None = None
    alpha: bool = True
    aliases: tuple[str, ...] = ()
    decoded_as: str | None = None
    cutout: bool = True


FORMATS: tuple[Format, ...] = (
    Format("png", "image/png", "png", "PNG", decoded_as="PNG"),
    Format("jpg", "image/jpeg", "jpg", "JPEG", 65_500, alpha=False, aliases=("jpeg",),
           decoded_as="JPEG"),
    Format("webp", "image/webp", "webp", "WebP", 16_383, decoded_as="WEBP"),
    # remove.bg's ZIP: color.jpg + alpha.png, so its side limit is its JPEG's
    Format("zip", "application/zip", "zip", "The zip's color.jpg (JPEG)", 65_500),
    Format("psd", "image/vnd.adobe.photoshop", "psd", "PSD", 30_000, cutout=False),
)
_BY_NAME = {name: row for row in FORMATS for name in (row.name, *row.aliases)}
_BY_MIME = {row.mime: row for row in FORMATS}
CUTOUT_FORMATS: tuple[str, ...] = tuple(row.name for row in FORMATS if row.cutout)


def get(name: str) -> Format:
    """The row of a format name or alias (`jpeg` is `jpg`); raises KeyError for others."""
    return _BY_NAME[name.lower()]


def by_mime(mime: str) -> Format:
    """The row of a MIME type (`image/jpeg`); raises KeyError for others."""
    return _BY_MIME[mime.lower()]


def same_as(decoded: str) -> Format | None:
    """The output format of the same kind as an input the decoder named `decoded` ("JPEG"),
    or None when Cutout does not write that kind (BMP, TIFF, GIF, HEIF...)."""
    return next((row for row in FORMATS if row.decoded_as == decoded), None)


def mime_of(name: str) -> str:
    """The MIME type of a format name or alias."""
    return get(name).mime
