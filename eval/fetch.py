"""`make eval-data`: the public evaluation sets, downloaded, checked and laid out for `make eval`.

The quality figures (docs/quality.md) are measured on three public sets of
photos with hand-made foreground masks. eval/datasets.json pins each one: the
public repository and commit it comes from, the path of every file there, and
the SHA-256 every file must have. This script downloads them (from
raw.githubusercontent.com, or from `--source`, a mirror or a local copy served
over HTTP with the same paths), checks each file, and writes

    <out>/README.md               the sets, their sources and rembg's reference figures
    <out>/<set>/manifest.csv      name, image, mask, width, height, fg_fraction
    <out>/<set>/images/, masks/   the photos and the truth masks (0 background, 255 subject)
    <out>/<set>/SOURCE.txt        repository, commit, paths, licence

Files copied unchanged are checked by the SHA-256 of their bytes. Files the
layout converts (GrabCut's BMPs to PNG, DAVIS's instance ids and PASCAL-S's
viewer votes to binary masks) are checked by the SHA-256 of their decoded
pixels (`pixels_sha256`: mode, size and samples), which the conversion keeps
whatever PNG encoder wrote them. A file that does not match is not written.

    .venv/bin/python eval/fetch.py --out build/eval
    .venv/bin/python eval/fetch.py --out build/eval --source http://127.0.0.1:8765 --sets grabcut

Runs again skip files already present and correct. Without network it says so
in one line and exits 1.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "datasets.json"
TIMEOUT_S = 30.0
WORKERS = 8


class Unreachable(Exception):
    """The source could not be reached at all (no network, DNS, refused connection)."""


class Mismatch(Exception):
    """A file's SHA-256 is not the pinned one."""


def pixels_sha256(image: Image.Image) -> str:
    """SHA-256 of an image's decoded pixels: "<mode> <width>x<height>\\n" then the raw samples."""
    digest = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def convert(kind: str, data: bytes) -> Image.Image:
    """A downloaded (or already laid-out) file turned into what the layout holds.

    rgb-png: any image as 8-bit RGB; grey-png: as 8-bit grey, values kept;
    nonzero-255: instance ids (palette indices) to a binary mask, any object 255;
    threshold-128: viewer votes (k/12*255) to a binary mask, 6 of 12 or more 255.
    """
    image = Image.open(io.BytesIO(data))
    image.load()
    if kind == "rgb-png":
        return image.convert("RGB")
    if kind == "grey-png":
        return image.convert("L")
    if kind == "nonzero-255":
        ids = np.asarray(image) if image.mode in ("P", "L") else np.asarray(image.convert("L"))
        return Image.fromarray(np.where(ids > 0, 255, 0).astype(np.uint8), "L")
    if kind == "threshold-128":
        votes = np.asarray(image.convert("L"))
        return Image.fromarray(np.where(votes >= 128, 255, 0).astype(np.uint8), "L")
    raise ValueError(f"unknown conversion {kind!r}")


def encoded_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Fetcher:
    """GETs files of one repository at one commit from `source` (raw.githubusercontent.com's paths)."""

    def __init__(self, source: str) -> None:
        self.source = source.rstrip("/")

    def url(self, repository: str, commit: str, path: str) -> str:
        return f"{self.source}/{repository}/{commit}/{urllib.request.quote(path)}"

    def get(self, repository: str, commit: str, candidates: list[str]) -> tuple[str, bytes]:
        """The first of `candidates` the source has: (its path, its bytes).

        Raises Unreachable when the source cannot be reached, FileNotFoundError
        when it answers 404 for every candidate.
        """
        for path in candidates:
            url = self.url(repository, commit, path)
            try:
                with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
                    return path, answer.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    continue
                raise OSError(f"{url}: HTTP {exc.code}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                raise Unreachable(f"{self.source} is unreachable ({reason})") from None
        raise FileNotFoundError(f"none of {', '.join(candidates)} at {repository}@{commit[:12]}")


def present(target: Path, entry: dict[str, Any]) -> bool:
    """Whether `target` already holds what `entry` pins."""
    if not target.is_file():
        return False
    data = target.read_bytes()
    if "sha256" in entry:
        return hashlib.sha256(data).hexdigest() == entry["sha256"]
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except OSError:
        return False
    return pixels_sha256(image) == entry["pixels_sha256"]


def lay_out(entry: dict[str, Any], data: bytes, target: Path) -> None:
    """Check `data` against the entry's pin and write what the layout holds at `target`."""
    if "convert" not in entry:
        found = hashlib.sha256(data).hexdigest()
        if found != entry["sha256"]:
            raise Mismatch(f"{entry['to']}: SHA-256 {found}, expected {entry['sha256']}")
        out = data
    else:
        image = convert(entry["convert"], data)
        found = pixels_sha256(image)
        if found != entry["pixels_sha256"]:
            raise Mismatch(f"{entry['to']}: pixels' SHA-256 {found}, expected {entry['pixels_sha256']}")
        out = encoded_png(image)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(out)
    partial.replace(target)


def fetch_set(spec: dict[str, Any], out: Path, fetcher: Fetcher, progress: bool) -> int:
    """Download, check and lay out one set; returns the number of files written."""
    folder = out / spec["name"]
    todo = [e for e in spec["files"] if "from" in e and not present(folder / e["to"], e)]

    def one(entry: dict[str, Any]) -> None:
        _path, data = fetcher.get(spec["repository"], spec["commit"], entry["from"])
        lay_out(entry, data, folder / entry["to"])

    if todo:
        one(todo[0])  # alone first: an unreachable source is one message, before any progress bar
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), initial=1, unit="file", desc=spec["name"])
        with ThreadPoolExecutor(WORKERS) as pool:
            for _ in pool.map(one, todo[1:]):
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.close()
    # Files made from other laid-out files (PASCAL-S's binary masks from the viewer votes).
    for entry in spec["files"]:
        if "derive" in entry and not present(folder / entry["to"], entry):
            lay_out(entry, (folder / entry["derive"]).read_bytes(), folder / entry["to"])
    write_manifest(spec, folder)
    (folder / "SOURCE.txt").write_text(source_text(spec))
    return len(todo)


def write_manifest(spec: dict[str, Any], folder: Path) -> None:
    """manifest.csv: name, image, mask, width, height and the subject's share of the mask (255 only)."""
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["name", "image", "mask", "width", "height", "fg_fraction"])
        for name, image, mask in spec["pairs"]:
            truth = np.asarray(Image.open(folder / mask).convert("L"))
            height, width = truth.shape
            writer.writerow([name, image, mask, width, height, round(float((truth == 255).mean()), 4)])


def source_text(spec: dict[str, Any]) -> str:
    lines = [spec["title"], "=" * len(spec["title"]),
             f"Repository : {spec['repository']} (GitHub)",
             f"Commit     : {spec['commit']}",
             f"Paths      : {spec['paths']}",
             f"Original   : {spec['original']}",
             f"Licence    : {spec['licence']}",
             "Laid out by eval/fetch.py from eval/datasets.json; every file checked against its SHA-256."]
    return "\n".join(lines) + "\n"


def readme_text(manifest: dict[str, Any]) -> str:
    """The root README.md, with rembg's reference table in the form `cutout eval` reads."""
    rows = []
    for spec in manifest["sets"]:
        small, large = spec["reference"]["u2netp"], spec["reference"]["u2net"]
        rows.append(f"| {spec['name']} | " + " | ".join(f"{v:.4f}" for v in (*small, *large)) + " |")
    names = "\n".join(f"- {s['name']}/: {s['title']} ({s['repository']} @ {s['commit'][:12]})"
                      for s in manifest["sets"])
    return ("# Evaluation sets\n\nDownloaded by `make eval-data` (eval/fetch.py), checked against\n"
            "eval/datasets.json. Research and evaluation use only: see each SOURCE.txt.\n\n"
            f"{names}\n\n{manifest['reference_note']}\n\n"
            "| set | u2netp MAE | IoU | F | u2net MAE | IoU | F |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval/fetch.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/eval"), help="where to lay the sets out")
    parser.add_argument("--source", help="download from this base URL instead of the manifest's host")
    parser.add_argument("--sets", nargs="+", help="only these sets (default: all)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)

    manifest = json.loads(args.manifest.read_text())
    chosen = [s for s in manifest["sets"] if not args.sets or s["name"] in args.sets]
    unknown = set(args.sets or ()) - {s["name"] for s in manifest["sets"]}
    if unknown:
        print(f"eval-data: unknown set(s) {', '.join(sorted(unknown))}; known: "
              f"{', '.join(s['name'] for s in manifest['sets'])}", file=sys.stderr)
        return 2
    fetcher = Fetcher(args.source or manifest["host"])
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        for spec in chosen:
            written = fetch_set(spec, args.out, fetcher, progress=not args.quiet)
            if not args.quiet:
                print(f"{spec['name']}: {len(spec['pairs'])} pairs in {args.out / spec['name']}"
                      f" ({written} files downloaded)")
    except Unreachable as exc:
        print(f"eval-data: {exc}: no network? Nothing more was downloaded; run again when "
              f"{fetcher.source} is reachable, or pass EVAL_SOURCE=<mirror URL>.", file=sys.stderr)
        return 1
    except (Mismatch, FileNotFoundError, OSError) as exc:
        print(f"eval-data: {exc}", file=sys.stderr)
        return 1
    (args.out / "README.md").write_text(readme_text(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
