"""Two-scale inference measured: a second model pass on the subject's box, averaged in.

    .venv/bin/python -m bench.two_scale --sets ../shared/eval/grabcut ../shared/eval/davis345 \
        ../shared/eval/pascal-s-dev [--model u2netp-int8] [--every 1]
    .venv/bin/python -m bench.two_scale --speed ../shared/eval   # fast, fast-tta, quality

The model sees every photo squashed to 320x320, so a subject that fills a
quarter of the frame gets a quarter of the model's pixels. Two-scale inference
(multi-scale test-time augmentation) runs the model once on the whole photo,
takes the subject's box from that mask (soft >= 0.5, grown by a fifth of its
size on each side for context), runs the model again on that crop, and puts
the crop's matte in the box: `replace` keeps only the close-up, `average`
averages the two mattes there (engine/two_scale.py, the `fast-tta` tier). Outside
the box the first pass stands. The margin (20%) and the rules were chosen before
measuring, not fitted.

Scores each image of each set under: one pass (the service's `fast` tier), the
flip TTA of `quality-tta` applied to this model (two passes), and two-scale
`replace` and `average` (two passes), all from the same first pass. Scores as
`make eval` (cutout.engine.quality); rembg's u2netp figures are the reference
in ../shared/eval/README.md. docs/performance.md has the results.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def two_scale(rgb: np.ndarray, soft: np.ndarray, segmenter, rule: str) -> np.ndarray:
    """The full-size alpha (HxW uint8) of two-scale inference from the first pass's `soft`.

    `average` is the engine's (`model=fast-tta`); `replace` keeps the close-up alone in the box.
    """
    from cutout.engine import matte, segment
    from cutout.engine.two_scale import subject_box

    height, width = rgb.shape[:2]
    if rule == "average":
        return segment.full_matte(soft, rgb, close_up=segmenter.predict)
    alpha = np.array(matte.upsample(soft, width, height))
    box = subject_box(soft, width, height)
    if box is not None:
        left, top, right, bottom = box
        alpha[top:bottom, left:right] = matte.upsample(
            segmenter.predict(np.ascontiguousarray(rgb[top:bottom, left:right])), right - left,
            bottom - top)
    return alpha


def measure(folder: Path, model_name: str, every: int = 1) -> dict[str, tuple[float, float, float, float]]:
    """{variant: (MAE, IoU, F, boundary MAE)} means over every `every`-th image of one set."""
    from PIL import Image

    from cutout.cli.evaluation import pairs
    from cutout.config import settings
    from cutout.engine import images, matte, model, segment
    from cutout.engine import quality as metrics
    from dataclasses import replace

    segmenter = model.load(replace(settings(), model_name=model_name))
    limits = images.Limits(100, 2**30)
    found: dict[str, list[metrics.Scores]] = {}
    for _name, image_path, mask_path in list(pairs(folder))[::every]:
        truth = np.asarray(Image.open(mask_path).convert("L"))
        rgb = images.decode(image_path.read_bytes(), limits).rgb
        height, width = rgb.shape[:2]
        soft = segmenter.predict(rgb)
        variants = {
            "one pass": matte.upsample(soft, width, height),
            "flip TTA": matte.upsample(segment.predict(segmenter, rgb, flip=True)[0], width, height),
            "two-scale replace": two_scale(rgb, soft, segmenter, "replace"),
            "two-scale average": two_scale(rgb, soft, segmenter, "average"),
        }
        for name, alpha in variants.items():
            scored = metrics.score(alpha, truth)
            if scored is not None:
                found.setdefault(name, []).append(scored)
    means = {name: metrics.mean(scores) for name, scores in found.items()}
    return {name: (s.mae, s.iou, s.f, s.boundary) for name, s in means.items()}


def speed(folder: Path, rounds: int = 5) -> dict[float, dict[str, float]]:
    """{megapixels: {tier: median ms}} of `fast`, `fast-tta` and `quality`: bytes in -> PNG out.

    The first photo of each shared set at 1 and 12 MP, the tiers alternating in one
    warm process (2 threads); the ratios are the figures, absolute times the machine's.
    """
    import statistics

    from cutout.config import settings
    from cutout.engine import images, model, pipeline

    from . import photos

    from dataclasses import replace

    cfg = settings()
    fast = model.load(cfg)
    models = {"fast": fast, "fast-tta": fast, "quality": model.load(replace(cfg, model_name="u2net-int8"))}
    limits = images.Limits(100, 2**30)
    out: dict[float, dict[str, float]] = {}
    for megapixels in (1.0, 12.0):
        shots = [photos.at_megapixels(p, megapixels) for p in photos.sources(folder)]
        times: dict[str, list[float]] = {tier: [] for tier in models}
        for round_ in range(rounds + 1):
            for shot in shots:
                for tier, segmenter in models.items():
                    started = time.perf_counter()
                    pipeline.cut(shot.data, pipeline.Options(model=tier), segmenter=segmenter,
                                 limits=limits)
                    if round_:  # the first round warms up
                        times[tier].append(time.perf_counter() - started)
        out[megapixels] = {tier: statistics.median(t) * 1e3 for tier, t in times.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", type=Path, nargs="+")
    parser.add_argument("--model", default="u2netp-int8")
    parser.add_argument("--every", type=int, default=1, help="score every n-th image only")
    parser.add_argument("--speed", type=Path, metavar="PHOTOS",
                        help="instead: time `fast`, `fast-tta` and `quality` on the first photo of each set")
    args = parser.parse_args()
    if args.speed:
        for megapixels, ms in speed(args.speed).items():
            print(f"{megapixels:g} MP: " + ", ".join(
                f"{tier} {t:.0f} ms ({t / ms['fast']:.2f}x fast's)" for tier, t in ms.items()))
        return
    if not args.sets:
        parser.error("give --sets (quality) or --speed (time)")
    print(f"model {args.model}; MAE / IoU / F / boundary MAE (5 px band)")
    for folder in args.sets:
        started = time.perf_counter()
        rows = measure(folder, args.model, args.every)
        print(f"{folder.name} ({time.perf_counter() - started:.0f} s)")
        for name, (mae, iou, f, bmae) in rows.items():
            print(f"  {name:18} {mae:.4f} {iou:.4f} {f:.4f} {bmae:.4f}")


if __name__ == "__main__":
    main()
