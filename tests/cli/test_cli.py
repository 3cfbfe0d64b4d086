"""`cutout eval` and the settings check, run as a user runs them: a real process (`cutout remove`: test_remove.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import encode

CUTOUT = [sys.executable, "-m", "cutout.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CUTOUT, *args], capture_output=True, text=True, timeout=300)


def test_keys_list_shows_sandbox_keys_with_their_real_limits(tmp_path) -> None:
    import os

    env = {**os.environ, "CUTOUT_DATA_DIR": str(tmp_path), "CUTOUT_TABLE": "",
           "CUTOUT_SANDBOX_MP_PER_MINUTE": "12"}

    def cli(*args: str) -> str:
        done = subprocess.run([*CUTOUT, *args], capture_output=True, text=True, timeout=120,
                              env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    live = cli("keys", "create", "--plan", "pro").splitlines()[0].split()[-1]
    sandbox = cli("keys", "create", "--plan", "pro", "--sandbox").splitlines()[0].split()[-1]
    header, *lines = cli("keys", "list").splitlines()
    assert header.split()[:6] == ["KEY", "ID", "STATUS", "KIND", "PLAN", "MP/MIN"]
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows[sandbox][2] == "sandbox" and rows[sandbox][4] == "12"
    assert rows[live][2] == "live" and int(rows[live][4]) > 12


def test_eval_prints_scores_on_a_dataset_folder(tmp_path: Path, coffee_jpeg: bytes, coffee: np.ndarray) -> None:
    """A one-image dataset in the shared layout: the score is computed, not assumed."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "cup.jpg").write_bytes(coffee_jpeg)
    truth = np.zeros(coffee.shape[:2], np.uint8)
    truth[40:370, 90:470] = 255  # a rough box around the cup and saucer
    Image.fromarray(truth).save(tmp_path / "masks" / "cup.png")
    (tmp_path / "manifest.csv").write_text("name,image,mask,width,height,fg_fraction\ncup,images/cup.jpg,masks/cup.png,600,400,0.5\n")
    done = run("eval", str(tmp_path), "--spill")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()]
    lines = {row[0]: row[1:] for row in rows}
    assert lines["images"] == ["1"]
    assert lines["MAE"] == ["IoU", "F", "bMAE"]  # the table's header
    (default,) = [row[1:] for row in rows if row[0] == "cutout" and len(row) == 5]
    mae, iou, f, boundary = (float(v) for v in default)
    assert 0.6 < iou <= 1.0 and 0.6 < f <= 1.0
    assert 0.0 <= mae < 0.2 and 0.0 <= boundary <= 1.0
    (tta,) = [row[2:] for row in rows if row[:2] == ["cutout", "fast-tta"]]  # the two-scale tier
    assert 0.6 < float(tta[1]) <= 1.0
    # rembg's plain LANCZOS upsampling, the boundary target's baseline: the same 0.5 threshold
    (plain,) = [row[2:] for row in rows if row[:2] == ["plain", "upsampling"]]
    assert abs(float(plain[1]) - iou) < 0.002 and 0.0 <= float(plain[3]) <= 1.0
    assert "rembg" not in lines  # a folder without published figures gets no reference row
    spill = [line for line in done.stdout.splitlines() if "composites" in line]
    assert len(spill) == 2 and all("decontaminate off" in line and "error off" in line for line in spill)


def test_a_bad_setting_stops_the_command_naming_the_variable(tmp_path: Path) -> None:
    import os

    done = subprocess.run([*CUTOUT, "remove", str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUTOUT_MAX_MEGAPIXELS": "lots"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "CUTOUT_MAX_MEGAPIXELS='lots' is not a valid number" in done.stderr


def test_keys_usage_refuses_a_month_that_is_not_yyyy_mm(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "CUTOUT_DATA_DIR": str(tmp_path), "CUTOUT_TABLE": ""}
    for month in ("2026-13", "nope", "2026-1", "26-01", "2026-00"):
        done = subprocess.run([*CUTOUT, "keys", "usage", "anonymous", "--month", month],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 2, (month, done.stdout)
        assert f"--month: a month as YYYY-MM (e.g. 2026-01), not {month!r}" in done.stderr, done.stderr
        assert done.stdout == ""
    done = subprocess.run([*CUTOUT, "keys", "usage", "anonymous", "--month", "2026-01"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and "month       2026-01" in done.stdout, done.stderr


def test_an_output_path_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "spec.json"
    for args in (("openapi", str(missing)),
                 ("listing", "removebg", "--base-url", "https://api.example.com", "-o", str(missing)),
                 ("openapi", str(tmp_path))):  # a folder, not a file
        done = run(*args)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        said = [line for line in done.stderr.splitlines() if line.startswith(f"cutout {args[0]}: ")]
        assert said and str(missing if args[-1] != str(tmp_path) else tmp_path) in said[0], done.stderr
    assert not missing.parent.exists()
