"""Peak memory of one request by image size: what a Lambda function's memory must cover.

Each size runs in a fresh process (model loaded, one warm-up, then one cut of a
JPEG photo upscaled to that many megapixels) and reports the process's peak RSS.
Usage: .venv/bin/python bench/peak_memory.py [--sizes 1 4 12 25] [--mode fg-image]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import resource
import subprocess
import sys


def child(megapixels: float, mode: str) -> None:
    import importlib.util
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from cutout.config import settings
    from cutout.engine import images, model, pipeline

    segmenter = model.load(settings())
    # scikit-image's sample photo, read as a file so that importing skimage does not count
    skimage_dir = Path(importlib.util.find_spec("skimage").submodule_search_locations[0])
    photo = Image.open(skimage_dir / "data" / "astronaut.png").convert("RGB")
    side = int(math.sqrt(megapixels * 1_000_000))
    buf = io.BytesIO()
    photo.resize((side, side), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    del photo, buf
    warm = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(warm, "PNG")
    limits = images.Limits(max_megapixels=100, max_bytes=1 << 30)
    pipeline.cut(warm.getvalue(), pipeline.Options(mode=mode), segmenter=segmenter, limits=limits)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = pipeline.cut(data, pipeline.Options(mode=mode), segmenter=segmenter, limits=limits)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"megapixels": side * side / 1e6, "input_bytes": len(data), "output_bytes": len(result.data),
                      "baseline_mb": baseline / 1024, "peak_mb": peak / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 12, 25])
    parser.add_argument("--mode", default="fg-image")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mode)
        return
    print(f"mode {args.mode}\n")
    print("| megapixels | input | output | RSS after model load | peak RSS |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(size), "--mode", args.mode],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {row['megapixels']:.1f} | {row['input_bytes'] / 1e6:.1f} MB | {row['output_bytes'] / 1e6:.1f} MB "
              f"| {row['baseline_mb']:.0f} MB | {row['peak_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
