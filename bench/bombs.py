"""Peak RSS growth and time of decoding each hostile file (issue 11), in a fresh process each.

    .venv/bin/python bench/bombs.py                      # this checkout
    .venv/bin/python bench/bombs.py --package DIR        # another checkout's layers/cutout/python

DIR is e.g. an older commit unpacked with
`git archive <commit> layers/cutout/python | tar -x -C /tmp/before`, for the
before/after table in the report. The files are the test suite's
(tests/hostile_images.py); tests/rss_probe.py measures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile_images as hostile  # noqa: E402

FILES = {
    "PNG 1-bit 60000x60000": lambda: hostile.png_bomb(60000, 60000, 1, 0),
    "PNG 8-bit 30000x30000": lambda: hostile.png_bomb(30000, 30000, 8, 0),
    "APNG RGB 20000x20000": lambda: hostile.png_bomb(20000, 20000, 8, 2, animated=True),
    "GIF LZW 30000x30000": lambda: hostile.gif_bomb(30000, 30000),
    "TIFF deflate 30000x30000": lambda: hostile.tiff_bomb(30000, 30000),
    "TIFF LZW 30000x30000": lambda: hostile.tiff_bomb(30000, 30000, "lzw"),
    "WebP VP8L 16383x16383": lambda: hostile.webp_bomb(16383, 16383),
    "BMP RLE8 20000x20000": lambda: hostile.bmp_bomb(20000, 20000),
    "JPEG 10000x10000": lambda: hostile.jpeg_bomb(10000, 10000),
    "JPEG 2000x2000, last scan x2000": lambda: hostile.with_last_scan_repeated(hostile.progressive(), 2000),
    "PNG 4x4 after 14 MB of zTXt chunks": hostile.png_text_bomb,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=ROOT / "layers/cutout/python")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(args.package))
    print("| file | bytes | answer | peak RSS growth | time |\n|---|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name, build in FILES.items():
            path = Path(folder) / "file"
            path.write_bytes(build())
            out = subprocess.run([sys.executable, str(ROOT / "tests/rss_probe.py"), str(path)],
                                 capture_output=True, text=True, env=env, timeout=600)
            report = json.loads(out.stdout)
            print(f"| {name} | {path.stat().st_size:,} | {report['code']} | "
                  f"{report['growth_mb']:,.1f} MB | {report['seconds']:.3f} s |", flush=True)


if __name__ == "__main__":
    main()
