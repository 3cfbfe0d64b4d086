"""Peak memory of one request, measured in a fresh process per engine.

`python -m bench.rss ENGINE THREADS WARM.jpg PHOTO.jpg` loads the engine, warms
it on a small image, resets the kernel's high-water mark (/proc/self/clear_refs)
and runs one request; it prints JSON with the process's peak RSS during that
request and the RSS before it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def main() -> None:
    name, threads, warm, photo = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    from .engines import make

    engine = make(name, threads)
    engine(warm.read_bytes())
    data = photo.read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    out = engine(data)
    print(json.dumps({"engine": name, "rss_before": before, "peak": _status("VmHWM"),
                      "output_bytes": len(out)}))


if __name__ == "__main__":
    main()
