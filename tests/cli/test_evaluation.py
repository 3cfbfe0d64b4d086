"""`cutout eval`'s dataset reading (cli/evaluation.py): manifest order, limits, rembg's reference row."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.cli import evaluation
from cutout.engine.quality import Scores


def dataset(folder: Path, count: int) -> Path:
    """A folder in the shared layout: `count` photos, each its own grey, and their masks."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rows = ["name,image,mask,width,height,fg_fraction"]
    for index in range(count):
        Image.fromarray(np.full((6, 8, 3), 10 * index, np.uint8)).save(folder / "images" / f"p{index}.png")
        mask = np.zeros((6, 8), np.uint8)
        mask[:, : index + 1] = 255
        Image.fromarray(mask).save(folder / "masks" / f"p{index}.png")
        rows.append(f"p{index},images/p{index}.png,masks/p{index}.png,8,6,0.5")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_pairs_photos_and_encoded_follow_the_manifest(tmp_path: Path) -> None:
    folder = dataset(tmp_path / "set", 3)
    assert [name for name, _, _ in evaluation.pairs(folder)] == ["p0", "p1", "p2"]
    read = list(evaluation.photos(folder))
    assert [int(photo[0, 0, 0]) for photo, _ in read] == [0, 10, 20]
    assert [int((truth == 255).sum()) for _, truth in read] == [6, 12, 18]
    assert [int(photo[0, 0, 0]) for photo, _ in evaluation.photos(folder, 2)] == [0, 10]
    (data, truth), *_ = evaluation.encoded(folder)
    assert data == (folder / "images" / "p0.png").read_bytes() and truth.dtype == np.uint8


def test_reference_reads_the_shared_readme_else_the_copy(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "| set | u2netp MAE | IoU | F | u2net MAE | IoU | F |\n|---|---|---|---|---|---|---|\n"
        "| mine | 0.1 | 0.2 | 0.3 | 0.4 | 0.5 | 0.6 |\n")
    assert evaluation.reference(tmp_path / "mine") == Scores(0.1, 0.2, 0.3)
    assert evaluation.reference(tmp_path / "davis345") == Scores(0.0349, 0.7279, 0.7998)
    assert evaluation.reference(tmp_path / "unknown") is None


def test_eval_of_a_folder_without_a_subject_says_so(tmp_path: Path) -> None:
    folder = dataset(tmp_path / "set", 1)
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(folder / "masks" / "p0.png")  # no subject
    done = subprocess.run([sys.executable, "-m", "cutout.cli", "eval", str(folder)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"cutout: {folder}: no scorable images"


def test_plain_upsampling_is_lanczos_alone_without_the_mattes_curve() -> None:
    from cutout.engine import matte

    soft = np.full((320, 320), 0.03, np.float32)  # the faint haze min-max scaling leaves
    soft[100:220, 100:220] = 0.97
    plain = evaluation.plain_upsampling(soft, 640, 480)
    assert plain.shape == (480, 640) and plain.dtype == np.uint8
    assert plain[10, 10] == 8 and plain[240, 320] == 247  # the haze kept, as rembg keeps it
    default = matte.upsample(soft, 640, 480)
    assert default[10, 10] == 0 and default[240, 320] == 255  # the default's curve clears it


def test_standard_measures_are_pysodmetrics_and_rank_a_perfect_cutout_first() -> None:
    """S-measure, E-measure and weighted F as the SOD toolboxes give them: 1 for the truth itself."""
    truth = np.zeros((60, 80), np.uint8)
    truth[15:45, 20:60] = 255
    perfect, shifted, inverted = evaluation.Standard(), evaluation.Standard(), evaluation.Standard()
    perfect.add(truth, truth)
    shifted.add(np.roll(truth, 8, axis=1), truth)
    inverted.add(255 - truth, truth)
    best, worse, worst = perfect.results(), shifted.results(), inverted.results()
    assert best["S-measure"] == pytest.approx(1.0) and best["weighted F"] == pytest.approx(1.0)
    assert best["E-measure"] > 0.99 and best["MAE"] == 0.0  # E's curve: every threshold of 0..255
    for name in ("S-measure", "E-measure", "weighted F"):
        assert best[name] > worse[name] > worst[name], name
    assert best["MAE"] < worse["MAE"] < worst["MAE"]
    empty = evaluation.Standard()
    empty.add(truth, np.zeros_like(truth))  # no subject: skipped, as Cutout's own scores skip it
    assert len(empty.measures["MAE"].maes) == 0


def test_eval_without_a_dataset_says_what_to_run(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cutout.cli", "eval", str(tmp_path / "nothing")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"cutout: {tmp_path / 'nothing'}: no manifest.csv here.")
    assert "make eval-data" in done.stderr
