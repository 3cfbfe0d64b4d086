"""`cutout remove`: files to files, folders to folders, stdin to stdout; `--watch` hands over to watch.py.

This module decides where bytes come from and go to; the cut-out itself is the
engine's (`library.Session.cut`), its options built by `library.options`.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import CutoutError
from . import batch, paths

if TYPE_CHECKING:
    from ..config import Settings
    from ..engine.pipeline import Options
    from ..library import Session


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


def build_options(args: argparse.Namespace, fmt: str, png_level: int) -> Options:
    """The engine's Options from the command line (InvalidOption for a bad value)."""
    from ..library import options

    background = None
    if args.background_image:
        try:
            background = Path(args.background_image).read_bytes()
        except OSError as exc:
            raise UsageError(f"--background-image {args.background_image}: "
                             f"{exc.strerror or exc}") from exc
    return options(
        model=args.model, mode=args.mode, format=fmt, png_level=png_level,
        shadow_opacity=args.shadow_opacity, max_megapixels=args.max_megapixels,
        background_color=args.background_color, background_image=background, roi=args.roi,
        crop=args.crop, crop_margin=args.crop_margin, scale=args.scale, position=args.position,
        require_foreground=args.require_foreground, decontaminate=args.decontaminate,
        refine_edges=args.refine_edges)


def output_kind(args: argparse.Namespace) -> str:
    """`stdout`, `file` or `folder` (or `beside`: no -o) for this command line."""
    out = args.output
    single = len(args.inputs) == 1 and (args.inputs[0] == "-" or Path(args.inputs[0]).is_file())
    if out == "-" or (out is None and args.inputs == ["-"]):
        return "stdout"
    if out is None:
        return "beside"
    target = Path(out)
    if single and not args.watch and not target.is_dir() and not out.endswith(("/", os.sep)) \
            and (target.suffix or args.format):
        return "file"
    return "folder"


def file_format(args: argparse.Namespace, kind: str) -> str:
    """The output format: --format, else the output file's extension, else png."""
    if args.format:
        return str(args.format)
    if kind == "file":
        suffix = Path(args.output).suffix.lower()
        if suffix not in paths.FORMAT_OF:
            known = ", ".join(sorted(paths.FORMAT_OF))
            raise UsageError(f"{args.output}: cannot tell the format from {suffix!r} "
                             f"(known: {known}); add --format")
        return paths.FORMAT_OF[suffix]
    return "png"


def read_stdin(max_bytes: int) -> bytes:
    """Standard input, at most `max_bytes` + 1 bytes (the engine refuses more, by size)."""
    return sys.stdin.buffer.read(max_bytes + 1)


def write(path: Path, data: bytes) -> None:
    """Write through a hidden temporary file and rename: a watcher never sees half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def session_for(args: argparse.Namespace, cfg: Settings, files: list[Path]) -> tuple[Session, int]:
    """The library session the batch shares, and how many cut-outs run at once."""
    from ..engine.cpus import available_cpus
    from ..library import new_session

    count = len(files) if not args.watch else max(len(files), available_cpus())  # more will come
    workers, threads = batch.plan(count, batch.largest_megapixels(files[:1000]),
                                  memory=batch.available_memory(), workers=args.jobs)
    if cfg.threads:  # CUTOUT_THREADS set: each cut-out gets that many
        threads = cfg.threads
    return new_session(args.model, settings=replace(cfg, threads=threads)), workers


def run(args: argparse.Namespace) -> int:
    from ..config import settings

    cfg = settings()
    kind = output_kind(args)
    fmt = file_format(args, kind)
    opts = build_options(args, fmt, cfg.png_compress_level if args.png_level is None else args.png_level)
    if "-" in args.inputs and (len(args.inputs) > 1 or kind not in ("stdout", "file")):
        raise UsageError("- (standard input) is one image: give it alone, with -o FILE or -o -")
    if kind == "stdout" or args.inputs == ["-"]:
        return single(args, cfg, opts, None if kind == "stdout" else Path(args.output))
    if args.watch and kind == "beside" and any(not Path(i).is_dir() for i in args.inputs):
        raise UsageError("--watch watches folders: name folders to watch")
    out = Path(args.output) if kind == "folder" else None
    try:
        inputs = paths.expand(args.inputs, skip=out)
    except paths.InputNotFound as exc:
        raise UsageError(str(exc)) from exc
    files = [file for file, _root in inputs]
    if kind == "file":
        targets = [Path(args.output)]
        if targets[0].absolute() == files[0].absolute():
            raise UsageError(f"{args.output}: the output would overwrite its input")
    else:
        targets = paths.destinations(inputs, out, opts.mode)
    if not files and not args.watch:
        if not args.quiet:
            print(f"cutout: no images in {', '.join(args.inputs)}", file=sys.stderr)
        return 0
    session, workers = session_for(args, cfg, files)
    quiet = args.quiet

    def task(source: Path, target: Path) -> Callable[[], str]:
        def work() -> str:
            result = session.cut(source.read_bytes(), opts)
            written = target if kind == "file" else paths.with_format(target, result.format)
            write(written, result.data)
            return str(written)
        return work

    if args.watch:
        from . import watch

        return watch.run(args, inputs, targets, task, workers, out)
    summary = batch.run([(str(s), task(s, t)) for s, t in zip(files, targets)], workers,
                        progress=not quiet and len(files) > 1 and batch.is_terminal(sys.stderr),
                        echo=None if quiet else print)
    if not quiet and len(files) != 1:
        print(summary.line(), file=sys.stderr)
    return 1 if summary.failed else 0


def single(args: argparse.Namespace, cfg: Settings, opts: Options, target: Path | None) -> int:
    """One image from standard input or a file, to standard output (`target` None) or a file."""
    if len(args.inputs) != 1:
        raise UsageError("standard output takes one image: give one input, or -o FOLDER")
    if target is None and batch.is_terminal(sys.stdout):
        raise UsageError("standard output is a terminal: redirect it (> out.png) or use -o FILE")
    if args.watch:
        raise UsageError("--watch watches folders, not a stream")
    from ..library import new_session

    name = args.inputs[0]
    try:
        data = read_stdin(cfg.max_bytes) if name == "-" else Path(name).read_bytes()
        result = new_session(args.model, settings=cfg).cut(data, opts)
    except (CutoutError, OSError) as exc:
        print(f"cutout: {'stdin' if name == '-' else name}: {batch.failure(name, exc)}", file=sys.stderr)
        return 1
    if target is not None:
        write(target, result.data)
        if not args.quiet:
            print(target)
        return 0
    sys.stdout.buffer.write(result.data)
    sys.stdout.buffer.flush()
    return 0
