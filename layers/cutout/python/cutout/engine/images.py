"""Decode untrusted image bytes into arrays, and encode arrays back into files.

Decoding reads the header first and refuses oversized images before any pixel
is decoded, so a decompression bomb costs a few kilobytes of work. Everything
downstream sees the same thing: an upright HxWx3 uint8 RGB array plus an
optional HxW uint8 alpha, whatever mode and orientation the file had.
"""
from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageTooLarge, InvalidImage, InvalidOption
from .png import encode_png

# We enforce our own, configurable pixel limit in read_header() before any decode;
# Pillow's global guard would otherwise pre-empt it with a less useful message.
Image.MAX_IMAGE_PIXELS = None

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
CANNOT_LOAD = "Can not load image."
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees


@dataclass(frozen=True)
class Limits:
    max_megapixels: float = 25.0
    max_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class Header:
    """What the file says about itself, known before decoding pixels."""

    format: str
    width: int  # upright, after EXIF orientation
    height: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1_000_000


@dataclass(frozen=True)
class Decoded:
    header: Header
    rgb: np.ndarray  # HxWx3 uint8
    alpha: np.ndarray | None  # HxW uint8 when the source had transparency


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Exception as exc:  # Pillow raises many types for hostile input
        raise InvalidImage(CANNOT_LOAD) from exc


def _header(img: Image.Image) -> Header:
    width, height = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block does not make the pixels unusable
        orientation = 1
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return Header(format=img.format or "UNKNOWN", width=width, height=height)


def _check(header: Header, size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise ImageTooLarge(
            f"Image is too large: {size} bytes exceeds {limits.max_bytes} bytes."
        )
    if header.width < 1 or header.height < 1:
        raise InvalidImage(CANNOT_LOAD)
    if header.megapixels > limits.max_megapixels:
        raise ImageTooLarge(
            f"Image is too large: {header.width}x{header.height} exceeds "
            f"{limits.max_megapixels:g} megapixels."
        )


def read_header(data: bytes, limits: Limits) -> Header:
    """Identify the image and check it against the limits without decoding it."""
    if len(data) > limits.max_bytes:
        _check(Header("UNKNOWN", 1, 1), len(data), limits)
    with _open(data) as img:
        header = _header(img)
    _check(header, len(data), limits)
    return header


def _to_rgb_alpha(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalise any Pillow mode to 8-bit RGB plus optional alpha."""
    mode = img.mode
    if mode.startswith("I;16") or mode in {"I", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode != "F" and (mode.startswith("I;16") or arr.max() > 255) else 255.0
        if mode == "F":
            top = 1.0 if arr.max() <= 1.0 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), None
    has_alpha = mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        mode == "P" and "transparency" in img.info
    ) or (mode in {"L", "RGB"} and "transparency" in img.info)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"))
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
    return np.asarray(img.convert("RGB") if mode != "RGB" else img), None


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; most photos need none, and then no copy is made.

    (ImageOps.exif_transpose copies the whole image even when there is nothing
    to turn: 14 ms and 48 MB at 12 MP.)
    """
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block does not make the pixels unusable
        orientation = 1
    if orientation in (None, 1):
        return img
    return ImageOps.exif_transpose(img)


def decode(data: bytes, limits: Limits, header: Header | None = None) -> Decoded:
    """Decode to an upright RGB array (plus alpha), enforcing the limits first."""
    header = header or read_header(data, limits)
    with _open(data) as img:
        try:
            img.seek(0)  # GIF, WebP, TIFF, MPO: the first frame
            img.load()
            rgb, alpha = _to_rgb_alpha(_upright(img))
        except Exception as exc:  # truncated or corrupt pixel data
            raise InvalidImage(CANNOT_LOAD) from exc
    if alpha is not None and alpha.min() == 255:
        alpha = None  # an opaque alpha channel carries no information
    return Decoded(header=header, rgb=rgb, alpha=alpha)


# --- encoding -------------------------------------------------------------------

OUTPUT_FORMATS = ("png", "jpg", "webp", "zip")
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "zip": "application/zip",
}


def _pil(pixels: np.ndarray) -> Image.Image:
    if pixels.ndim == 2:
        return Image.fromarray(pixels, "L")
    return Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB")


def encode(
    pixels: np.ndarray, fmt: str, *, png_level: int = 1, quality: int = 90, subsampling: int = -1
) -> bytes:
    """Encode an L, RGB or RGBA array as png, jpg or webp.

    JPEG cannot carry alpha; callers flatten first (see compose.flatten).
    """
    if fmt == "png":
        return encode_png(pixels, png_level)  # see png.py: 5-10x faster than Pillow's
    img = _pil(pixels)
    out = io.BytesIO()
    if fmt == "jpg":
        if img.mode == "RGBA":
            raise InvalidOption("JPEG cannot hold transparency; flatten the image first.")
        img.save(out, "JPEG", quality=quality, optimize=False, subsampling=subsampling)
    elif fmt == "webp":
        img.save(out, "WEBP", quality=quality, method=2)
    else:
        raise InvalidOption(f"Unknown output format: {fmt}.")
    return out.getvalue()


def encode_zip(rgb: np.ndarray, alpha: np.ndarray, *, png_level: int = 1) -> bytes:
    """remove.bg's ZIP: `color.jpg` (RGB) and `alpha.png` (the matte), composable client-side."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        # 4:4:4 chroma: with the default 4:2:0, colours at the subject's edge drift by
        # tens of levels and the composed parts no longer match the PNG.
        archive.writestr("color.jpg", encode(rgb, "jpg", quality=95, subsampling=0))
        archive.writestr("alpha.png", encode(alpha, "png", png_level=png_level))
    return out.getvalue()


def fit_within(width: int, height: int, megapixels: float) -> tuple[int, int]:
    """The largest size with this aspect ratio that has at most `megapixels`."""
    if width * height <= megapixels * 1_000_000:
        return width, height
    scale = math.sqrt(megapixels * 1_000_000 / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))
