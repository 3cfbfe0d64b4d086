"""Colour names and hex codes -> RGBA, for solid backgrounds.

Callers write colours the way CSS and remove.bg do: `81d4fa`, `#fff`,
`81d4fa77` (with alpha) or a name such as `green`. One parser serves every
dialect so that a colour means the same thing everywhere.
"""
from __future__ import annotations

import re

from PIL import ImageColor

from ..errors import InvalidOption

RGBA = tuple[int, int, int, int]
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def parse(text: str) -> RGBA:
    """`rgb`, `rgba`, `rrggbb`, `rrggbbaa` (with or without `#`) or a CSS colour name."""
    value = text.strip()
    match = _HEX.match(value)
    if match:
        digits = match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(d * 2 for d in digits)
        if len(digits) == 6:
            digits += "ff"
        r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
        return r, g, b, a
    name = value.lower().replace(" ", "")
    if name in ImageColor.colormap:  # the CSS3 / SVG named colours
        r, g, b = ImageColor.getrgb(name)[:3]
        return r, g, b, 255
    raise InvalidOption(
        f"Invalid colour {text!r}: use a hex code with 3, 4, 6 or 8 digits "
        "(e.g. 81d4fa, fff, 81d4fa77) or a colour name (e.g. green).",
        code="invalid_color",
    )
