"""One exception type for every refusal the engine can make.

Each error carries a stable machine code and a human message; the web dialects
translate the code into their own shapes and statuses, so the engine never
speaks HTTP.
"""
from __future__ import annotations


class CutoutError(Exception):
    """A request Cutout refuses on purpose (bad input, limits, policy)."""

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidImage(CutoutError):
    """The bytes are not an image we can decode."""

    code = "invalid_image"


class ImageTooLarge(CutoutError):
    """The image is over the configured pixel or byte limits."""

    code = "image_too_large"
    status = 413


class FetchError(CutoutError):
    """An image URL could not be fetched, or was refused by the SSRF guard."""

    code = "fetch_failed"


class InvalidOption(CutoutError):
    """A processing option has a value outside its documented range."""

    code = "invalid_option"


class TooManyScans(InvalidImage):
    """A JPEG with more scans (progressive passes) than Cutout decodes (jpeg.MAX_SCANS)."""

    code = "too_many_scans"
