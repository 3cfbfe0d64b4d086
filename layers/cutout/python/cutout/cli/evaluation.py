"""`cutout eval`: a dataset folder in, the quality (and spill) figures out.

The folder has the evaluation sets' layout (`make eval-data` writes it):
`manifest.csv` (columns name, image, mask), the photos and the truth masks.
Everything that reads the folder is here; Cutout's own scores are pure
functions of arrays in the engine (engine/quality.py, engine/spill.py), and
the field's standard salient-object measures come from pysodmetrics
(`Standard`), so the figures compare with published tables.
"""
from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from ..engine.quality import Scores

# rembg 2.0.86 with u2netp.onnx on the shared sets: the table in the shared
# evaluation folder's README.md ("Reference figures"), copied for when that
# README is not beside the dataset. Numbers only, no data.
REMBG_U2NETP = {
    "grabcut": (0.0591, 0.7994, 0.8426),
    "davis345": (0.0349, 0.7279, 0.7998),
    "pascal-s-dev": (0.0927, 0.7266, 0.8018),
}


def pairs(folder: Path) -> Iterator[tuple[str, Path, Path]]:
    """(name, image path, mask path) from a dataset folder's manifest.csv, in its order."""
    with open(folder / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            yield row["name"], folder / row["image"], folder / row["mask"]


def truth_of(mask: Path) -> np.ndarray:
    """A truth mask file as HxW uint8 (0 background, 255 subject, 128 uncertain)."""
    return np.asarray(Image.open(mask).convert("L"))


def encoded(folder: Path) -> Iterator[tuple[bytes, np.ndarray]]:
    """(image file bytes, truth HxW uint8) per pair, read one at a time: quality.evaluate's samples."""
    for _name, image_path, mask_path in pairs(folder):
        yield image_path.read_bytes(), truth_of(mask_path)


def photos(folder: Path, limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(photo HxWx3 uint8, truth HxW uint8) for the first `limit` pairs (all: None): spill.measure's."""
    for _name, image_path, mask_path in itertools.islice(pairs(folder), limit):
        yield np.asarray(Image.open(image_path).convert("RGB")), truth_of(mask_path)


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


def plain_upsampling(soft: np.ndarray, width: int, height: int) -> np.ndarray:
    """The soft mask (SxS float 0..1) resized to width x height with LANCZOS and nothing else.

    rembg's way (the shared sets' README: "LANCZOS back to full size"), which issue 15's
    boundary target is measured against: HxW uint8 alpha, no contrast curve, no edge step.
    """
    small = Image.fromarray((np.clip(soft, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "L")
    return np.asarray(small.resize((width, height), Image.Resampling.LANCZOS))


class Standard:
    """The salient-object-detection measures the field's papers report, by pysodmetrics.

    S-measure (structure, Fan et al. ICCV 2017), mean E-measure (enhanced alignment,
    Fan et al. IJCAI 2018), weighted F-measure (Margolin et al. CVPR 2014) and MAE, as
    the SOD toolboxes compute them (pysodmetrics, after the MATLAB toolbox of Fan et al.):
    each prediction min-max normalised, the truth foreground where it is over 128 (so
    GrabCut's uncertain band, 128, counts as background here), means over images.
    """

    def __init__(self) -> None:
        import py_sod_metrics as sod

        self.version = _version("pysodmetrics")
        self.measures: dict[str, Any] = {"S-measure": sod.Smeasure(), "E-measure": sod.Emeasure(),
                         "weighted F": sod.WeightedFmeasure(), "MAE": sod.MAE()}

    def add(self, alpha: np.ndarray, truth: np.ndarray) -> None:
        """One prediction (HxW uint8 alpha) against its truth (HxW uint8); no-subject truths skipped."""
        if (truth > 128).any():
            for measure in self.measures.values():
                measure.step(pred=alpha, gt=truth)

    def results(self) -> dict[str, float]:
        """The means over the images added, in 0..1 (MAE lower is better, the rest higher)."""
        got = {name: measure.get_results() for name, measure in self.measures.items()}
        return {"S-measure": float(got["S-measure"]["sm"]),
                "E-measure": float(np.mean(got["E-measure"]["em"]["curve"])),  # mean E over thresholds
                "weighted F": float(got["weighted F"]["wfm"]),
                "MAE": float(got["MAE"]["mae"])}


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def run(args: argparse.Namespace) -> int:
    """Print MAE, IoU, F and boundary MAE beside rembg's published figures, the standard
    salient-object measures, and optionally the spill."""
    from ..config import settings
    from ..engine import confidence, images, model, quality, segment, spill

    if not (args.dataset / "manifest.csv").is_file():
        raise SystemExit(
            f"cutout: {args.dataset}: no manifest.csv here. A dataset folder holds manifest.csv "
            "(name,image,mask), images/ and masks/; `make eval-data` downloads the public sets "
            "into build/eval (docs/quality.md).")
    try:
        standard: Standard | None = Standard()
    except ImportError:
        standard = None
    cfg = settings()
    segmenter = model.load(cfg)
    limits = images.Limits(cfg.max_megapixels, cfg.max_bytes)

    def predict(data: bytes) -> tuple[dict[str, np.ndarray], float]:
        rgb = images.decode(data, limits).rgb
        soft = segmenter.predict(rgb)
        variants = {"cutout": segment.full_matte(soft, rgb),
                    "plain upsampling": plain_upsampling(soft, rgb.shape[1], rgb.shape[0]),
                    "cutout refine_edges": segment.full_matte(soft, rgb, refine_edges=True),
                    "cutout fast-tta": segment.full_matte(soft, rgb, close_up=segmenter.predict)}
        return variants, confidence.uncertainty(soft)

    truths: list[np.ndarray] = []

    def samples() -> Iterator[tuple[bytes, np.ndarray]]:
        for data, truth in encoded(args.dataset):
            truths.append(truth)
            yield data, truth

    def predict_and_measure(data: bytes) -> tuple[dict[str, np.ndarray], float]:
        variants, doubt = predict(data)
        if standard is not None:
            standard.add(variants["cutout"], truths.pop())
        return variants, doubt

    try:
        report = quality.evaluate(samples(), predict_and_measure)
    except ValueError as exc:
        raise SystemExit(f"cutout: {args.dataset}: {exc}") from None
    print(f"dataset  {args.dataset}")
    print(f"model    {segmenter.spec.name} ({segmenter.path})")
    print(f"images   {report.count}")
    print(f"{'':22} {'MAE':>7} {'IoU':>7} {'F':>7} {'bMAE':>7}")
    ref = reference(args.dataset)
    if ref is not None:
        print(f"{'rembg u2netp (README)':22} {ref.mae:7.4f} {ref.iou:7.4f} {ref.f:7.4f} {'-':>7}")
    for name, s in report.means.items():
        print(f"{name:22} {s.mae:7.4f} {s.iou:7.4f} {s.f:7.4f} {s.boundary:7.4f}")
    print(f"bMAE: MAE within {quality.BAND} px of the truth's outline (lower is better)")
    print(f"uncertainty vs IoU error (1 - IoU), Spearman rho: {report.rank_correlation:+.3f} "
          "(positive: doubtful images are the wrong ones)")
    if standard is None:
        print("standard measures: pysodmetrics is not installed (pip install pysodmetrics)")
    else:
        found = standard.results()
        print(f"standard SOD measures of cutout (pysodmetrics {standard.version}; whole masks, "
              "predictions min-max normalised, truth > 128 as foreground):")
        print("  " + "  ".join(f"{name} {value:.4f}" for name, value in found.items()))
    if args.spill:
        def matte(rgb: np.ndarray) -> np.ndarray:
            return segment.matte_of(rgb, None, segmenter)

        print("spill: levels toward the old backdrop in the edge band, on a neutral grey;"
              " error: mean absolute colour error there against the true composite")
        for label, chosen in (("model's matte", matte), ("true matte", None)):
            try:
                measured = spill.measure(photos(args.dataset, args.limit), chosen)
            except ValueError as exc:
                raise SystemExit(f"cutout: {args.dataset}: {exc}") from None
            print(f"  {label:14} {measured.count} composites: decontaminate off {measured.off:.2f}, "
                  f"on {measured.on:.2f} ({1 - measured.on / measured.off:.0%} removed); "
                  f"error off {measured.error_off:.2f}, on {measured.error_on:.2f}")
    return 0
