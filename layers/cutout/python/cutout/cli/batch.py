"""Many cut-outs at once: a thread pool sized to the machine, a progress bar, a summary.

The pool's threads share one loaded model (onnxruntime, Pillow, NumPy and ISA-L
release the GIL while they work). Each cut-out runs on `threads` CPUs
(onnxruntime's intra-op threads and the banded steps), and `workers` of them run
at once: `workers x threads` fills the machine, and `workers` is bounded by the
memory a cut-out of the batch's largest image needs, so a folder of panoramas
does not run the machine out of memory.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from ..engine.cpus import available_cpus
from ..errors import CutoutError

# A cut-out's own memory, on top of the loaded model: peak RSS less RSS after the model
# load, one fg-image cut of a JPEG photo (README, "Memory", bench/peak_memory.py:
# 215 MB at 1 MP, 265 at 4, 400 at 12, 623 at 25), as a line through those points.
CUT_BASE_BYTES = 200 * 2**20
CUT_BYTES_PER_MEGAPIXEL = 17 * 2**20
MEMORY_SHARE = 0.75  # of the memory available at start, the most the batch's cut-outs may use


def available_memory() -> int | None:
    """Bytes the kernel says are available now (MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def cut_memory(megapixels: float) -> int:
    """Bytes one cut-out of a `megapixels` image needs besides the model (see above)."""
    return int(CUT_BASE_BYTES + CUT_BYTES_PER_MEGAPIXEL * megapixels)


def plan(files: int, largest_megapixels: float, cpus: int | None = None,
         memory: int | None = None, workers: int = 0) -> tuple[int, int]:
    """(cut-outs at once, CPUs each) for `files` images whose largest has `largest_megapixels`.

    `workers` > 0 is the caller's choice (`--jobs`); 0: one per CPU, at most one per
    file, and no more than MEMORY_SHARE of `memory` (bytes) holds. Each gets an
    equal share of the CPUs (at least one).
    """
    cpus = cpus or available_cpus()
    if workers <= 0:
        workers = min(cpus, max(1, files))
        if memory is not None:
            workers = min(workers, max(1, int(memory * MEMORY_SHARE) // cut_memory(largest_megapixels)))
    return workers, max(1, cpus // workers)


def largest_megapixels(paths: Iterable[Path]) -> float:
    """The largest image among `paths`, by its header alone (0 for files that do not open)."""
    from PIL import Image

    largest = 0.0
    for path in paths:
        try:  # Pillow reads the header only
            with Image.open(path) as img:
                largest = max(largest, img.width * img.height / 1e6)
        except Exception:  # unreadable or not an image: the cut-out reports it
            continue
    return largest


@dataclass
class Summary:
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def line(self, rate: bool = True) -> str:
        """`12 images in 3.4 s (3.5 images/s), 1 failed` (`rate` False: `12 images, 1 failed`)."""
        seconds = time.perf_counter() - self.started
        noun = "image" if self.done == 1 else "images"
        failed = f", {len(self.failed)} failed" if self.failed else ""
        if not rate:
            return f"cutout: {self.done} {noun}{failed}"
        per_second = self.done / seconds if seconds > 0 else 0.0
        return f"cutout: {self.done} {noun} in {seconds:.1f} s ({per_second:.2f} images/s){failed}"


def failure(source: str, exc: BaseException) -> str:
    """What to print for a file that failed: the engine's message, or the OS's."""
    if isinstance(exc, CutoutError):
        return exc.message
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


def run(tasks: list[tuple[str, Callable[[], str]]], workers: int, *, progress: bool,
        echo: Callable[[str], None] | None) -> Summary:
    """Run each task (name, work returning what it wrote) on `workers` threads.

    A task that raises CutoutError or OSError is reported on stderr and counted;
    the others go on. `progress`: a tqdm bar on stderr (rate and ETA); `echo`, if
    given, receives each written path.
    """
    summary = Summary()
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), unit="image", file=sys.stderr, dynamic_ncols=True)

    def say(text: str, stream: TextIO = sys.stdout) -> None:
        if bar is not None:
            bar.write(text, file=stream)
        else:
            print(text, file=stream, flush=True)

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="cutout-batch") as pool:
        futures = {pool.submit(work): name for name, work in tasks}
        try:
            for future in as_completed(futures):
                name = futures[future]
                try:
                    written = future.result()
                except (CutoutError, OSError) as exc:
                    summary.failed.append((name, failure(name, exc)))
                    say(f"cutout: {name}: {failure(name, exc)}", sys.stderr)
                else:
                    summary.done += 1
                    if echo is not None:
                        say(written)
                if bar is not None:
                    bar.update(1)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise
        finally:
            if bar is not None:
                bar.close()
    return summary


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False
