"""The `cutout` command: serve the API, cut out local files, score quality."""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
              ".heic", ".heif", ".hif", ".avif"}


def _inputs(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.suffix.lower() in EXTENSIONS and not p.is_dir()))
        elif path.exists():
            found.append(path)
        else:
            raise SystemExit(f"cutout: {path}: no such file or folder")
    return found


def _destinations(files: list[Path], out: Path | None, mode: str) -> list[Path]:
    """One result path per input: `<stem>.cutout.png` (`.mask.png` for fg-mask) beside
    it or in `out`. Inputs that would share one (photo.jpg and photo.png, or one name in
    two subfolders with --output) keep their extension (photo.jpg.cutout.png), then a
    number (photo.png.2.cutout.png), so no result overwrites another."""
    suffix = ".mask.png" if mode == "fg-mask" else ".cutout.png"
    plain = [(out or source.parent) / (source.stem + suffix) for source in files]
    shared = {path for path, count in Counter(plain).items() if count > 1}
    taken = set(plain) - shared
    chosen: list[Path] = []
    for source, path in zip(files, plain):
        if path in shared:
            path, number = path.with_name(source.name + suffix), 2
            while path in taken:
                path, number = path.with_name(f"{source.name}.{number}{suffix}"), number + 1
            taken.add(path)
        chosen.append(path)
    return chosen


def remove(args: argparse.Namespace) -> int:
    """Cut out files or folders; results beside the inputs or in --output."""
    from ..engine import images, model, pipeline
    from ..config import settings
    from ..errors import CutoutError

    files = _inputs(args.inputs)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
    cfg = settings()
    segmenter = model.load(cfg)
    limits = images.Limits(cfg.max_megapixels, cfg.max_bytes)
    options = pipeline.Options(mode=args.mode, png_level=cfg.png_compress_level)
    progress: Iterable[tuple[Path, Path]] = list(zip(files, _destinations(files, args.output, args.mode)))
    if len(files) > 3 and not args.quiet:
        from tqdm import tqdm

        progress = tqdm(progress, unit="image")
    failures = 0
    for source, target in progress:
        try:
            result = pipeline.cut(source.read_bytes(), options, segmenter=segmenter, limits=limits)
        except CutoutError as exc:
            failures += 1
            print(f"cutout: {source}: {exc.message}", file=sys.stderr)
            continue
        except OSError as exc:  # unreadable: permissions, a dangling link, a file gone meanwhile
            failures += 1
            print(f"cutout: {source}: {exc.strerror or exc}", file=sys.stderr)
            continue
        target.write_bytes(result.data)
        if len(files) <= 3 and not args.quiet:
            print(target)
    return 1 if failures else 0


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..config import settings
    from ..web import create_app, serve as web_serve

    uvicorn.Server(web_serve.config(create_app(), settings(), args.host, args.port)).run()
    return 0


def parser() -> argparse.ArgumentParser:
    from ..engine.pipeline import MODES
    from . import admin, evaluation, openapi

    root = argparse.ArgumentParser(prog="cutout", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    p = commands.add_parser("remove", help="cut out local images or folders")
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("-o", "--output", type=Path, help="folder for results (default: beside inputs)")
    p.add_argument("--mode", choices=MODES, default="fg-image")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=remove)

    p = commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.set_defaults(run=serve)

    p = commands.add_parser("eval", help="score quality on a folder with images/, masks/, manifest.csv")
    p.add_argument("dataset", type=Path)
    p.add_argument("--spill", action="store_true",
                   help="also composite the subjects on saturated colours and measure the colour spill")
    p.add_argument("--limit", type=int, default=None, help="spill: use only the first N pairs")
    p.set_defaults(run=evaluation.run)

    admin.add_commands(commands)
    openapi.add_commands(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    from ..config import SettingError

    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SettingError as exc:  # a bad CUTOUT_* value: say which, without a traceback
        print(f"cutout: {exc}", file=sys.stderr)
        return 2

