"""`cutout remove` and `cutout eval`, run as a user runs them: a real process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import encode
from cutout.engine import foreground
from photos import assert_subject_found, disc_scene

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


def test_remove_one_file_writes_beside_it(tmp_path: Path, astronaut_jpeg: bytes) -> None:
    source = tmp_path / "astronaut.jpg"
    source.write_bytes(astronaut_jpeg)
    done = run("remove", str(source))
    assert done.returncode == 0, done.stderr
    result = tmp_path / "astronaut.cutout.png"
    assert done.stdout.strip() == str(result)
    img = Image.open(result)
    assert img.mode == "RGBA" and img.size == (512, 512)
    assert_subject_found(np.asarray(img.getchannel("A")), "astronaut")


def test_remove_corrects_the_edge_colour(tmp_path: Path) -> None:
    """The CLI's cut-out: every visible pixel is the subject's estimated colour for its alpha."""
    composite, _alpha, _fg = disc_scene()
    source = tmp_path / "disc.png"
    source.write_bytes(encode(composite, "PNG"))
    done = run("remove", str(source))
    assert done.returncode == 0, done.stderr
    rgba = np.asarray(Image.open(tmp_path / "disc.cutout.png"))
    alpha, visible = rgba[:, :, 3], rgba[:, :, 3] > 0
    assert ((alpha > 0) & (alpha < 255)).sum() > 1000
    assert np.array_equal(rgba[:, :, :3][visible], foreground.decontaminate(composite, alpha)[visible])


def test_remove_a_folder_into_output_with_progress(tmp_path: Path, coffee: np.ndarray) -> None:
    inputs = tmp_path / "in"
    (inputs / "nested").mkdir(parents=True)
    for index in range(4):
        (inputs / ("nested" if index % 2 else "") / f"cup{index}.png").write_bytes(encode(coffee, "PNG"))
    (inputs / "notes.txt").write_text("not an image, not picked up")
    out = tmp_path / "out"
    done = run("remove", str(inputs), "-o", str(out), "--mode", "fg-mask")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"cup{i}.mask.png" for i in range(4)]
    assert "4/4" in done.stderr  # the progress bar
    mask = Image.open(out / "cup0.mask.png")
    assert mask.mode == "L"
    assert_subject_found(np.asarray(mask), "coffee")


def test_inputs_that_would_share_a_result_name_each_get_their_own(tmp_path: Path, coffee: np.ndarray,
                                                                  astronaut_jpeg: bytes) -> None:
    """photo.jpg and photo.png in one folder (a camera's JPEG beside its export), or one name
    in two subfolders with --output: no result overwrites another."""
    shots = tmp_path / "shots"
    (shots / "b").mkdir(parents=True)
    (shots / "photo.jpg").write_bytes(astronaut_jpeg)
    (shots / "photo.png").write_bytes(encode(coffee, "PNG"))
    (shots / "b" / "photo.png").write_bytes(encode(coffee[:, ::-1].copy(), "PNG"))
    (shots / "other.png").write_bytes(encode(coffee, "PNG"))
    done = run("remove", str(shots / "photo.jpg"), str(shots / "photo.png"))
    assert done.returncode == 0, done.stderr
    beside = sorted(p.name for p in shots.glob("*.cutout.png"))
    assert beside == ["photo.jpg.cutout.png", "photo.png.cutout.png"]
    assert done.stdout.split() == [str(shots / name) for name in beside]
    assert Image.open(shots / "photo.jpg.cutout.png").size == (512, 512)
    assert Image.open(shots / "photo.png.cutout.png").size == (coffee.shape[1], coffee.shape[0])
    for path in shots.glob("*.cutout.png"):
        path.unlink()
    out = tmp_path / "out"
    done = run("remove", str(shots), "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 4 and "other.cutout.png" in names and "photo.jpg.cutout.png" in names
    twins = [np.asarray(Image.open(out / n)) for n in names if n.startswith("photo.png")]
    assert len(twins) == 2 and not np.array_equal(twins[0], twins[1])  # the photo and its mirror


def test_remove_reports_bad_files_and_carries_on(tmp_path: Path, coffee_jpeg: bytes) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (tmp_path / "good.jpg").write_bytes(coffee_jpeg)
    done = run("remove", str(tmp_path / "broken.jpg"), str(tmp_path / "good.jpg"))
    assert done.returncode == 1
    assert "broken.jpg: Can not load image." in done.stderr
    assert (tmp_path / "good.cutout.png").exists()


def test_a_folder_named_like_a_photo_and_an_unreadable_file_do_not_stop_the_batch(
        tmp_path: Path, coffee_jpeg: bytes) -> None:
    """`album.jpg/` is a folder (its photos are taken, it is not read as a file); a file
    that cannot be read is reported like a bad image and the others go on."""
    (tmp_path / "album.jpg").mkdir()
    (tmp_path / "album.jpg" / "inner.jpg").write_bytes(coffee_jpeg)
    (tmp_path / "b.jpg").write_bytes(coffee_jpeg)
    locked = tmp_path / "a.jpg"
    locked.symlink_to(tmp_path / "gone.jpg")  # a dangling link: reading it fails like a locked file
    done = run("remove", str(tmp_path))
    assert done.returncode == 1, done.stderr
    assert f"{locked}: " in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "b.cutout.png").exists()
    assert (tmp_path / "album.jpg" / "inner.cutout.png").exists()


def test_remove_missing_path(tmp_path: Path) -> None:
    done = run("remove", str(tmp_path / "nope.jpg"))
    assert done.returncode != 0 and "no such file or folder" in done.stderr


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
