"""Run in a fresh interpreter: decode one file and report the process's RSS growth and time.

    python tests/rss_probe.py FILE [MAX_MEGAPIXELS]     (or probe(path) from a test)

Prints one JSON line: {"growth_mb", "seconds", "code", "shape"}. Growth is the
peak resident set size during the call (VmHWM, reset just before it through
/proc/self/clear_refs) minus the RSS before it: real memory, native allocations
included, which tracemalloc does not see.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.rss import _status  # noqa: E402  (VmRSS / VmHWM of this process, in bytes)


def probe(path: Path, max_megapixels: float = 25.0) -> dict:
    """This script run on `path` in a fresh interpreter: its JSON report as a dict."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "layers/cutout/python"))
    out = subprocess.run([sys.executable, __file__, str(path), str(max_megapixels)],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(out.stdout)


GROWTH = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bench.rss import _status
{setup}
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) reset to the current RSS
before = _status("VmRSS")
{measured}
print("growth_mb", (_status("VmHWM") - before) / 2**20)
"""


def growth_of(setup: str, measured: str) -> tuple[float, str]:
    """Run `setup`, then `measured` (Python statements) in a fresh interpreter: the peak RSS
    growth during `measured`, in MB (native memory included), and what it printed before."""
    code = GROWTH.format(root=str(ROOT), setup=setup, measured=measured)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "layers/cutout/python"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300, check=True).stdout
    printed, _, growth = out.rpartition("growth_mb ")
    return float(growth), printed.strip()


def main() -> None:
    from PIL import Image

    try:
        from cutout.engine import images
    except ImportError:  # a checkout from before the engine/ folder (bench/bombs.py --package)
        from cutout import images
    from cutout.errors import CutoutError

    Image.init()  # every format plugin imported before measuring

    data = Path(sys.argv[1]).read_bytes()
    limits = images.Limits(max_megapixels=float(sys.argv[2]) if len(sys.argv) > 2 else 25.0)
    images.decode(images.encode(__import__("numpy").zeros((8, 8, 3), "uint8"), "png"), limits)  # warm up
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _status("VmRSS")
    started = time.perf_counter()
    code, shape = "ok", None
    try:
        shape = list(images.decode(data, limits).rgb.shape)
    except CutoutError as exc:
        code = exc.code
    seconds = time.perf_counter() - started
    growth = _status("VmHWM") - before
    print(json.dumps({"growth_mb": round(growth / 2**20, 1), "seconds": round(seconds, 3),
                      "code": code, "shape": shape}))


if __name__ == "__main__":
    main()
