"""Write eval/datasets.json from a checked copy of the sets (a developer's step, done once).

The team's copy (../shared/eval) was made from the public repositories named
in each set's SOURCE.txt; this reads it and pins every file: the path it has
upstream, and the SHA-256 of its bytes (files copied unchanged) or of its
decoded pixels (files the layout converts). `make eval-data` (eval/fetch.py)
then downloads the same files from upstream and refuses any that differ.

    .venv/bin/python eval/pin.py ../shared/eval
"""
from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch import MANIFEST, pixels_sha256  # noqa: E402

RITM = "SamsungLabs/ritm_interactive_segmentation"
RITM_COMMIT = "792c183a884f7da658193975ddac214e325eb330"
# GrabCut's photos are .jpg, .JPG or .bmp upstream; these two are known to be .JPG, these
# are known to be .jpg (the repository's listing), and the rest are tried as .jpg, then .JPG.
GRABCUT_UPPER = {"scissors", "stone2"}
GRABCUT_LOWER = {"bush", "cross", "flower", "person4", "person7", "tennis"}
REFERENCE_NOTE = (
    "Reference figures: rembg 2.0.86 with the U^2-Net-p weights (u2netp.onnx) and the U^2-Net "
    "weights (u2net.onnx), `remove(..., only_mask=True)` with a reused session (320x320 squash "
    "resize with LANCZOS, min-max normalised output, LANCZOS back to full size). MAE over the alpha "
    "in [0, 1]; IoU and F-measure (beta^2 = 0.3) count alpha >= 0.5 as foreground; means over "
    "images; GrabCut's 128 (uncertain) pixels are left out.")

SETS = {
    "grabcut": {
        "title": "GrabCut (Rother, Kolmogorov and Blake, SIGGRAPH 2004): 50 photos",
        "repository": RITM, "commit": RITM_COMMIT,
        "paths": "datasets/GrabCut/data_GT/<name>.{jpg,JPG,bmp} -> images/ (BMP to PNG, pixels kept); "
                 "datasets/GrabCut/boundary_GT/<name>.bmp -> masks/<name>.png (values kept: 0, 128 "
                 "uncertain band, 255)",
        "original": "Microsoft Research Cambridge GrabCut segmentation dataset; 20 photos from the "
                    "Berkeley Segmentation Dataset",
        "licence": "research use (the repository's code is MIT; no licence is stated for the data)",
        "reference": {"u2netp": [0.0591, 0.7994, 0.8426], "u2net": [0.0455, 0.8515, 0.8933]},
    },
    "davis345": {
        "title": "DAVIS-345 (Perazzi et al., CVPR 2016): 345 video frames",
        "repository": RITM, "commit": RITM_COMMIT,
        "paths": "datasets/DAVIS/img/<NNN>.jpg -> images/; datasets/DAVIS/gt/<NNN>.png -> masks/ "
                 "(every annotated object 255)",
        "original": "DAVIS 2016/2017 480p frames (davischallenge.org), as packaged by f-BRS and RITM",
        "licence": "DAVIS terms (research use; the repository's code is MIT)",
        "reference": {"u2netp": [0.0349, 0.7279, 0.7998], "u2net": [0.0306, 0.7510, 0.8160]},
    },
    "pascal-s-dev": {
        "title": "PASCAL-S (Li et al., CVPR 2014), images 1-250 of 850",
        "repository": "frankLeo123/Saliency_Matlab", "commit": "265e54783152a6d137f48f4113f272e7e25f0804",
        "paths": "config/pascal/<N>.jpg -> images/; config/mask/<N>.png -> masks_graded/ (viewer "
                 "votes k/12*255); masks/ = masks_graded >= 128 -> 255",
        "original": "PASCAL-S salient-object benchmark on PASCAL VOC 2010 val photos (Flickr)",
        "licence": "research use (PASCAL VOC terms; no licence is stated for the data)",
        "reference": {"u2netp": [0.0927, 0.7266, 0.8018], "u2net": [0.0795, 0.7413, 0.8176]},
    },
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> str:
    return pixels_sha256(Image.open(path))


def entries(name: str, folder: Path, image: str, mask: str) -> list[dict]:
    stem = Path(image).stem
    if name == "grabcut":
        base = "datasets/GrabCut"
        if image.endswith(".png"):
            photo = {"to": image, "from": [f"{base}/data_GT/{stem}.bmp"], "convert": "rgb-png",
                     "pixels_sha256": pixels(folder / image)}
        else:
            exts = ([".JPG"] if stem in GRABCUT_UPPER else [".jpg"] if stem in GRABCUT_LOWER
                    or stem.isdigit() else [".jpg", ".JPG"])
            photo = {"to": image, "from": [f"{base}/data_GT/{stem}{e}" for e in exts],
                     "sha256": sha256(folder / image)}
        return [photo, {"to": mask, "from": [f"{base}/boundary_GT/{stem}.bmp"], "convert": "grey-png",
                        "pixels_sha256": pixels(folder / mask)}]
    if name == "davis345":
        return [{"to": image, "from": [f"datasets/DAVIS/img/{stem}.jpg"], "sha256": sha256(folder / image)},
                {"to": mask, "from": [f"datasets/DAVIS/gt/{stem}.png"], "convert": "nonzero-255",
                 "pixels_sha256": pixels(folder / mask)}]
    graded = f"masks_graded/{stem}.png"
    return [{"to": image, "from": [f"config/pascal/{stem}.jpg"], "sha256": sha256(folder / image)},
            {"to": graded, "from": [f"config/mask/{stem}.png"], "sha256": sha256(folder / graded)},
            {"to": mask, "derive": graded, "convert": "threshold-128", "pixels_sha256": pixels(folder / mask)}]


def main(root: Path) -> None:
    sets = []
    for name, meta in SETS.items():
        folder = root / name
        with open(folder / "manifest.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        files = [e for row in rows for e in entries(name, folder, row["image"], row["mask"])]
        sets.append({"name": name, **meta, "pairs": [[r["name"], r["image"], r["mask"]] for r in rows],
                     "files": files})
    manifest = {"about": "Pinned by eval/pin.py; read by eval/fetch.py (`make eval-data`).",
                "host": "https://raw.githubusercontent.com", "reference_note": REFERENCE_NOTE,
                "sets": sets}
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {MANIFEST}: {sum(len(s['files']) for s in sets)} files in {len(sets)} sets")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/eval"))
