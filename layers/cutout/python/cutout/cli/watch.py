"""`cutout remove --watch`: cut out each new or changed image in the watched folders, once.

First the images already there whose result is missing or older than the image
(as `make` decides), then every image added or changed later, watched with
watchfiles (inotify, FSEvents, ReadDirectoryChangesW). A file is read once it
is completely written: when its size and modification time have stayed the same
for `--settle` seconds (a copy in progress keeps changing them); a file whose
size and time are those of its last cut-out is not cut out again. Results, the
output folder, and the hidden `.partial` files results are written through are
not watched. Ctrl+C (SIGINT) or SIGTERM stop it: running cut-outs finish, queued
ones are dropped, and the summary is printed.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, TextIO

from . import batch, paths

POLL_MS = 250  # how often pending files are looked at when nothing happens


def signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns), or None when the file is gone."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def up_to_date(source: Path, base: Path) -> bool:
    """A result of `source` (in any format) exists and is not older than it."""
    mtime = source.stat().st_mtime_ns
    for fmt in set(paths.FORMAT_OF.values()):
        result = paths.with_format(base, fmt)
        if result.exists() and result.stat().st_mtime_ns >= mtime:
            return True
    return False


class Names:
    """Result names for the watch's whole life: a file keeps its name, a newcomer whose
    plain name another file holds keeps its extension, then a number (paths.destinations)."""

    def __init__(self, inputs: list[tuple[Path, Path]], targets: list[Path], out: Path | None,
                 mode: str) -> None:
        self.out, self.mode = out, mode
        self.of = {source.absolute(): target for (source, _), target in zip(inputs, targets)}
        self.taken = set(targets)

    def __call__(self, source: Path, root: Path) -> Path:
        known = self.of.get(source.absolute())
        if known is not None:
            return known
        (plain,) = paths.destinations([(source, root)], self.out, self.mode)
        name, number = plain, 2
        if name in self.taken:
            name = plain.with_name(source.name + paths.SUFFIXES[self.mode])
        while name in self.taken:
            name, number = plain.with_name(f"{source.name}.{number}{paths.SUFFIXES[self.mode]}"), number + 1
        self.of[source.absolute()] = name
        self.taken.add(name)
        return name


def run(args: argparse.Namespace, inputs: list[tuple[Path, Path]], targets: list[Path],
        task: Callable[[Path, Path], Callable[[], str]], workers: int, out: Path | None) -> int:
    import watchfiles

    folders = [Path(name) for name in args.inputs if Path(name).is_dir()]
    skip = out.resolve() if out is not None else None
    names = Names(inputs, targets, out, args.mode)
    summary = batch.Summary()
    done: dict[Path, tuple[int, int] | None] = {}  # file -> its signature when last read
    pending: dict[Path, tuple[tuple[int, int] | None, float, Path]] = {}  # file -> (sig, since, root)

    def echo(text: str, stream: TextIO = sys.stdout) -> None:
        if not args.quiet:
            print(text, file=stream, flush=True)

    def finished(name: str, future: Future[str]) -> None:
        try:
            written = future.result()
        except Exception as exc:  # noqa: BLE001 - reported, the watch goes on
            summary.failed.append((name, batch.failure(name, exc)))
            echo(f"cutout: {name}: {batch.failure(name, exc)}", sys.stderr)
        else:
            summary.done += 1
            echo(written)

    def submit(pool: ThreadPoolExecutor, source: Path, root: Path) -> None:
        done[source.absolute()] = signature(source)
        future = pool.submit(task(source, names(source, root)))
        future.add_done_callback(partial(finished, str(source)))

    def wanted(path: Path) -> bool:
        return paths.is_image_name(path) and not paths.is_result(path) \
            and not (skip is not None and path.resolve().is_relative_to(skip))

    def root_of(path: Path) -> Path:
        absolute = path.absolute()
        return next((f for f in folders if absolute.is_relative_to(f.absolute())), path.parent)

    stop = _stop_on_sigterm()
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="cutout-watch")
    try:
        for (source, root), target in zip(inputs, targets):
            if not up_to_date(source, target):
                submit(pool, source, root)
            else:
                done[source.absolute()] = signature(source)
        if not args.quiet:
            print(f"cutout: watching {', '.join(map(str, folders))} (Ctrl+C stops)",
                  file=sys.stderr, flush=True)
        for changes in watchfiles.watch(*folders, watch_filter=lambda _c, p: wanted(Path(p)) or Path(p).is_dir(),
                                        debounce=POLL_MS * 2, step=50, rust_timeout=POLL_MS,
                                        yield_on_timeout=True, stop_event=stop):
            now = time.monotonic()
            for change, name in changes:
                path = Path(name)
                if change == watchfiles.Change.deleted:
                    pending.pop(path, None)
                elif path.is_dir():  # a new folder: what was written before it was watched
                    for inner in paths.images_under(path, skip):
                        pending.setdefault(inner, (signature(inner), now, root_of(inner)))
                elif wanted(path):
                    pending[path] = (signature(path), now, root_of(path))
            for path, (sig, since, root) in list(pending.items()):
                current = signature(path)
                if current is None:
                    del pending[path]
                elif current != sig:
                    pending[path] = (current, now, root)  # still being written
                elif now - since >= args.settle:
                    del pending[path]
                    if done.get(path.absolute()) != current:
                        submit(pool, path, root)
    except KeyboardInterrupt:
        pass
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if not args.quiet:
        print(f"{summary.line(rate=False)}; stopped watching", file=sys.stderr, flush=True)
    return 1 if summary.failed else 0


def _stop_on_sigterm() -> threading.Event:
    """An event set by SIGTERM (a service manager's stop), so it ends the watch like Ctrl+C."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop

