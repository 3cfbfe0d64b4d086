"""Cut-out quality against ground-truth masks: MAE, IoU and F-measure.

Scored as the shared evaluation sets define it: alpha in 0..1; IoU and F
(beta^2 = 0.3) count alpha >= 0.5 as foreground; truth pixels equal to 128 are
an uncertain band and left out; images whose truth has no foreground are skipped.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

BETA2 = 0.3


@dataclass(frozen=True)
class Scores:
    mae: float
    iou: float
    f: float


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
    return Scores(mae=mae, iou=inter / union if union else 0.0, f=float(f))


def pairs(folder: Path) -> Iterator[tuple[str, Path, Path]]:
    """(name, image path, mask path) from a dataset folder's manifest.csv."""
    with open(folder / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            yield row["name"], folder / row["image"], folder / row["mask"]


def evaluate(folder: Path, predict: Callable[[bytes], np.ndarray]) -> tuple[Scores, int]:
    """Mean scores of `predict(image bytes) -> alpha` over a dataset folder."""
    results = []
    for _name, image_path, mask_path in pairs(folder):
        truth = np.asarray(Image.open(mask_path).convert("L"))
        alpha = predict(image_path.read_bytes())
        scored = score(alpha, truth)
        if scored is not None:
            results.append(scored)
    if not results:
        raise ValueError(f"no scorable images in {folder}")
    mean = Scores(
        mae=float(np.mean([r.mae for r in results])),
        iou=float(np.mean([r.iou for r in results])),
        f=float(np.mean([r.f for r in results])),
    )
    return mean, len(results)
