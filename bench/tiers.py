"""The quality tier measured: u2net-int8 with and without flip TTA, quality and speed against rembg's u2net.

    .venv/bin/python -m bench.tiers quality --sets ../shared/eval/grabcut ...
    bench/.venv/bin/python -m bench.tiers speed [--photos ../shared/eval]

`quality` scores every image of each set twice from the same two model passes
(the photo, and the mirrored photo): the first pass alone is `model=quality`,
the average of both is `model=quality-tta` (segment.predict with flip). Scores as `make eval` (cutout.engine.quality); the reference is rembg
2.0.86 with u2net in ../shared/eval/README.md.
`speed` times, on the same photos and alternating, rembg's remove() with a
reused u2net session and Cutout's `quality` tier (and its single pass), bytes
in -> PNG out, medians over rounds x photos, 2 threads each.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from . import engines, photos

MODEL = "u2net-int8"


def _quality_segmenter(threads: int = 2):
    from cutout.config import Settings
    from cutout.engine import model

    return model.load(Settings(model_name=MODEL, model_path=str(engines.MODEL_DIR / f"{MODEL}.onnx"),
                               threads=threads))


def quality(folder: Path, limit: int = 0) -> dict[str, dict[str, float]]:
    """{"u2net-int8": scores, "u2net-int8 + flip": scores} (MAE, IoU, F means) on one set."""
    from PIL import Image

    from cutout.cli.evaluation import pairs
    from cutout.engine import images, matte
    from cutout.engine import quality as metrics

    seg = _quality_segmenter()
    limits = images.Limits(100, 2**30)
    found: dict[str, list[metrics.Scores]] = {MODEL: [], f"{MODEL} + flip": []}
    for index, (_name, image_path, mask_path) in enumerate(pairs(folder)):
        if limit and index >= limit:
            break
        truth = np.asarray(Image.open(mask_path).convert("L"))
        rgb = images.decode(image_path.read_bytes(), limits).rgb
        height, width = rgb.shape[:2]
        tensor = seg.prepare(rgb)
        plain = seg.run(tensor)
        # the second pass of segment.predict(flip=True), shared with the plain score
        mirrored = seg.run(np.ascontiguousarray(tensor[..., ::-1]))[:, ::-1]
        for name, soft in ((MODEL, plain), (f"{MODEL} + flip", (plain + mirrored) * 0.5)):
            scored = metrics.score(matte.upsample(np.ascontiguousarray(soft), width, height), truth)
            if scored is not None:
                found[name].append(scored)
    return {name: {"MAE": round(float(np.mean([s.mae for s in got])), 4),
                   "IoU": round(float(np.mean([s.iou for s in got])), 4),
                   "F": round(float(np.mean([s.f for s in got])), 4), "images": len(got)}
            for name, got in found.items()}


def speed(photo_list: list[photos.Photo], rounds: int) -> dict[str, float]:
    """Median seconds per image: rembg u2net, Cutout quality tier, Cutout u2net-int8 without flip."""
    import os

    os.environ["U2NET_HOME"] = str(engines.MODEL_DIR)
    import onnxruntime as ort
    from rembg import new_session, remove

    from cutout.engine import images, pipeline

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = new_session("u2net", sess_opts=options)
    seg = _quality_segmenter()
    limits = images.Limits(100, 2**30)
    runs = {
        "rembg u2net": lambda data: remove(data, session=session),
        "cutout quality-tta (u2net-int8 + flip)": lambda data: pipeline.cut(
            data, pipeline.Options(model="quality-tta"), segmenter=seg, limits=limits).data,
        "cutout quality (u2net-int8)": lambda data: pipeline.cut(
            data, pipeline.Options(model="quality"), segmenter=seg, limits=limits).data,
    }
    for run in runs.values():  # warm-up
        run(photo_list[0].data)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for photo in photo_list:
            for name, run in runs.items():
                started = time.perf_counter()
                run(photo.data)
                times[name].append(time.perf_counter() - started)
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    q = commands.add_parser("quality")
    q.add_argument("--sets", type=Path, nargs="+", required=True)
    q.add_argument("--limit", type=int, default=0, help="first N images of each set (0: all)")
    s = commands.add_parser("speed")
    s.add_argument("--photos", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval")
    s.add_argument("--megapixels", type=float, default=1.0)
    s.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.command == "quality":
        for folder in args.sets:
            for name, row in quality(folder, args.limit).items():
                print(f"{folder.name:14s} {name:20s} {row}", flush=True)
    else:
        found = speed([photos.at_megapixels(p, args.megapixels) for p in photos.sources(args.photos)],
                      args.rounds)
        base = found["rembg u2net"]
        for name, seconds in found.items():
            print(f"{name:36s} {seconds:6.3f} s  {base / seconds:5.2f}x rembg")


if __name__ == "__main__":
    main()
