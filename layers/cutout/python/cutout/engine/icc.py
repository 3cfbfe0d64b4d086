"""Colour management: embedded ICC profiles -> sRGB on decode, and the sRGB tag for outputs.

Cutout's outputs are sRGB, always, and say so: a photo with an embedded
profile (Adobe RGB, Display P3 from phones, a CMYK press profile, a grey
gamma) has its pixels converted to sRGB here with LittleCMS (Pillow's ImageCms),
so the numbers every later step sees and every output holds are sRGB numbers.
Outputs are tagged: colour PNGs carry an sRGB chunk (PNG spec 11.3.3.5), JPEG
and WebP carry LittleCMS's built-in sRGB profile (ICC.1, about 0.6 KB). Mattes
are data, not colour, and carry no tag.

Rendering intent: relative colorimetric, black-point compensation off. For the
matrix/TRC display profiles photos carry (Adobe RGB, Display P3) the perceptual
intent has no tables of its own and comes to the same transform. Colours
outside sRGB are clipped. A CMYK profile is applied to Pillow's CMYK pixels
(Adobe's inverted CMYK JPEGs are already un-inverted by Pillow).
"""
from __future__ import annotations

import io
import struct
import logging
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

from . import bands

log = logging.getLogger(__name__)

# Profile descriptions that mean sRGB itself: no conversion needed (the common
# case for cameras and Android phones). IEC 61966-2.1 is sRGB's standard.
_SRGB_NAMES = ("srgb", "iec61966-2.1", "iec 61966-2.1")
# Pillow modes whose colour is grey (converted with a GRAY profile) or RGB (an RGB profile).
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N"}
_RGB_MODES = {"RGB", "RGBA", "RGBa", "RGBX", "P", "PA"}


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


# The ICC header's creation date/time (bytes 24-35: six big-endian uint16, ICC.1:2022
# section 7.2.8). LittleCMS stamps the moment the profile is built, which made every
# process's JPEG and WebP bytes differ; a fixed date keeps one input's output identical.
_PROFILE_DATE = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def srgb_profile_bytes() -> bytes:
    """The ICC bytes of LittleCMS's built-in sRGB profile (embedded in JPEG and WebP outputs).

    Byte-identical in every process: the creation date in the header is fixed (the
    profile ID, bytes 84-99, is left unset by LittleCMS, so nothing else depends on it).
    """
    data = bytearray(_srgb().tobytes())
    data[24:36] = _PROFILE_DATE
    return bytes(data)


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    description = (profile.profile.profile_description or "").lower()
    return any(name in description for name in _SRGB_NAMES)


@lru_cache(maxsize=16)
def _transform(icc: bytes, in_mode: str, space: str) -> ImageCms.ImageCmsTransform | None:
    """A cached transform from an embedded profile (colour space `space`) to sRGB, RGB out.

    None when none is needed (the profile is sRGB) or possible (unreadable, another
    colour space than the pixels', or one LittleCMS cannot transform from).
    """
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ValueError, TypeError):
        log.info("ignoring an unreadable ICC profile")
        return None
    if profile.profile.xcolor_space.strip() != space or _is_srgb(profile):
        return None
    try:
        # NOCACHE: the transform is applied from several threads at once (bands.py).
        return ImageCms.buildTransform(profile, _srgb(), in_mode, "RGB",
                                       ImageCms.Intent.RELATIVE_COLORIMETRIC, flags=ImageCms.Flags.NOCACHE)
    except ImageCms.PyCMSError:
        log.info("ignoring an ICC profile LittleCMS cannot transform from")
        return None


def to_srgb(img: Image.Image, rgb: np.ndarray) -> np.ndarray:
    """`rgb` (HxWx3 uint8, decoded from `img` without colour management) in sRGB.

    `img` is the loaded, upright image; its embedded profile (`info["icc_profile"]`)
    says what its numbers mean. Grey images use a GRAY profile on their grey
    channel, RGB and palette images an RGB profile, CMYK images a CMYK profile on
    `img` itself (Pillow's own CMYK->RGB is naive). Alpha is not touched. Returns
    `rgb` itself when there is no profile, an sRGB one, or one that does not fit.
    """
    icc = img.info.get("icc_profile")
    if not icc:
        return rgb
    if img.mode == "CMYK":
        transform, source, mode = _transform(icc, "CMYK", "CMYK"), np.asarray(img), "CMYK"
    elif img.mode in _GREY_MODES:
        transform, source, mode = _transform(icc, "L", "GRAY"), rgb[:, :, 0], "L"
    elif img.mode in _RGB_MODES:
        transform, source, mode = _transform(icc, "RGB", "RGB"), rgb, "RGB"
    else:
        return rgb
    if transform is None:
        return rgb
    height, width = rgb.shape[:2]
    out = np.empty((height, width, 3), dtype=np.uint8)

    def band(top: int, bottom: int) -> None:
        # LittleCMS through Pillow runs without the GIL: bands use every CPU
        # (about 40 ns a pixel on one core, so 0.5 s at 12 MP on one).
        part = Image.fromarray(np.ascontiguousarray(source[top:bottom]), mode)
        out[top:bottom] = np.asarray(transform.apply(part))

    bands.map_rows(band, height, width)
    return out
