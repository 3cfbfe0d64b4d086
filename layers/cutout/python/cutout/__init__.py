"""Cutout: background removal as a library, a CLI and an HTTP API.

As a library (docs/library.md), the way rembg is used::

    from cutout import remove

    png = remove(open("photo.jpg", "rb").read())            # bytes in, PNG bytes out
    cutout = remove(Image.open("photo.jpg"), background_color="white")   # PIL in, PIL out
    session = new_session("quality")                         # another tier, loaded once
    mask = remove(array, session=session, mode="fg-mask")   # NumPy in, NumPy out

`cut(data, Options(...), segmenter=, limits=)` is the engine's own call underneath.
The names below are loaded on first use, so importing a submodule (`cutout.config`,
`cutout.web`) does not load the engine's libraries.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "1.0.0"
__all__ = ["CutoutError", "Options", "Result", "Session", "cut", "new_session", "remove"]

if TYPE_CHECKING:
    from .engine.pipeline import Options, Result, cut
    from .errors import CutoutError
    from .library import Session, new_session, remove

_HOMES = {"cut": "engine.pipeline", "Options": "engine.pipeline", "Result": "engine.pipeline",
          "CutoutError": "errors", "remove": "library", "new_session": "library",
          "Session": "library"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'cutout' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_HOMES[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
