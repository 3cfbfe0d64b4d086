"""Decode untrusted image bytes into arrays, and encode arrays back into files.

Decoding reads the header first and refuses oversized images before anything
that may decode pixels: the limit check uses width x height as the header gives
them (orientation does not change the count), EXIF is read only from metadata
that precedes the pixels (for PNG, an eXIf chunk before IDAT, where the PNG
spec puts it; Pillow's own PNG getexif() decodes the whole image to look
further), and a JPEG's scans are counted from its markers (jpeg.py). So a
decompression bomb costs a few kilobytes of work, and an ordinary image is
decoded once. Everything downstream sees the same thing: an upright HxWx3
uint8 sRGB array plus an optional HxW uint8 alpha, whatever mode, bit depth,
colour profile and orientation the file had.
"""
from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, PngImagePlugin, features

from ..errors import FileTooLarge, ImageTooLarge, InvalidImage, InvalidOption, TooManyScans
from . import formats, icc, jpeg
from .png import encode_png

# We enforce our own, configurable pixel limit in read_header() before any decode;
# Pillow's global guard would otherwise pre-empt it with a less useful message.
Image.MAX_IMAGE_PIXELS = None
# PNG text chunks (tEXt, zTXt, iTXt) are parsed while reading the header, and
# Pillow inflates up to 64 MB of them before it gives up: a 14 MB file of zTXt
# chunks costs 0.7 s to refuse. Cutout uses none of that text; 8 MB is room for
# any real XMP or comment.
PngImagePlugin.MAX_TEXT_MEMORY = 8 * 1024 * 1024

# HEIC/HEIF (iPhone photos): libheif through pillow-heif, registered with Pillow. A hard
# import: a deployment without it fails at start (tests/test_lambda_layers.py), not per photo.
pillow_heif.register_heif_opener()
_AVIF = ("AVIF",) if features.check("avif") else ()  # Pillow's own plugin (libavif)

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "HEIF") + _AVIF
CANNOT_LOAD = "Can not load image."
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
# EXIF orientation -> the transposition that makes the image upright (EXIF 2.32, tag 0x0112;
# the same table as Pillow's ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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
    orientation: int = 1  # EXIF orientation 1-8, as read before decoding

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1_000_000


@dataclass(frozen=True)
class Decoded:
    header: Header
    rgb: np.ndarray  # HxWx3 uint8, sRGB
    alpha: np.ndarray | None  # HxW uint8 when the source had transparency


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Exception as exc:  # Pillow raises many types for hostile input
        raise InvalidImage(CANNOT_LOAD) from exc


def _orientation(img: Image.Image) -> int:
    """EXIF orientation from metadata already parsed by open(); never decodes pixels."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1  # no eXIf before IDAT: looking further means decoding every pixel
    if img.format == "TIFF":
        # Pillow turns a TIFF upright itself: its size is the upright one from open()
        # (Pillow 11, python-pillow/Pillow#8390) and load() transposes the pixels (since
        # 6.2, #4063). Turning it again showed the picture upside down or sideways.
        return 1
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block does not make the pixels unusable
        return 1
    return orientation if orientation in _UPRIGHT else 1


def orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of an encoded image, from its metadata; no pixel is decoded.

    For bytes checked earlier whose Header was not kept (a stored image's record keeps
    only the upright size). 1 when there is none or the file cannot be opened (decode
    refuses such files itself).
    """
    try:
        with _open(data) as img:
            return _orientation(img)
    except InvalidImage:
        return 1


def _header(img: Image.Image) -> Header:
    width, height = img.size
    orientation = _orientation(img)
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return Header(format=img.format or "UNKNOWN", width=width, height=height, orientation=orientation)


