"""`remove()` and `new_session()`: Cutout as a library, in one line, the way rembg is used.

    from cutout import remove

    png = remove(open("photo.jpg", "rb").read())          # bytes in -> PNG bytes out
    cutout = remove(Image.open("photo.jpg"))               # PIL in -> PIL (RGBA) out
    mask = remove(np.asarray(img), mode="fg-mask")         # HxWx3 uint8 in -> HxW uint8 out

The same input types as rembg's `remove` (rembg/bg.py), the same type back.
Every option is a keyword argument with the engine's own name (`pipeline.Options`);
strings are read by the engine's parsers (`colors.parse`, `geometry.parse_*`), so
`background_color="white"` or `crop_margin="10%"` mean here what they mean over
HTTP. This module translates only: the pixels are the engine's (`pipeline.cut`
through `metering.Meter`, unmetered), and equal the HTTP answer's for the same options.

The default session is loaded on the first call, once per process, and is safe to
share between threads; `new_session("quality")` chooses another tier and loads
its model now. Settings (model files, limits, threads) come from the CUTOUT_*
environment variables (docs/configuration.md), read when a session is made.
"""
from __future__ import annotations

import io
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from .engine import colors, geometry, images, pipeline, tiers
from .errors import InvalidImage, InvalidOption

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .config import Settings
    from .metering import Meter

def options(
    *,
    model: str | None = None,
    mode: str = "fg-image",
    format: str = "png",
    png_level: int = 1,
    shadow_opacity: float = 0.5,
    max_megapixels: float | None = None,
    background_color: str | tuple[int, ...] | None = None,
    background_image: bytes | None = None,
    roi: str | geometry.Region | None = None,
    crop: bool = False,
    crop_margin: str | int | geometry.Margin | None = None,
    scale: str | float | None = None,
    position: str | tuple[float, float] | None = None,
    require_foreground: bool = False,
    decontaminate: float = 1.0,
    refine_edges: bool = False,
) -> pipeline.Options:
    """`pipeline.Options` from Python values or the strings the HTTP dialects take.

    background_color: a hex code (`ffffff`, `#fff`, `81d4fa77`), a CSS name (`white`)
        or an (R, G, B) / (R, G, B, A) tuple of 0-255 ints.
    roi: `"x1 y1 x2 y2"` in px or % (`"10% 0 90% 100%"`), or a `geometry.Region`.
    crop_margin: 1, 2 or 4 lengths as in CSS (`"20px"`, `"5% 10%"`), an int (px) or a Margin.
    scale: a fraction 0.1..1, `"50%"`, or `"original"` / None.
    position: (x, y) fractions, `"center"`, `"25% 75%"`, or `"original"` / None.
    The rest are `pipeline.Options`'s fields as they are. Raises InvalidOption.
    """
    colour: colors.RGBA | None = None
    if isinstance(background_color, str):
        colour = colors.parse(background_color)
    elif background_color is not None:
        values = tuple(int(v) for v in background_color)
        if len(values) not in (3, 4) or not all(0 <= v <= 255 for v in values):
            raise InvalidOption(f"Invalid colour {background_color!r}: give 3 or 4 values from 0 to 255.",
                                code="invalid_color")
        r, g, b, a = values if len(values) == 4 else (*values, 255)
        colour = (r, g, b, a)
    if isinstance(roi, str):
        roi = geometry.parse_region(roi)
    if crop_margin is None:
        margin = geometry.NO_MARGIN
    elif isinstance(crop_margin, geometry.Margin):
        margin = crop_margin
    else:  # "20px", "5% 10%", or a number of pixels
        margin = geometry.parse_margin(crop_margin if isinstance(crop_margin, str) else f"{crop_margin}px")
    if isinstance(scale, str):
        scale = geometry.parse_scale(scale)
    if isinstance(position, str):
        position = geometry.parse_position(position)
    return pipeline.Options(
        mode=mode, format=format, png_level=png_level, shadow_opacity=shadow_opacity,
        max_megapixels=max_megapixels, background_color=colour,
        background_image=background_image, roi=roi, crop=crop, crop_margin=margin,
        scale=scale, position=position, require_foreground=require_foreground,
        model=model or tiers.DEFAULT_TIER, decontaminate=decontaminate, refine_edges=refine_edges)


