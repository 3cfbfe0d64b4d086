"""Cutout: background removal as a library, a CLI and an HTTP API.

As a library::

    from cutout import Options, cut
    from cutout.config import settings
    from cutout.engine import images, model

    cfg = settings()
    result = cut(data, Options(mode="fg-image"), segmenter=model.load(cfg),
                 limits=images.Limits(cfg.max_megapixels, cfg.max_bytes))

The names below are loaded on first use, so importing a submodule (`cutout.config`,
`cutout.web`) does not load the engine's libraries.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "1.0.0"
__all__ = ["CutoutError", "Options", "Result", "cut"]

if TYPE_CHECKING:
    from .engine.pipeline import Options, Result, cut
    from .errors import CutoutError

_HOMES = {"cut": "engine.pipeline", "Options": "engine.pipeline", "Result": "engine.pipeline",
          "CutoutError": "errors"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'cutout' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_HOMES[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
