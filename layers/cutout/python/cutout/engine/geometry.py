"""Lengths in pixels or percent, and the regions, margins, scales and positions made of them.

Options arrive as text (`"10% 20px"`) long before the image's size is known, so
parsing keeps a length symbolic (`Length(0.1, relative=True)`) and resolving
turns it into pixels once the size is known. Every refusal is an InvalidOption
whose code names the option, so each dialect can report it in its own words.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import InvalidOption
from ..numerals import DIGITS
from ..types import Bounds

# ASCII digits only (numerals.py): re's \d would also take '٣' or '３'.
_NUMBER = re.compile(rf"^({DIGITS}(?:\.[0-9]*)?|\.{DIGITS})(px|%)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Length:
    """Pixels, or a fraction of a reference length (written as a percentage)."""

    value: float
    relative: bool = False

    def resolve(self, reference: float) -> float:
        return self.value * reference if self.relative else self.value


ZERO = Length(0.0)


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,]+", text.strip()) if t]


def parse_length(token: str, code: str) -> Length:
    """`30px`, `30` (pixels) or `10%` (a fraction of some reference)."""
    match = _NUMBER.match(token.strip())
    if not match:
        raise InvalidOption(f"Invalid length {token!r}: use pixels (e.g. 30px) or a percentage (e.g. 10%).",
                            code=code)
    number = float(match.group(1))
    if (match.group(2) or "").lower() == "%":
        return Length(number / 100.0, relative=True)
    return Length(number)


def parse_percent(token: str, code: str, low: float = 0.0, high: float = 100.0) -> float:
    """A percentage between low and high, as a fraction (`"50%"` -> 0.5)."""
    match = _NUMBER.match(token.strip())
    if not match or match.group(2) != "%" or not low <= float(match.group(1)) <= high:
        raise InvalidOption(f"Invalid value {token!r}: expected a percentage from {low:g}% to {high:g}%.",
                            code=code)
    return float(match.group(1)) / 100.0


# --- margins ---------------------------------------------------------------------


@dataclass(frozen=True)
class Margin:
    """Space around a box, CSS order; percentages are of the box's height (top, bottom) or width."""

    top: Length = ZERO
    right: Length = ZERO
    bottom: Length = ZERO
    left: Length = ZERO

    def resolve(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(top, right, bottom, left) in whole pixels for a box of width x height."""
        return (round(self.top.resolve(height)), round(self.right.resolve(width)),
                round(self.bottom.resolve(height)), round(self.left.resolve(width)))


NO_MARGIN = Margin()


def parse_margin(text: str, max_pixels: float = 500, max_fraction: float = 0.5) -> Margin:
    """1, 2 or 4 lengths, as in CSS: all sides; top/bottom and left/right; top right bottom left."""
    code = "invalid_crop_margin"
    parts = [parse_length(t, code) for t in _tokens(text)]
    if len(parts) not in (1, 2, 4):
        raise InvalidOption(f"Invalid margin {text!r}: give 1, 2 or 4 values.", code=code)
    for part in parts:
        limit = max_fraction if part.relative else max_pixels
        if part.value > limit:
            shown = f"{max_fraction * 100:g}%" if part.relative else f"{max_pixels:g}px"
            raise InvalidOption(f"Invalid margin {text!r}: at most {shown} on each side.", code=code)
    if len(parts) == 1:
        parts *= 4
    elif len(parts) == 2:
        parts = [parts[0], parts[1], parts[0], parts[1]]
    return Margin(*parts)


# --- regions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """A rectangle `x1 y1 x2 y2`; percentages are of the image's width (x) or height (y)."""

    x1: Length
    y1: Length
    x2: Length
    y2: Length

    def resolve(self, width: int, height: int) -> Bounds:
        """(left, top, right, bottom) in pixels, right and bottom exclusive.

        A region that reaches outside the image is refused rather than clipped:
        it almost always means the caller computed it for another image.
        """
        left, right = self.x1.resolve(width), self.x2.resolve(width)
        top, bottom = self.y1.resolve(height), self.y2.resolve(height)
        if right > width or bottom > height:
            raise InvalidOption(
                f"The region of interest ({left:g}, {top:g}) - ({right:g}, {bottom:g}) "
                f"exceeds the image bounds ({width}x{height}).",
                code="roi_exceeds_bounds",
            )
        box = (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise InvalidOption("The region of interest is empty.", code="invalid_roi")
        return box


def parse_region(text: str) -> Region:
    """Four lengths `x1 y1 x2 y2` (px or %), with x1 < x2 and y1 < y2 where comparable."""
    code = "invalid_roi"
    parts = [parse_length(t, code) for t in _tokens(text)]
    if len(parts) != 4:
        raise InvalidOption(f"Invalid region {text!r}: give four values x1 y1 x2 y2 (px or %).", code=code)
    if any(p.relative and p.value > 1.0 for p in parts):
        raise InvalidOption(f"Invalid region {text!r}: percentages go up to 100%.", code=code)
    x1, y1, x2, y2 = parts
    for low, high in ((x1, x2), (y1, y2)):
        if low.relative == high.relative and high.value <= low.value:
            raise InvalidOption(f"Invalid region {text!r}: x2 and y2 must exceed x1 and y1.", code=code)
    return Region(x1, y1, x2, y2)


# --- scale and position ------------------------------------------------------------------


def parse_scale(text: str) -> float | None:
    """`original` (None) or `10%`..`100%`: the subject's size relative to the canvas."""
    if text.strip().lower() == "original":
        return None
    return parse_percent(text, "invalid_scale", 10.0, 100.0)


CENTER = (0.5, 0.5)


def parse_position(text: str) -> tuple[float, float] | None:
    """`original` (None), `center`, or one or two percentages (horizontal, vertical)."""
    value = text.strip().lower()
    if value == "original":
        return None
    if value in ("center", "centre"):
        return CENTER
    parts = [parse_percent(t, "invalid_position") for t in _tokens(value)]
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise InvalidOption(f"Invalid position {text!r}: give `original`, `center`, or 1-2 percentages.",
                        code="invalid_position")