def _encoded(data: Any) -> bytes:
    """The image as bytes the engine decodes: a file's bytes as they are; a PIL image or a
    NumPy array upright (EXIF orientation applied) in a lossless container that keeps its
    mode and ICC profile (uncompressed TIFF: 0.08 s at 12 MP where PNG takes 0.8 s; PNG for palettes and
    colour-key transparency, which TIFF does not carry)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    from PIL import Image

    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or not (data.ndim == 2 or (data.ndim == 3 and data.shape[2] in (1, 3, 4))):
            raise InvalidImage(f"A NumPy image must be HxW, HxWx3 or HxWx4 uint8; this one is "
                               f"{'x'.join(map(str, data.shape))} {data.dtype}.")
        data = Image.fromarray(data[:, :, 0] if data.ndim == 3 and data.shape[2] == 1 else data)
    if not isinstance(data, Image.Image):
        raise TypeError(f"remove() takes bytes, a PIL image or a NumPy array, not {type(data).__name__}")
    if data.getexif().get(0x0112, 1) != 1:
        # upright first (rembg does the same): Pillow's TIFF reader turns a TIFF by its
        # orientation tag itself, so the tag must not travel in the container
        from PIL import ImageOps

        data = ImageOps.exif_transpose(data)
    out = io.BytesIO()
    keep: dict[str, Any] = {"exif": data.getexif()}
    if data.info.get("icc_profile"):
        keep["icc_profile"] = data.info["icc_profile"]
    if data.mode in ("P", "PA", "1") or "transparency" in data.info:
        data.save(out, "PNG", compress_level=0, **keep)
    else:
        data.save(out, "TIFF", **keep)
    return out.getvalue()


def _same_type(result: bytes, like: Any) -> Any:
    """The encoded product as `like`'s type: bytes, a PIL image (loaded), or its NumPy array."""
    if isinstance(like, (bytes, bytearray, memoryview)):
        return result
    from PIL import Image

    image = Image.open(io.BytesIO(result))
    image.load()
    return np.asarray(image) if isinstance(like, np.ndarray) else image


class Session:
    """A loaded model with its tiers, shared by any number of threads.

    `model` is the tier used when a call names none (`fast`, `fast-tta`, `quality`,
    `quality-tta`: engine/tiers.py). Make one with `new_session()`.
    """

    def __init__(self, meter: Meter, model: str = tiers.DEFAULT_TIER) -> None:
        if model not in tiers.TIERS:
            raise InvalidOption(f"Unknown model {model!r}; valid models are {', '.join(tiers.TIERS)}.",
                                code="invalid_model")
        self.meter = meter
        self.model = model

    def cut(self, data: bytes, opts: pipeline.Options) -> pipeline.Result:
        """The engine's whole answer for encoded image bytes: product bytes, format, size,
        the subject's box and the uncertainty score (pipeline.Result), at `opts.png_level`.
        Raises CutoutError subclasses: InvalidImage, ImageTooLarge, InvalidOption, NoForeground."""
        return self._meter(opts, self.meter.limits).cut(data, opts, account=None).result

    def _meter(self, opts: pipeline.Options, limits: images.Limits) -> Meter:
        """The session's meter with this call's PNG level (the meter applies its own to every cut)."""
        if opts.png_level == self.meter.png_level and limits == self.meter.limits:
            return self.meter
        return replace(self.meter, png_level=opts.png_level, limits=limits)

    @overload
    def remove(self, data: bytes, **kwargs: Any) -> bytes: ...
    @overload
    def remove(self, data: PILImage.Image, **kwargs: Any) -> PILImage.Image: ...
    @overload
    def remove(self, data: np.ndarray, **kwargs: Any) -> np.ndarray: ...

    def remove(self, data: Any, **kwargs: Any) -> Any:
        """`remove(data, session=self, **kwargs)`; see `remove`."""
        kwargs.setdefault("model", self.model)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            if kwargs.get("format") == "zip":
                raise InvalidOption("The zip format is for bytes; a PIL image or an array comes "
                                    "back as an image.", code="invalid_format")
            kwargs.setdefault("png_level", 0)  # decoded at once: spend no time compressing
        background = kwargs.get("background_image")
        if background is not None:
            kwargs["background_image"] = _encoded(background)
        opts = options(**kwargs)
        encoded = _encoded(data)
        limits = self.meter.limits
        if len(encoded) > limits.max_bytes and not isinstance(data, (bytes, bytearray, memoryview)):
            # the byte limit is for files; a picture already in memory is bound by its pixels
            limits = images.Limits(limits.max_megapixels, len(encoded))
        return _same_type(self._meter(opts, limits).cut(encoded, opts, account=None).result.data, data)