def _check(header: Header, size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise FileTooLarge(size, limits.max_bytes)
    if header.width < 1 or header.height < 1:
        raise InvalidImage(CANNOT_LOAD)
    if header.megapixels > limits.max_megapixels:
        raise ImageTooLarge(
            f"Image is too large: {header.width}x{header.height} exceeds "
            f"{limits.max_megapixels:g} megapixels."
        )


def _inspect(img: Image.Image, data: bytes, limits: Limits) -> Header:
    """The header of an opened (not loaded) image, checked against the limits.

    The orientation comes from metadata open() already parsed (never from pixels),
    so refusals name the upright size; turning does not change the pixel count.
    """
    header = _header(img)
    _check(header, len(data), limits)
    if header.format == "JPEG":
        scans = jpeg.count_scans(data)
        if scans > jpeg.MAX_SCANS:
            raise TooManyScans(
                f"Can not load image: the JPEG has more than {jpeg.MAX_SCANS} scans "
                f"(progressive passes); at most {jpeg.MAX_SCANS} are accepted."
            )
    return header


def read_header(data: bytes, limits: Limits) -> Header:
    """Identify the image and check it against the limits without decoding it.

    Cost: parsing the container's headers (and walking a JPEG's markers, about
    2 ms per MB), independent of the pixel count. Raises ImageTooLarge (bytes or
    megapixels over `limits`), TooManyScans (a JPEG with more than 100 scans) or
    InvalidImage (not a readable image of a supported format).
    """
    if len(data) > limits.max_bytes:
        _check(Header("UNKNOWN", 1, 1), len(data), limits)
    with _open(data) as img:
        return _inspect(img, data, limits)


def _grey_key(img: Image.Image, data: bytes) -> int | None:
    """A greyscale PNG's tRNS key on the scale of its decoded pixels (Pillow keeps it raw).

    Pillow expands 2- and 4-bit grey to 0-255 (rawmodes L;2, L;4) but stores the tRNS
    value unscaled, so the key is scaled here the same way (PNG spec 11.3.2.1); the
    bit depth is the IHDR's byte at offset 24.
    """
    key = img.info.get("transparency")
    if not isinstance(key, int):
        return None
    if img.format == "PNG" and len(data) > 24 and data[24] in (2, 4):
        return key * 255 // ((1 << data[24]) - 1)
    return key


def _to_rgb_alpha(img: Image.Image, data: bytes = b"") -> tuple[np.ndarray, np.ndarray | None]:
    """Normalise any Pillow mode to 8-bit RGB plus optional alpha (`data`: the file's bytes)."""
    mode = img.mode
    key = img.info.get("transparency")
    if mode.startswith("I;16") or mode in {"I", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode != "F" and (mode.startswith("I;16") or arr.max() > 255) else 255.0
        if mode == "F":
            top = 1.0 if arr.max() <= 1.0 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        alpha = None
        if isinstance(key, int) and mode != "F":  # a 16-bit grey tRNS key, matched on all 16 bits
            alpha = np.where(np.asarray(img) == key, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), alpha
    if mode == "RGB" and isinstance(key, tuple) and max(key) > 255:
        # 16-bit RGB: Pillow keeps each sample's high byte, so the key is matched on those.
        rgb = np.asarray(img)
        alpha = np.where((rgb == np.array(key, dtype=np.int32) >> 8).all(axis=2), 0, 255)
        return rgb, alpha.astype(np.uint8)
    if mode == "L" and isinstance(key, int):
        grey = np.asarray(img)
        alpha = np.where(grey == _grey_key(img, data), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), alpha
    has_alpha = mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        mode in {"P", "1", "RGB"} and key is not None
    )
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"))
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
    return np.asarray(img.convert("RGB") if mode != "RGB" else img), None


def _upright(img: Image.Image, orientation: int) -> Image.Image:
    """Apply the EXIF orientation read with the header; upright photos are not copied.

    (ImageOps.exif_transpose copies the whole image even when there is nothing
    to turn: 14 ms and 48 MB at 12 MP; and it would read EXIF found only while
    decoding, which the header and its limit check did not see.)
    """
    method = _UPRIGHT.get(orientation)
    return img if method is None else img.transpose(method)


def decode(data: bytes, limits: Limits, header: Header | None = None) -> Decoded:
    """Decode to an upright sRGB HxWx3 uint8 array (plus HxW uint8 alpha), limits first.

    The header is read and checked (read_header's errors) before any pixel is
    decoded, so the work is bounded by the pixels the limits allow; the file is
    opened once and its pixels decoded once. `header`, when given, is the one
    read_header returned for these bytes. An embedded ICC profile is applied
    (icc.to_srgb). Raises ImageTooLarge, TooManyScans or InvalidImage.
    """
    if len(data) > limits.max_bytes:
        _check(Header("UNKNOWN", 1, 1), len(data), limits)
    with _open(data) as img:
        header = _inspect(img, data, limits) if header is None else header
        try:
            img.seek(0)  # GIF, WebP, TIFF, MPO, HEIF: the first frame
            img.load()
            upright = _upright(img, header.orientation)
            rgb, alpha = _to_rgb_alpha(upright, data)
            rgb = icc.to_srgb(upright, rgb)
        except Exception as exc:  # truncated or corrupt pixel data
            raise InvalidImage(CANNOT_LOAD) from exc
    if alpha is not None and alpha.min() == 255:
        alpha = None  # an opaque alpha channel carries no information
    return Decoded(header=header, rgb=rgb, alpha=alpha)


# --- encoding -------------------------------------------------------------------

def pil(pixels: np.ndarray) -> Image.Image:
    if pixels.ndim == 2:
        return Image.fromarray(pixels, "L")
    return Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB")


# libwebp keeps at most 16 + (q - 70) * 8 alpha levels for alpha_quality q < 100 (92: 192).
# With more than 192 levels its fast alpha filtering compresses the plane twice (its best
# filter and none) and keeps the smaller; up to 192 once (alpha_enc.c, GetFilterMap,
# kMaxColorsForFilterNone). 12 MP cut-outs: 2-2.7x faster to encode, 2-7% larger, the
# matte within a level of the PNG's (0 and 255 kept exact). docs/performance.md.
WEBP_ALPHA_QUALITY = 92


def check_side(fmt: str, width: int, height: int) -> None:
    """Refuse (InvalidOption, `invalid_format`) a width x height px result that `fmt` cannot hold.

    fmt: a format of `formats.FORMATS` (its `max_side`); other names (`auto`) pass.
    """
    try:
        row = formats.get(fmt)
    except KeyError:
        return
    limit = row.max_side
    if limit is not None and max(width, height) > limit:
        raise InvalidOption(f"{row.label} holds at most {limit} pixels a side and "
                            f"this result is {width}x{height}: ask for PNG, or a smaller size.",
                            code="invalid_format")


def encode(
    pixels: np.ndarray, fmt: str, *, png_level: int = 1, quality: int = 90, subsampling: int = -1
) -> bytes:
    """Encode an L, RGB or RGBA array as png, jpg or webp.

    Colour (RGB, RGBA) is sRGB and tagged so: a PNG sRGB chunk, an sRGB ICC
    profile in JPEG and WebP (icc.py). L arrays are mattes (data) and are not
    tagged. JPEG cannot carry alpha; callers flatten first (see compose.flatten).
    WebP is lossy (`quality`) and so is its alpha, by a level at most
    (`WEBP_ALPHA_QUALITY`). Raises InvalidOption for RGBA as jpg, a result larger than
    the format holds (`check_side`) or another format.
    """
    colour = pixels.ndim == 3
    check_side(fmt, pixels.shape[1], pixels.shape[0])
    if fmt == "png":  # see png.py: 5-10x faster than Pillow's
        return encode_png(pixels, png_level, srgb=colour)
    img = pil(pixels)
    out = io.BytesIO()
    tag = {"icc_profile": icc.srgb_profile_bytes()} if colour else {}
    if fmt == "jpg":
        if img.mode == "RGBA":
            raise InvalidOption("JPEG cannot hold transparency; flatten the image first.")
        img.save(out, "JPEG", quality=quality, optimize=False, subsampling=subsampling, **tag)
    elif fmt == "webp":
        img.save(out, "WEBP", quality=quality, method=2, alpha_quality=WEBP_ALPHA_QUALITY, **tag)
    else:
        raise InvalidOption(f"Unknown output format: {fmt}.")
    return out.getvalue()


def encode_zip(rgb: np.ndarray, alpha: np.ndarray, *, png_level: int = 1) -> bytes:
    """remove.bg's ZIP: `color.jpg` (RGB) and `alpha.png` (the matte), composable client-side.

    Raises InvalidOption when the result is wider or taller than JPEG holds (`check_side`).
    """
    check_side("zip", rgb.shape[1], rgb.shape[0])
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
