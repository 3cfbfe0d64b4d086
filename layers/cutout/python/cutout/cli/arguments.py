"""The arguments of `cutout remove` and `cutout serve`: names, help text, examples.

Option names are the engine's (`pipeline.Options`, docs/cli.md lists them beside
each HTTP dialect's and rembg's); values are read by the engine's own parsers
when the options are built (`library.options`), so they mean what they mean over HTTP.
"""
from __future__ import annotations

import argparse
import os

from typing import Any, Callable

from .. import numerals
from ..engine import pipeline, tiers

REMOVE_EXAMPLES = """\
examples:
  cutout remove photo.jpg                        # photo.cutout.png beside it
  cutout remove photo.jpg -o product.webp        # a file to a file; the extension picks the format
  cutout remove shots/ -o out/                   # a folder to a folder (subfolders kept)
  cutout remove "shots/**/*.jpg" -o out/ --background-color white --format jpg
  cat in.jpg | cutout remove - -o - > out.png    # stdin to stdout
  cutout remove --watch uploads/ -o cutouts/     # cut out each new image as it arrives
  cutout remove -m quality --mode fg-mask a.jpg  # the large model, the alpha matte only

Results are named <name>.cutout.<format> (.shadow for fg-image-shadow, .mask for
fg-mask); folders and globs skip such files, so results are never cut out again.
Exit status: 0 all done, 1 some files failed (the others were done), 2 usage errors.
Full reference: docs/cli.md; switching from rembg: docs/rembg.md.
"""

SERVE_EXAMPLES = """\
examples:
  cutout serve                                   # http://127.0.0.1:8000 (what `make run` runs)
  cutout serve --host 0.0.0.0 --port 9000
  cutout serve --workers 4                       # 4 processes, each its own model, one store

Settings come from CUTOUT_* environment variables (docs/configuration.md).
"""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Examples kept as written, defaults shown: once, and only where they say something (not
    None or a flag's False, nor where the help already words its default)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_remove(commands: "argparse._SubParsersAction[Any]") -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = commands.add_parser(
        "remove", help="cut out images: files, folders, globs, stdin; --watch for a folder",
        description="Remove the background of images on this machine (no server, no account).",
        epilog=REMOVE_EXAMPLES, formatter_class=_Formatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders (every image under them), quoted globs "
                        "(\"shots/**/*.jpg\"), or - for standard input")
    p.add_argument("-o", "--output", metavar="OUTPUT",
                   help="a file (one input; its extension picks the format), a folder, or - for "
                        "standard output (default: results beside the inputs; stdout for -)")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after the inputs, keep watching the input folders and cut out each new "
                        "or changed image once it is completely written; Ctrl+C stops")
    p.add_argument("--settle", type=float, default=1.0, metavar="SECONDS",
                   help="--watch: how long a file must stay unchanged before it is read")
    engine = p.add_argument_group("what to make (the engine's options; docs/cli.md)")
    engine.add_argument("-m", "--model", choices=tuple(tiers.TIERS), default=tiers.DEFAULT_TIER,
                        help="quality tier: fast (u2netp-int8), fast-tta (a second pass on the "
                             "subject's close-up), quality (u2net-int8), quality-tta")
    engine.add_argument("--mode", choices=pipeline.MODES, default="fg-image",
                        help="fg-image: the cut-out; fg-image-shadow: on a drop shadow; "
                             "fg-mask: the alpha matte alone")
    engine.add_argument("-f", "--format", choices=pipeline.FORMATS, default=None,
                        help="png, jpg, webp, zip (color.jpg + alpha.png), or auto (PNG when "
                             "transparent, else JPEG); default: OUTPUT's extension, else png")
    engine.add_argument("--background-color", metavar="COLOUR",
                        help="put a colour behind the subject: hex (ffffff, #fff, 81d4fa77) or a "
                             "CSS name (white)")
    engine.add_argument("--background-image", metavar="FILE",
                        help="put an image behind the subject (scaled to cover)")
    engine.add_argument("--max-megapixels", type=float, metavar="MP",
                        help="downscale the result to at most this many megapixels (aspect kept)")
    engine.add_argument("--crop", action="store_true",
                        help="crop to the subject (Adobe's trim)")
    engine.add_argument("--crop-margin", metavar="MARGIN",
                        help="with --crop: space around the subject, 1, 2 or 4 CSS-style lengths "
                             "in px or %% (\"20px\", \"5%% 10%%\")")
    engine.add_argument("--roi", metavar="\"X1 Y1 X2 Y2\"",
                        help="only this region may hold the subject, in px or %% "
                             "(\"10%% 0 90%% 100%%\")")
    engine.add_argument("--scale", metavar="SCALE",
                        help="the subject's size on the canvas: 10%%..100%%, or original")
    engine.add_argument("--position", metavar="POSITION",
                        help="where the subject goes: center, \"X%% Y%%\", or original")
    engine.add_argument("--shadow-opacity", type=float, default=0.5, metavar="0..1",
                        help="fg-image-shadow: the shadow's opacity")
    engine.add_argument("--decontaminate", type=float, default=1.0, metavar="0..1",
                        help="colour decontamination of the soft edge: 0 keeps the photo's "
                             "colours, 1 removes the old background's")
    engine.add_argument("--refine-edges", action="store_true",
                        help="refit the matte's undecided band to the photo's colour edges")
    engine.add_argument("--require-foreground", action="store_true",
                        help="fail a file where no subject is found instead of writing an empty cut-out")
    engine.add_argument("--png-level", type=int, default=None, metavar="0..3",
                        help="PNG compression level (default: CUTOUT_PNG_COMPRESS_LEVEL, 1)")
    run = p.add_argument_group("running")
    run.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                     help="images processed at once (default: one per CPU, as memory allows)")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="print only errors: no result paths, progress bar or summary")
    return p


def _whole(low: int, high: int | None = None, also: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (to `high`), in ASCII digits; `also` names
    where else the value may come from, for the message."""
    wanted = f"from {low} to {high}" if high is not None else f"of {low} or more"

    def parse(raw: str) -> int:
        try:
            number = numerals.integer(raw.strip())
        except ValueError:
            number = low - 1
        if number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {wanted}{also}, not {raw!r}")
        return number

    return parse


_port = _whole(1, 65535, also=" (PORT too)")  # --port or the PORT variable


def add_serve(commands: "argparse._SubParsersAction[Any]") -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = commands.add_parser(
        "serve", help="serve the HTTP API (every dialect) with uvicorn",
        description="Serve Cutout's HTTP API on this machine.",
        epilog=SERVE_EXAMPLES, formatter_class=_Formatter)
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                   help="address to listen on (env HOST)")
    # A string default: argparse converts it with `type` only when `serve` runs, so a PORT that
    # is not a port is serve's usage error (exit 2), never a crash of every other command.
    p.add_argument("--port", type=_port, default=os.environ.get("PORT") or "8000",
                   help="port to listen on (env PORT)")
    p.add_argument("--workers", type=_whole(1), default=1, metavar="N",
                   help="server processes, each with its own model and the CPUs shared out; "
                        "they share one store and results folder")
    return p
