"""Every output option at 12 MP against the transparent PNG cut-out (one `make bench` step).

`bench/.venv/bin/python -m bench.run --only options --photos ../shared/eval` prints, for each option
(remove.bg's `format=jpg`, webp, zip, `bg_color`, a background image, the drop shadow,
crop, scale), the median seconds of `pipeline.cut` over the benchmark photos and its
ratio to the PNG cut-out of the same photos. Needs only the service's own environment.
"""
from __future__ import annotations

import io
import statistics
import time

from PIL import Image

from . import engines, photos


def option_sets(background: bytes) -> dict[str, dict]:
    """The `pipeline.Options` keyword arguments of each measured option."""
    from cutout.engine import geometry

    return {
        "png (cut-out)": {},
        "jpg": {"format": "jpg"},
        "webp": {"format": "webp"},
        "zip": {"format": "zip"},
        "bg_color, png": {"background_color": (40, 120, 200, 255)},
        "bg_color, jpg": {"background_color": (40, 120, 200, 255), "format": "jpg"},
        "bg_image, jpg": {"background_image": background, "format": "jpg"},
        "shadow, png": {"mode": "fg-image-shadow"},
        "crop, png": {"crop": True, "crop_margin": geometry.NO_MARGIN},
        "scale 0.8, png": {"scale": 0.8, "position": (0.5, 0.5)},
        "mask (fg-mask)": {"mode": "fg-mask"},
    }


def measure(photo_list: list[photos.Photo], rounds: int, model_name: str = "u2netp-int8"
            ) -> dict[str, dict[str, float]]:
    """{option: {"seconds": median, "ratio": to the PNG cut-out}} over photos x rounds."""
    from cutout.config import Settings
    from cutout.engine import images, model, pipeline

    seg = model.load(Settings(model_name=model_name, threads=2,
                              model_path=str(engines.MODEL_DIR / f"{model_name}.onnx")))
    limits = images.Limits(100, 2**30)
    back = io.BytesIO()
    Image.new("RGB", (1600, 1200), (90, 160, 90)).save(back, "JPEG")
    sets = {name: pipeline.Options(**kw) for name, kw in option_sets(back.getvalue()).items()}
    for photo in photo_list:  # warm-up: first touches of every code path
        pipeline.cut(photo.data, sets["png (cut-out)"], segmenter=seg, limits=limits)
    times: dict[str, list[float]] = {name: [] for name in sets}
    for _ in range(rounds):
        for photo in photo_list:
            for name, options in sets.items():  # interleaved, so load changes hit every option
                started = time.perf_counter()
                pipeline.cut(photo.data, options, segmenter=seg, limits=limits)
                times[name].append(time.perf_counter() - started)
    base = statistics.median(times["png (cut-out)"])
    return {name: {"seconds": round(statistics.median(t), 3), "ratio": round(statistics.median(t) / base, 2)}
            for name, t in times.items()}
