"""Cut-out quality against ground-truth masks: MAE, IoU, F-measure and boundary MAE.

Scored as the shared evaluation sets define it: alpha in 0..1; IoU and F
(beta^2 = 0.3) count alpha >= 0.5 as foreground; truth pixels equal to 128 are
an uncertain band and left out; images whose truth has no foreground are skipped.
The boundary metric is the MAE within `BAND` pixels of the truth's outline
(where upsampling, refinement and halos show; issue 15 measured it so).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageFilter

BETA2 = 0.3
BAND = 5  # pixels each side of the truth's outline

@dataclass(frozen=True)
class Scores:
    """Means in 0..1: MAE (lower is better), IoU and F (higher), boundary MAE (lower; NaN: none)."""

    mae: float
    iou: float
    f: float
    boundary: float = float("nan")


def edge_band(truth: np.ndarray, width: int = BAND) -> np.ndarray:
    """HxW bool: pixels within `width` px (square window) of the truth's outline, 128s left out."""
    fg = Image.fromarray(np.where(truth >= 128, 255, 0).astype(np.uint8))
    size = 2 * width + 1
    grown = np.asarray(fg.filter(ImageFilter.MaxFilter(size)))
    shrunk = np.asarray(fg.filter(ImageFilter.MinFilter(size)))
    band: np.ndarray = (grown != shrunk) & (truth != 128)
    return band


def score(alpha: np.ndarray, truth: np.ndarray) -> Scores | None:
    """Scores of one predicted alpha (uint8) against one truth mask (uint8)."""
    valid = truth != 128
    fg = truth >= 128
    if not (fg & valid).any():
        return None
    a = alpha[valid].astype(np.float64) / 255.0
    t = fg[valid]
    mae = float(np.abs(a - t).mean())
    pred = a >= 0.5
    inter = float((pred & t).sum())
    union = float((pred | t).sum())
    precision = inter / pred.sum() if pred.any() else 0.0
    recall = inter / t.sum()
    denom = BETA2 * precision + recall
    f = (1 + BETA2) * precision * recall / denom if denom > 0 else 0.0
    band = edge_band(truth)
    boundary = (float(np.abs(alpha[band].astype(np.float64) / 255.0 - (truth[band] >= 128)).mean())
                if band.any() else float("nan"))
    return Scores(mae=mae, iou=inter / union if union else 0.0, f=float(f), boundary=boundary)


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation of two equal-length samples (average ranks for ties)."""
    def ranks(v: list[float]) -> np.ndarray:
        values = np.asarray(v, dtype=np.float64)
        order = values.argsort(kind="stable")
        r = np.empty(len(values))
        r[order] = np.arange(len(values))
        for value in np.unique(values):  # ties share their mean rank
            same = values == value
            r[same] = r[same].mean()
        return r
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def mean(results: list[Scores]) -> Scores:
    """The mean of each metric over images (boundary over images that have an outline)."""
    bounds = [r.boundary for r in results if not np.isnan(r.boundary)]
    return Scores(
        mae=float(np.mean([r.mae for r in results])),
        iou=float(np.mean([r.iou for r in results])),
        f=float(np.mean([r.f for r in results])),
        boundary=float(np.mean(bounds)) if bounds else float("nan"),
    )


@dataclass(frozen=True)
class Report:
    """Mean scores per variant, the image count, and the uncertainty score's validation.

    rank_correlation: Spearman's rho between each image's uncertainty score and
    its IoU error (1 - IoU) under the first variant; positive means the score works.
    """

    means: dict[str, Scores]
    count: int
    rank_correlation: float


def evaluate(
    samples: Iterable[tuple[bytes, np.ndarray]],
    predict: Callable[[bytes], tuple[dict[str, np.ndarray], float]],
) -> Report:
    """Scores of `predict(image bytes) -> ({variant: alpha}, uncertainty)` over `samples`.

    samples: (encoded image, truth mask HxW uint8) pairs, read lazily (cli/evaluation.py
    reads them from a dataset folder). Raises ValueError when no sample can be scored.
    """
    results: dict[str, list[Scores]] = {}
    doubts, errors = [], []
    for data, truth in samples:
        variants, doubt = predict(data)
        for index, (variant, alpha) in enumerate(variants.items()):
            scored = score(alpha, truth)
            if scored is None:
                break
            results.setdefault(variant, []).append(scored)
            if index == 0:
                doubts.append(doubt)
                errors.append(1.0 - scored.iou)
    if not results:
        raise ValueError("no scorable images")
    return Report({k: mean(v) for k, v in results.items()}, len(doubts), spearman(doubts, errors))
