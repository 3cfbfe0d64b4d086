"""The stored-images path against /v1/results, on the same photo, over real HTTP.

For each size (1 and 12 MP by default) the app runs behind uvicorn on
127.0.0.1 (SQLite + local folder, as under `make run`) and each round times:

  results   POST /v1/results (multipart photo -> cut-out PNG inline, base64 in JSON)
  upload    POST /v1/images/upload
  remove    POST /v1/images/{id}/remove-background (reads the stored file, cuts, stores the PNG)
  download  GET  /v1/images/{new id}/download

and reports medians: the three image calls together against /v1/results. It
needs uvicorn and httpx, so it runs in the service's own environment:

    .venv/bin/python -m bench.images --photos ../shared/eval [--rounds 5] [--out f.json]

`make bench` runs it that way (bench/run.py) and puts the figures in
docs/benchmarks.json.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from . import photos


def _serve(app):
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def measure(photo_path: Path, sizes: tuple[float, ...] = (1.0, 12.0), rounds: int = 5) -> dict:
    """Median seconds per step and size; one warm-up round per size is not counted."""
    import httpx

    from cutout.config import settings
    from cutout.web import create_app

    with tempfile.TemporaryDirectory(prefix="bench-images-") as data_dir:
        cfg = replace(settings(), data_dir=data_dir, table="", bucket="", allow_anonymous=False,
                      max_response_bytes=0)
        app = create_app(cfg)
        key = app.state.services.accounts.create_key(
            "mega", owner="bench", mp_per_minute=1_000_000, monthly_credits=1_000_000)[0]
        url, server, thread = _serve(app)
        client = httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=300)
        out: dict = {"photo": photo_path.name, "rounds": rounds, "sizes": {}}
        try:
            for mp in sizes:
                photo = photos.at_megapixels(photo_path, mp)
                times: dict[str, list[float]] = {k: [] for k in
                                                 ("results", "upload", "remove", "download")}
                for round_no in range(rounds + 1):
                    step = {}
                    started = time.perf_counter()
                    answer = client.post("/v1/results", files={"image": ("p.jpg", photo.data)})
                    step["results"] = time.perf_counter() - started
                    assert answer.status_code == 200, answer.text[:300]
                    started = time.perf_counter()
                    image = client.post("/v1/images/upload", data={"name": "bench"},
                                        files={"image": ("p.jpg", photo.data, "image/jpeg")})
                    step["upload"] = time.perf_counter() - started
                    assert image.status_code == 201, image.text[:300]
                    started = time.perf_counter()
                    cut = client.post(f"/v1/images/{image.json()['id']}/remove-background", json={})
                    step["remove"] = time.perf_counter() - started
                    assert cut.status_code == 201, cut.text[:300]
                    started = time.perf_counter()
                    got = client.get(f"/v1/images/{cut.json()['id']}/download")
                    step["download"] = time.perf_counter() - started
                    assert got.status_code == 200 and got.content[:4] == b"\x89PNG"
                    if round_no:  # the first round warms caches and allocators
                        for name, seconds in step.items():
                            times[name].append(seconds)
                medians = {name: statistics.median(v) for name, v in times.items()}
                medians["images_total"] = medians["upload"] + medians["remove"] + medians["download"]
                medians["ratio_to_results"] = medians["images_total"] / medians["results"]
                out["sizes"][f"{mp:g}"] = {"width": photo.width, "height": photo.height,
                                           "jpeg_bytes": len(photo.data),
                                           **{k: round(v, 4) for k, v in medians.items()}}
        finally:
            server.should_exit = True
            thread.join(10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "eval")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    found = measure(photos.sources(args.photos, 1)[0], rounds=args.rounds)
    text = json.dumps(found, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)
    print(f"{'MP':>4} {'results':>8} {'upload':>7} {'remove':>7} {'download':>8} {'images':>7} ratio")
    for mp, row in found["sizes"].items():
        print(f"{mp:>4} {row['results']:8.3f} {row['upload']:7.3f} {row['remove']:7.3f} "
              f"{row['download']:8.3f} {row['images_total']:7.3f} {row['ratio_to_results']:.2f}x")


if __name__ == "__main__":
    main()
