"""The `cutout` command: cut out local images, serve the API, score quality, manage keys."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  cutout remove photo.jpg -o photo.png           # one image (docs/cli.md)
  cutout remove shots/ -o out/ --background-color white --format jpg
  cutout serve                                   # the HTTP API on http://127.0.0.1:8000
  cutout remove --help                           # every option of a command

Documentation: docs/cli.md (this command), docs/library.md (from cutout import remove).
"""


def parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import admin, arguments, evaluation, listing, openapi, remove, serve

    root = argparse.ArgumentParser(prog="cutout", description=__doc__, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("-V", "--version", action="version", version=f"cutout {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    arguments.add_remove(commands).set_defaults(run=remove.run)
    arguments.add_serve(commands).set_defaults(run=serve.run)

    p = commands.add_parser("eval", help="score quality on a folder with images/, masks/, manifest.csv")
    p.add_argument("dataset", type=Path, help="a folder with images/, masks/ and manifest.csv")
    p.add_argument("--spill", action="store_true",
                   help="also composite the subjects on saturated colours and measure the colour spill")
    p.add_argument("--limit", type=int, default=None, help="spill: use only the first N pairs")
    p.set_defaults(run=evaluation.run)

    admin.add_commands(commands)
    openapi.add_commands(commands)
    listing.add_command(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    from ..config import SettingError
    from ..engine.model import ModelNotFound
    from ..errors import CutoutError, InputError
    from .remove import UsageError

    root = parser()
    args = root.parse_args(argv)
    try:
        return int(args.run(args))
    except SettingError as exc:  # a bad CUTOUT_* value: say which, without a traceback
        print(f"cutout: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"cutout {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModelNotFound as exc:  # a checkout whose models are not built: say where and how
        print(f"cutout {args.command}: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        # a path the user gave that cannot be read or written (e.g. `cutout openapi no/such/dir/x.json`)
        print(f"cutout {args.command}: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 1
    except CutoutError as exc:  # e.g. an option the engine refuses, before any file is read
        print(f"cutout {args.command}: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, InputError) else 1
    except KeyboardInterrupt:
        print("cutout: interrupted", file=sys.stderr)
        return 130
