"""Quality tiers: which model a request is cut with, and which second pass, if any, is averaged in.

`fast` (the default) is the deployment's model (CUTOUT_MODEL, u2netp-int8 unless
set). `quality` is the larger U^2-Net (CUTOUT_QUALITY_MODEL, `u2net-int8`).
`fast-tta` is the deployment's model with two-scale test-time augmentation: a
second pass on a close-up of the subject, averaged in (engine/two_scale.py); with
u2netp it scores better than one pass on every shared set, most where the subject
is small, for a second pass (README, Quality tiers). `quality-tta` adds flip
test-time augmentation to the large model: the mask of the photo and the
mirrored mask of the mirrored photo are averaged (horizontal-flip TTA, as in
Krizhevsky et al. 2012's test-time flips); it costs a second pass and measured no
better than `quality` on GrabCut (README, Quality tiers). With u2net the two
augmentations measured alike; with u2netp two-scale is the better one. The large model is loaded on the first request that
asks for it, once per process, so callers who never ask for it pay nothing at
cold start.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable

from ..config import Settings
from . import cpus
from .model import Segmenter, load, resolve_model_path


@dataclass(frozen=True)
class Tier:
    name: str
    large: bool  # the quality model (CUTOUT_QUALITY_MODEL), not the deployment's own
    flip: bool = False  # average in the horizontally mirrored pass
    two_scale: bool = False  # average in a second pass on the subject's close-up (two_scale.py)


TIERS: dict[str, Tier] = {
    "fast": Tier("fast", large=False),
    "fast-tta": Tier("fast-tta", large=False, two_scale=True),
    "quality": Tier("quality", large=True),
    "quality-tta": Tier("quality-tta", large=True, flip=True),
}
DEFAULT_TIER = "fast"


class LazySegmenter:
    """A model loaded on first use: once per process, safe to ask for from many threads."""

    def __init__(self, name: str, load: Callable[[], Segmenter]) -> None:
        self.name = name
        self._load = load
        self._lock = threading.Lock()
        self._segmenter: Segmenter | None = None

    @property
    def loaded(self) -> bool:
        return self._segmenter is not None

    def get(self) -> Segmenter:
        """The model; the first caller loads it (others wait), later callers get it at once.

        Raises what the loader raises (FileNotFoundError for a missing file); a failed
        load is tried again by the next caller.
        """
        segmenter = self._segmenter
        if segmenter is None:
            with self._lock:
                if self._segmenter is None:
                    self._segmenter = self._load()
                segmenter = self._segmenter
        return segmenter


def idle_release(default: Segmenter, quality: LazySegmenter | None) -> Callable[[], None]:
    """What a process hands back once idle (`workload.Workload`'s `release`): the arena of
    each model it has loaded (`Segmenter.release_arena`), then the allocator's free memory
    (`cpus.release_memory`)."""
    def release() -> None:
        default.release_arena()
        if quality is not None and quality.loaded and quality.get() is not default:
            quality.get().release_arena()
        cpus.release_memory()

    return release


def quality_segmenter(cfg: Settings, default: Segmenter) -> LazySegmenter | None:
    """The `quality` tier's model for a process serving with `cfg`, not yet loaded.

    The deployment's own model when it is already the quality model (no second
    session); None when the quality model's file is not installed (the tier is then
    refused before anything is charged). Finding the file is a stat, not a load.
    """
    if not cfg.quality_model:
        return None
    wanted = replace(cfg, model_name=cfg.quality_model, model_path="")
    if default.spec.name == cfg.quality_model:
        return LazySegmenter(cfg.quality_model, lambda: default)
    try:
        resolve_model_path(wanted)
    except FileNotFoundError:
        return None
    return LazySegmenter(cfg.quality_model, lambda: load(wanted))
