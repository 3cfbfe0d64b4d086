"""Cut-out quality against ground-truth masks: MAE, IoU, F-measure and boundary MAE.

Scored as the shared evaluation sets define it: alpha in 0..1; IoU and F
(beta^2 = 0.3) count alpha >= 0.5 as foreground; truth pixels equal to 128 are
an uncertain band and left out; images whose truth has no foreground are skipped.
The boundary metric is the MAE within `BAND` pixels of the truth's outline
(where upsampling, refinement and halos show; issue 15 measured it so).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageFilter

BETA2 = 0.3
BAND = 5  # pixels each side of the truth's outline

# rembg 2.0.86 with u2netp.onnx on the shared sets: the table in the shared
# evaluation folder's README.md ("Reference figures"), copied for when that
# README is not beside the dataset. Numbers only, no data.
REMBG_U2NETP = {
    "grabcut": (0.0591, 0.7994, 0.8426),
    "davis345": (0.0349, 0.7279, 0.7998),
    "pascal-s-dev": (0.0927, 0.7266, 0.8018),
}


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


def reference(folder: Path) -> Scores | None:
    """rembg u2netp's published (MAE, IoU, F) for a shared set: its README's table, else the copy."""
    readme = folder.parent / "README.md"
    if readme.is_file():
        for line in readme.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 4 and cells[0] == folder.name:
                try:
                    return Scores(*(float(c) for c in cells[1:4]))
                except ValueError:
                    break
    known = REMBG_U2NETP.get(folder.name)
    return Scores(*known) if known else None


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


def pairs(folder: Path) -> Iterator[tuple[str, Path, Path]]:
    """(name, image path, mask path) from a dataset folder's manifest.csv."""
    with open(folder / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            yield row["name"], folder / row["image"], folder / row["mask"]


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


def evaluate(folder: Path, predict: Callable[[bytes], tuple[dict[str, np.ndarray], float]]) -> Report:
    """Scores of `predict(image bytes) -> ({variant: alpha}, uncertainty)` over a dataset folder.

    Raises ValueError when no image of the folder can be scored.
    """
    results: dict[str, list[Scores]] = {}
    doubts, errors = [], []
    for _name, image_path, mask_path in pairs(folder):
        truth = np.asarray(Image.open(mask_path).convert("L"))
        variants, doubt = predict(image_path.read_bytes())
        for index, (variant, alpha) in enumerate(variants.items()):
            scored = score(alpha, truth)
            if scored is None:
                break
            results.setdefault(variant, []).append(scored)
            if index == 0:
                doubts.append(doubt)
                errors.append(1.0 - scored.iou)
    if not results:
        raise ValueError(f"no scorable images in {folder}")
    return Report({k: mean(v) for k, v in results.items()}, len(doubts), spearman(doubts, errors))
