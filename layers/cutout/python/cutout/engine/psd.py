"""A layered Photoshop document of a cut-out, written with psd-tools.

Layers, bottom to top: an optional solid background layer, then the photo as
a pixel layer whose user layer mask is the alpha matte (white shows the
subject, black hides the background), so the cut can be refined in Photoshop
by painting the mask. The composite image stored in the file is the photo
over the background through that mask, so viewers that read only the
composite see the cut-out too.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..errors import InputError
from . import formats

PSD = formats.get("psd")  # MIME type, extension, the largest side a PSD holds


class PsdUnsupported(InputError):
    """The image cannot be written as a PSD (psd-tools missing, or over the format's size)."""

    code = "psd_unsupported"


def encode_layered(
    rgb: np.ndarray, alpha: np.ndarray, background: tuple[int, int, int, int] | None = None
) -> bytes:
    """PSD bytes: `rgb` (HxWx3 uint8) as a layer masked by `alpha` (HxW uint8, 0-255).

    `background` (RGBA, alpha 0-255) adds a solid layer under the photo.
    Raises PsdUnsupported when psd-tools is not installed or a side exceeds 30,000 px.
    """
    height, width = alpha.shape
    if PSD.max_side is not None and max(width, height) > PSD.max_side:
        raise PsdUnsupported(f"A PSD holds at most {PSD.max_side} pixels a side; this image is "
                             f"{width}x{height}.")
    try:
        from psd_tools import PSDImage
        from psd_tools.api.layers import PixelLayer
    except ImportError as exc:  # pragma: no cover - a deployment without the deps layer
        raise PsdUnsupported("PSD output needs psd-tools, which this server does not have.") from exc
    photo = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    mask = Image.fromarray(np.ascontiguousarray(alpha), "L")
    document = PSDImage.new("RGB", (width, height), color=255)
    if background is not None:
        fill = Image.new("RGBA", (width, height), tuple(background))
        document.append(PixelLayer.frompil(fill, document, name="Background colour"))
    layer = PixelLayer.frompil(photo, document, name="Photo")
    layer.create_mask(mask)
    document.append(layer)
    document.composite(force=True)  # the stored composite shows the masked result
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
