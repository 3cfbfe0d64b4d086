"""`make eval-data` (eval/fetch.py): pinned public sets, downloaded over real HTTP, checked, laid out.

The upstream here is a local HTTP server holding files at the paths the
manifest names (raw.githubusercontent.com's layout: /<repo>/<commit>/<path>),
made in the formats upstream has: JPEG photos, BMP photos and masks, palette
PNGs of instance ids, PNGs of viewer votes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.cli import evaluation
from fixtures_aws import free_port
from local_http import LocalServer, Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))
import fetch  # noqa: E402

REPO, COMMIT = "someone/datasets", "0123456789abcdef0123456789abcdef01234567"


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@pytest.fixture
def upstream():
    """A server with one set of each kind of file, and the manifest that pins them."""
    rng = np.random.default_rng(7)
    photo = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    jpeg, bmp_photo = encoded(photo, "JPEG"), encoded(photo, "BMP")
    band = np.zeros((30, 40), np.uint8)
    band[5:25, 10:30], band[5:25, 9], band[5:25, 30] = 255, 128, 128
    bmp_mask = encoded(Image.fromarray(band), "BMP")
    ids = np.zeros((30, 40), np.uint8)
    ids[2:10, 2:10], ids[20:28, 25:35] = 1, 2  # two objects
    palette = Image.fromarray(ids, "P")
    palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    votes = np.zeros((30, 40), np.uint8)
    votes[:, :10], votes[:, 10:20], votes[:, 20:] = 21, 128, 255  # 1, 6 and 12 viewers of 12
    files = {"GT/a.JPG": jpeg, "GT/b.bmp": bmp_photo, "mask/a.bmp": bmp_mask, "mask/b.bmp": bmp_mask,
             "img/c.jpg": jpeg, "gt/c.png": encoded(palette, "PNG"), "votes/c.png": encoded(
                 Image.fromarray(votes), "PNG")}
    server = LocalServer()
    for path, data in files.items():
        server.routes[f"/{REPO}/{COMMIT}/{path}"] = Route(200, data)

    def pixels(array: np.ndarray, mode: str) -> str:
        return fetch.pixels_sha256(Image.fromarray(array, mode))

    binary_ids = np.where(ids > 0, 255, 0).astype(np.uint8)
    sets = [
        {"name": "mixed", "title": "Mixed", "repository": REPO, "commit": COMMIT, "paths": "GT/, mask/",
         "original": "made here", "licence": "CC0", "reference": {"u2netp": [0.1, 0.2, 0.3], "u2net": [0.4, 0.5, 0.6]},
         "pairs": [["a", "images/a.jpg", "masks/a.png"], ["b", "images/b.png", "masks/b.png"]],
         "files": [
             {"to": "images/a.jpg", "from": ["GT/a.jpg", "GT/a.JPG"], "sha256": hashlib.sha256(jpeg).hexdigest()},
             {"to": "masks/a.png", "from": ["mask/a.bmp"], "convert": "grey-png", "pixels_sha256": pixels(band, "L")},
             {"to": "images/b.png", "from": ["GT/b.bmp"], "convert": "rgb-png",
              "pixels_sha256": fetch.pixels_sha256(photo)},
             {"to": "masks/b.png", "from": ["mask/b.bmp"], "convert": "grey-png", "pixels_sha256": pixels(band, "L")},
         ]},
        {"name": "ids", "title": "Ids and votes", "repository": REPO, "commit": COMMIT, "paths": "img/, gt/",
         "original": "made here", "licence": "CC0", "reference": {"u2netp": [0.1, 0.2, 0.3], "u2net": [0.4, 0.5, 0.6]},
         "pairs": [["c", "images/c.jpg", "masks/c.png"]],
         "files": [
             {"to": "images/c.jpg", "from": ["img/c.jpg"], "sha256": hashlib.sha256(jpeg).hexdigest()},
             {"to": "masks/c.png", "from": ["gt/c.png"], "convert": "nonzero-255",
              "pixels_sha256": pixels(binary_ids, "L")},
             {"to": "graded/c.png", "from": ["votes/c.png"], "sha256": hashlib.sha256(
                 files["votes/c.png"]).hexdigest()},
             {"to": "binary/c.png", "derive": "graded/c.png", "convert": "threshold-128",
              "pixels_sha256": pixels(np.where(votes >= 128, 255, 0).astype(np.uint8), "L")},
         ]},
    ]
    manifest = {"host": "https://example.invalid", "reference_note": "Reference figures: made up.", "sets": sets}
    yield server, manifest, {"band": band, "ids": binary_ids, "votes": votes, "photo": np.asarray(photo)}
    server.close()


def run(manifest: dict, tmp_path: Path, *args: str) -> int:
    path = tmp_path / "datasets.json"
    path.write_text(json.dumps(manifest))
    return fetch.main(["--manifest", str(path), "--out", str(tmp_path / "eval"), "-q", *args])


def test_downloads_checks_and_lays_out_every_set_as_make_eval_reads_it(upstream, tmp_path) -> None:
    server, manifest, truth = upstream
    assert run(manifest, tmp_path, "--source", server.url("")) == 0
    out = tmp_path / "eval"
    mixed = out / "mixed"
    assert (mixed / "images/a.jpg").read_bytes() == server.routes[f"/{REPO}/{COMMIT}/GT/a.JPG"].body
    assert np.array_equal(np.asarray(Image.open(mixed / "images/b.png")), truth["photo"])  # BMP -> PNG
    assert np.array_equal(np.asarray(Image.open(mixed / "masks/a.png")), truth["band"])  # 128 kept
    ids = out / "ids"
    assert np.array_equal(np.asarray(Image.open(ids / "masks/c.png")), truth["ids"])
    assert sorted(np.unique(np.asarray(Image.open(ids / "binary/c.png")))) == [0, 255]
    assert (np.asarray(Image.open(ids / "binary/c.png"))[:, :10] == 0).all()  # 1 of 12 viewers
    assert (np.asarray(Image.open(ids / "binary/c.png"))[:, 10:] == 255).all()  # 6 or more
    with open(mixed / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["name"], r["width"], r["height"]) for r in rows] == [("a", "40", "30"), ("b", "40", "30")]
    assert float(rows[0]["fg_fraction"]) == pytest.approx((truth["band"] == 255).mean(), abs=1e-4)
    # `make eval` reads it: the pairs in manifest order, and the reference row from the README.
    assert [name for name, _, _ in evaluation.pairs(mixed)] == ["a", "b"]
    assert evaluation.reference(mixed) == evaluation.Scores(0.1, 0.2, 0.3)
    assert COMMIT in (mixed / "SOURCE.txt").read_text() and "CC0" in (mixed / "SOURCE.txt").read_text()
    # Run again: everything present and correct, nothing is downloaded.
    before = len(server.requests)
    assert run(manifest, tmp_path, "--source", server.url("")) == 0
    assert len(server.requests) == before


def test_a_file_that_does_not_match_its_sha256_is_refused_and_not_written(upstream, tmp_path, capsys) -> None:
    server, manifest, _ = upstream
    server.routes[f"/{REPO}/{COMMIT}/img/c.jpg"] = Route(200, b"\xff\xd8 something else")
    assert run(manifest, tmp_path, "--source", server.url(""), "--sets", "ids") == 1
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"eval-data: images/c\.jpg: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}", err), err
    assert not (tmp_path / "eval" / "ids" / "images" / "c.jpg").exists()


def test_without_network_it_says_so_in_one_line(upstream, tmp_path) -> None:
    _server, manifest, _ = upstream
    path = tmp_path / "datasets.json"
    path.write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, str(ROOT / "eval" / "fetch.py"), "--manifest", str(path),
                           "--out", str(tmp_path / "eval"), "--source", f"http://127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "unreachable" in done.stderr and "no network?" in done.stderr


def test_the_pinned_sets_name_their_source_and_pin_every_file() -> None:
    manifest = json.loads((ROOT / "eval" / "datasets.json").read_text())
    assert manifest["host"] == "https://raw.githubusercontent.com"
    assert {s["name"] for s in manifest["sets"]} == {"grabcut", "davis345", "pascal-s-dev"}
    for spec in manifest["sets"]:
        assert re.fullmatch(r"[0-9a-f]{40}", spec["commit"]) and "/" in spec["repository"]
        assert spec["licence"] and spec["original"]
        laid = {entry["to"]: entry for entry in spec["files"]}
        for _name, image, mask in spec["pairs"]:
            assert image in laid and mask in laid
        for entry in spec["files"]:
            assert ("from" in entry) != ("derive" in entry)
            assert re.fullmatch(r"[0-9a-f]{64}", entry.get("sha256") or entry["pixels_sha256"])
            assert ("convert" in entry) == ("pixels_sha256" in entry)
    counts = {s["name"]: len(s["pairs"]) for s in manifest["sets"]}
    assert counts == {"grabcut": 50, "davis345": 345, "pascal-s-dev": 250}
