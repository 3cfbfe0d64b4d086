"""Which files `cutout remove` reads and where each result goes.

Inputs: files as named, folders (every image under them, recursively) and globs
(`"shots/*.jpg"`, `"**/*.png"`, expanded here when the shell did not). Results are
named `<stem><suffix>.<format>`, the suffix saying what the result is (`.cutout`,
`.shadow`, `.mask`), beside the input or in the output folder (keeping the input's
subfolders). The rule the docs state (docs/cli.md, "Names"):

- results never collide: inputs that would share one keep their extension
  (`photo.jpg.cutout.png`, `photo.png.cutout.png`), then a number;
- results are never taken as inputs again: a folder or glob skips files named
  like a result (`*.cutout.png`, `*.shadow.webp`, `*.mask.png`, ...) and the
  output folder; a file named on the command line is always read.
"""
from __future__ import annotations

import glob
import re
from collections import Counter
from pathlib import Path

from ..engine import formats

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
                              ".heic", ".heif", ".hif", ".avif"})
SUFFIXES = {"fg-image": ".cutout", "fg-image-shadow": ".shadow", "fg-mask": ".mask"}
# The formats a cut-out is written in, by file extension and alias (`.jpeg`): engine/formats.py.
FORMAT_OF = {f".{ext}": row.name for row in formats.FORMATS if row.cutout
             for ext in (row.extension, *row.aliases)}
_RESULT = re.compile(r"\.(%s)\.(%s)$" % ("|".join(s[1:] for s in SUFFIXES.values()),
                                         "|".join(e[1:] for e in FORMAT_OF)), re.IGNORECASE)
_GLOB = re.compile(r"[*?[]")


class InputNotFound(Exception):
    """A named file, folder or glob that matches nothing."""


def is_result(path: Path) -> bool:
    """Named like a result of `cutout remove` (`photo.cutout.png`, `a.jpg.mask.png`)."""
    return bool(_RESULT.search(path.name))


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def images_under(folder: Path, skip: Path | None = None) -> list[Path]:
    """Every image file under `folder` (sorted), less results and anything under `skip`."""
    skip = skip.resolve() if skip is not None else None
    found = []
    for path in folder.rglob("*"):
        if not is_image_name(path) or is_result(path) or path.is_dir():
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        found.append(path)
    return sorted(found)


def expand(names: list[str], skip: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, the folder its result keeps subfolders relative to) for each input name.

    A folder contributes its images; a glob that is not an existing path its
    matching images; a file itself. Raises InputNotFound.
    """
    found: list[tuple[Path, Path]] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found.extend((file, path) for file in images_under(path, skip))
        elif path.exists() or path.is_symlink():
            found.append((path, path.parent))
        elif _GLOB.search(name):
            matches = sorted(Path(m) for m in glob.glob(name, recursive=True))
            files = [m for m in matches if m.is_file() and is_image_name(m) and not is_result(m)
                     and not (skip is not None and m.resolve().is_relative_to(skip.resolve()))]
            if not matches:
                raise InputNotFound(f"{name}: no file matches")
            found.extend((file, file.parent) for file in files)
        else:
            raise InputNotFound(f"{name}: no such file or folder")
    unique: dict[Path, tuple[Path, Path]] = {}
    for file, root in found:
        unique.setdefault(file.absolute(), (file, root))  # named twice (a file and its folder): once
    return list(unique.values())


def destinations(inputs: list[tuple[Path, Path]], out: Path | None, mode: str) -> list[Path]:
    """One result path per input, without the format's extension (added once it is known).

    `<stem><suffix>` beside the input, or under `out` at the input's place relative
    to its root. Inputs that would share one keep their extension, then a number
    (photo.png.2.cutout), so no result overwrites another.
    """
    suffix = SUFFIXES[mode]

    def folder(source: Path, root: Path) -> Path:
        if out is None:
            return source.parent
        return out / source.parent.relative_to(root) if source.is_relative_to(root) else out

    plain = [folder(s, r) / (s.stem + suffix) for s, r in inputs]
    shared = {path for path, count in Counter(plain).items() if count > 1}
    taken = set(plain) - shared
    chosen: list[Path] = []
    for (source, _root), path in zip(inputs, plain):
        if path in shared:
            path, number = path.with_name(source.name + suffix), 2
            while path in taken:
                path, number = path.with_name(f"{source.name}.{number}{suffix}"), number + 1
            taken.add(path)
        chosen.append(path)
    return chosen


def with_format(base: Path, fmt: str) -> Path:
    """`base` plus the extension of the result's format (`photo.cutout` -> `photo.cutout.png`)."""
    return base.with_name(f"{base.name}.{formats.get(fmt).extension}")