def _meter(cfg: Settings) -> Meter:
    from .engine import model
    from .metering import Meter

    segmenter = model.load(cfg)
    return Meter(segmenter, images.Limits(cfg.max_megapixels, cfg.max_bytes),
                 quality=tiers.quality_segmenter(cfg, segmenter), png_level=cfg.png_compress_level)


_lock = threading.Lock()
_shared: Meter | None = None
_default: Session | None = None


def _shared_meter(cfg: Settings | None) -> Meter:
    global _shared
    if cfg is not None:
        return _meter(cfg)
    with _lock:
        if _shared is None:
            from .config import settings

            _shared = _meter(settings())
        return _shared


def new_session(model: str = tiers.DEFAULT_TIER, *, settings: Settings | None = None) -> Session:
    """A session whose calls use the tier `model` unless they name another.

    Tiers: `fast` (the default: CUTOUT_MODEL, u2netp-int8), `fast-tta`, `quality`
    (CUTOUT_QUALITY_MODEL, u2net-int8), `quality-tta`. The model is loaded now;
    sessions made without `settings` share one loaded model per process (the
    CUTOUT_* environment's), with `settings` a session loads its own.

    Raises InvalidOption (`invalid_model`) for an unknown tier or a tier whose model
    is not installed, FileNotFoundError when the default model file is missing,
    SettingError when a CUTOUT_* variable does not parse.

        session = new_session("quality")
        for path in paths:
            Path(path + ".png").write_bytes(remove(Path(path).read_bytes(), session=session))
    """
    session = Session(_shared_meter(settings), model)
    if tiers.TIERS[model].large:
        if session.meter.quality is None:
            raise InvalidOption(f"The {model} model is not installed (CUTOUT_QUALITY_MODEL).",
                                code="invalid_model")
        session.meter.quality.get()
    return session


def _default_session() -> Session:
    global _default
    if _default is None:
        session = new_session()
        with _lock:
            _default = _default or session
    return _default


@overload
def remove(data: bytes, *, session: Session | None = None, **kwargs: Any) -> bytes: ...
@overload
def remove(data: PILImage.Image, *, session: Session | None = None, **kwargs: Any) -> PILImage.Image: ...
@overload
def remove(data: np.ndarray, *, session: Session | None = None, **kwargs: Any) -> np.ndarray: ...


def remove(data: Any, *, session: Session | None = None, **kwargs: Any) -> Any:
    """Remove the background; returns the same type it was given.

    data: an encoded image (bytes: JPEG, PNG, WebP, HEIC, AVIF, TIFF, BMP, GIF), a PIL
        image (any mode; its ICC profile and EXIF orientation are applied), or a NumPy
        array (HxW, HxWx3 or HxWx4 uint8, sRGB).
    Returns: bytes in the asked `format` (PNG by default); a PIL image (RGBA for a
        cut-out, L for `mode="fg-mask"`, RGB for `format="jpg"`); a NumPy array
        (HxWx4 uint8, HxW for a mask, HxWx3 for jpg). Alpha 0 (background) .. 255.
    session: from `new_session()`; None: the default session (`fast`), loaded on first use.
    kwargs: the engine's options (see `options()`): model, mode (`fg-image`,
        `fg-image-shadow`, `fg-mask`), format (`png`, `jpg`, `webp`, `zip`, `auto`),
        background_color, background_image (bytes, PIL or NumPy), max_megapixels, roi,
        crop, crop_margin, scale, position, shadow_opacity, decontaminate (0..1),
        refine_edges, require_foreground, png_level.

    Raises InvalidImage (not an image), ImageTooLarge (over CUTOUT_MAX_MEGAPIXELS, or a
    file over CUTOUT_MAX_BYTES), InvalidOption (an option out of range), NoForeground
    (no subject, with require_foreground=True): all `cutout.CutoutError`; TypeError
    for another input type or an unknown keyword.

        from cutout import remove
        Path("out.png").write_bytes(remove(Path("in.jpg").read_bytes(), background_color="white"))
    """
    return (session or _default_session()).remove(data, **kwargs)
