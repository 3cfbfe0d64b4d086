"""Benchmark inputs: real photos re-encoded as JPEG at fixed megapixel counts."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

SIZES_MP = (0.25, 1.0, 4.0, 12.0)
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Photo:
    name: str
    megapixels: float
    width: int
    height: int
    data: bytes  # JPEG bytes


def sources(folder: Path, count: int = 3) -> list[Path]:
    """A few photos: the first of each dataset's manifest (or any JPEGs) under `folder`."""
    found: list[Path] = []
    for manifest in sorted(folder.glob("*/manifest.csv")):
        with open(manifest, newline="") as handle:
            row = next(csv.DictReader(handle), None)
        if row:
            found.append(manifest.parent / row["image"])
    if not found:
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not found:
        raise SystemExit(f"bench: no photos under {folder}")
    return found[:count]


def at_megapixels_image(img: Image.Image, megapixels: float) -> Image.Image:
    """`img` resized (LANCZOS, up or down) to about `megapixels`."""
    scale = math.sqrt(megapixels * 1e6 / (img.width * img.height))
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def at_megapixels(path: Path, megapixels: float) -> Photo:
    """The photo resized (LANCZOS, up or down) to about `megapixels`, as a JPEG."""
    resized = at_megapixels_image(Image.open(path).convert("RGB"), megapixels)
    out = io.BytesIO()
    resized.save(out, "JPEG", quality=JPEG_QUALITY)
    return Photo(path.stem, megapixels, resized.width, resized.height, out.getvalue())


def photo_sets(folder: Path, count: int = 3) -> dict[float, list[Photo]]:
    paths = sources(folder, count)
    return {mp: [at_megapixels(p, mp) for p in paths] for mp in SIZES_MP}
