"""A folder of photos, command against command: `cutout remove IN -o OUT` and `rembg p IN OUT`.

100 JPEGs of about 1 MP (the shared sets' first photos, resized, each a different
crop so no two files are alike) in a temporary folder; each command runs as a user
runs it, a fresh process from start to exit (model load included), on every CPU,
alternating, `rounds` times. rembg's `p` runs from bench/.venv with `-m u2netp` on
the same verified u2netp.onnx (U2NET_HOME); Cutout's `remove` from the service's
.venv with its defaults (u2netp-int8, PNG). Images per second = files / wall seconds.

    bench/.venv/bin/python -m bench.folder --photos ../shared/eval   # or: make bench (step 8)
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from . import photos
from .engines import MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]
COUNT, MEGAPIXELS = 100, 1.0


def make_folder(sources: list[Path], folder: Path, count: int = COUNT) -> None:
    """`count` JPEGs of about 1 MP, each a different crop of one of the `sources`."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        img = Image.open(sources[index % len(sources)]).convert("RGB")
        shift = (index // len(sources)) % 10 / 100  # 0..9% trimmed off the left and top
        img = img.crop((int(img.width * shift), int(img.height * shift), img.width, img.height))
        one = photos.at_megapixels_image(img, MEGAPIXELS)
        out = io.BytesIO()
        one.save(out, "JPEG", quality=photos.JPEG_QUALITY)
        (folder / f"photo{index:03d}.jpg").write_bytes(out.getvalue())


def commands(cutout_bin: Path, rembg_bin: Path, inputs: Path, out: Path) -> dict[str, list[str]]:
    return {
        "cutout remove": [str(cutout_bin), "remove", str(inputs), "-o", str(out / "cutout"), "-q"],
        "rembg p": [str(rembg_bin), "p", "-m", "u2netp", str(inputs), str(out / "rembg")],
    }


def measure(sources: list[Path], rounds: int, cutout_bin: Path, rembg_bin: Path,
            count: int = COUNT) -> dict:
    """Seconds per run of each command and images/s, alternating; checks every file was written."""
    env = {**os.environ, "U2NET_HOME": str(MODEL_DIR)}
    seconds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "photos"
        make_folder(sources, inputs, count)
        for _ in range(rounds):
            for name, argv in commands(cutout_bin, rembg_bin, inputs, Path(tmp)).items():
                target = Path(argv[-1] if name == "rembg p" else argv[argv.index("-o") + 1])
                shutil.rmtree(target, ignore_errors=True)
                started = time.perf_counter()
                subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=ROOT)
                seconds.setdefault(name, []).append(time.perf_counter() - started)
                written = [p for p in target.rglob("*.png")]
                if len(written) != count:
                    raise SystemExit(f"bench: {name} wrote {len(written)} of {count} files")
    result = {name: {"seconds": runs, "images_per_second": count / statistics.median(runs)}
              for name, runs in seconds.items()}
    result["ratio"] = result["cutout remove"]["images_per_second"] / result["rembg p"]["images_per_second"]
    result["images"], result["megapixels"] = count, MEGAPIXELS
    return result


def default_bins() -> tuple[Path, Path]:
    return ROOT / ".venv" / "bin" / "cutout", Path(sys.executable).parent / "rembg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cutout_bin, rembg_bin = default_bins()
    r = measure(photos.sources(args.photos), args.rounds, cutout_bin, rembg_bin)
    for name in ("cutout remove", "rembg p"):
        runs = ", ".join(f"{s:.1f}" for s in r[name]["seconds"])
        print(f"{name:14s} {r[name]['images_per_second']:6.2f} images/s  (runs: {runs} s)")
    print(f"cutout remove / rembg p: {r['ratio']:.2f}x")


if __name__ == "__main__":
    main()
