"""`make bench`: Cutout against rembg on this machine, written to docs/benchmarks.md.

Steps (all in one run, each engine measured alternately with the others):
  1. warm end-to-end latency, bytes in -> PNG bytes out, at 0.25/1/4/12 MP, 2 CPUs;
  2. the same at 1 and 12 MP on one pinned CPU (the basis of the Lambda cost model);
  3. peak RSS of one 12 MP request, one fresh process per engine;
  4. cold start of the Lambda handler against rembg's import + session + first remove();
  5. the model alone: ms per 320x320 pass, fp32 and INT8, 1 and 2 threads, GFLOP/s;
  6. cost per 1,000 images on Lambda at 1769/3008/5307 MB;
  7. every output option (jpg, webp, zip, backgrounds, shadow, crop, scale) at 12 MP
     against the PNG cut-out (bench/options.py; `--only options` runs just this step);
  8. a folder of 100 1 MP photos, command against command: `cutout remove IN -o OUT`
     and `rembg p -m u2netp IN OUT`, images/s (bench/folder.py; `--only folder`);
  9. the server under load: 8, 16 and 32 clients of mixed dialects against `cutout serve`
     for a fixed time: throughput, p50/p99, statuses, credits against successes, RSS
     before, at peak and after (bench/load.py, in the service's environment; `--only load`).
Raw numbers go to docs/benchmarks.json, the table and plots to docs/.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import coldstart, engines, folder, inference, latency, options, photos, report

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    import onnxruntime
    import PIL
    from importlib.metadata import version

    from cutout.engine.cpus import available_cpus
    return {
        "cpu": cpu, "cpus_available": available_cpus(), "memory_gib": round(mem_kb / 2**20, 1),
        "avx512_vnni": "avx512_vnni" in flags, "python": platform.python_version(),
        "kernel": platform.release(), "onnxruntime": onnxruntime.__version__,
        "pillow": PIL.__version__, "numpy": np.__version__, "rembg": version("rembg"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_at_start": os.getloadavg(),
    }


def check_outputs(photo: photos.Photo) -> dict:
    """Cutout's and rembg's masks agree (same weights); INT8 close to fp32."""
    from PIL import Image

    made = {name: engines.make(name, 2)(photo.data) for name in engines.ENGINES}
    alpha = {name: np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[:, :, 3] >= 128
             for name, data in made.items()}
    return {"fp32_vs_rembg_mask_agreement": float((alpha["rembg"] == alpha["cutout-fp32"]).mean()),
            "int8_vs_fp32_mask_agreement": float((alpha["cutout-int8"] == alpha["cutout-fp32"]).mean())}


def latency_table(sets: dict[float, list[photos.Photo]], sizes: tuple[float, ...], threads: int,
                  rounds: dict[float, int]) -> dict:
    out = {}
    for mp in sizes:
        print(f"  {mp:g} MP, {threads} CPU(s) ...", flush=True)
        timings = latency.measure(engines.ENGINES, threads, sets[mp], rounds[mp])
        out[str(mp)] = {name: {"seconds": t.seconds, "output_bytes": t.output_bytes}
                        for name, t in timings.items()}
    return out


def pinned(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})


def rss(photo: photos.Photo, warm: photos.Photo, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.jpg", Path(tmp) / "warm.jpg"
        big.write_bytes(photo.data)
        small.write_bytes(warm.data)
        results = {}
        for name in engines.ENGINES:
            done = subprocess.run([sys.executable, "-m", "bench.rss", name, str(threads), str(small), str(big)],
                                  capture_output=True, text=True, cwd=ROOT, check=True)
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def images_path(python: str, folder: Path, rounds: int) -> dict:
    """bench/images.py in the service's environment (it needs uvicorn and httpx)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "images.json"
        subprocess.run([python, "-m", "bench.images", "--photos", str(folder), "--rounds",
                        str(rounds), "--out", str(out)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def load_run(python: str, folder: Path, quick: bool) -> dict:
    """bench/load.py in the service's environment (it runs `cutout serve`); its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "load.json"
        seconds = ["--seconds", "20", "--after", "10"] if quick else []
        subprocess.run([python, "-m", "bench.load", "--photos", str(folder), "--json", str(out),
                        *seconds], cwd=ROOT, check=True)
        return dict(json.loads(out.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--cutout-python", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="interpreter with the service's own environment (cold start)")
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--only", choices=("options", "folder", "load"),
                        help="run one step and print it (no report)")
    args = parser.parse_args()

    results: dict = {"machine": machine()}
    if args.only == "load":
        print(json.dumps(load_run(args.cutout_python, args.photos, args.quick), indent=1))
        return
    if args.only == "folder":
        r = folder.measure(photos.sources(args.photos), 1 if args.quick else 2, *folder.default_bins())
        for name in ("cutout remove", "rembg p"):
            print(f"{name:14s} {r[name]['images_per_second']:6.2f} images/s")
        print(f"cutout remove / rembg p: {r['ratio']:.2f}x")
        return
    sets = photos.photo_sets(args.photos)
    if args.only == "options":
        for name, row in options.measure(sets[12.0], 1 if args.quick else 3).items():
            print(f"{name:18s} {row['seconds']:7.3f} s  {row['ratio']:5.2f}x the PNG cut-out")
        return
    results["photos"] = {str(mp): [{"name": p.name, "width": p.width, "height": p.height,
                                    "jpeg_bytes": len(p.data)} for p in ps] for mp, ps in sets.items()}
    q = args.quick
    print("checking outputs ...", flush=True)
    results["checks"] = check_outputs(sets[1.0][0])

    print("end-to-end latency, 2 CPUs ...", flush=True)
    # Rounds x 3 photos per engine; the large sizes get enough for a steady median.
    rounds = {0.25: 2 if q else 6, 1.0: 2 if q else 8, 4.0: 1 if q else 4, 12.0: 1 if q else 6}
    results["latency_2cpu"] = latency_table(sets, photos.SIZES_MP, 2, rounds)

    print("peak RSS, 12 MP ...", flush=True)
    results["rss_12mp"] = rss(sets[12.0][0], sets[0.25][0], 2)

    print("cold start ...", flush=True)
    results["cold_start"] = coldstart.measure(args.cutout_python, sys.executable, engines.MODEL_DIR,
                                              rounds=1 if q else 3)

    print("stored images (/v1/images) vs /v1/results, 1 and 12 MP ...", flush=True)
    results["images_path"] = images_path(args.cutout_python, args.photos, rounds=2 if q else 5)

    print("inference alone ...", flush=True)
    models = {"u2netp": engines.MODEL_DIR / "u2netp.onnx", "u2netp-int8": engines.MODEL_DIR / "u2netp-int8.onnx"}
    passes = inference.measure(models, passes=5 if q else 20)
    results["inference"] = {"gflop_per_pass": inference.conv_flops(models["u2netp"]) / 1e9,
                            "seconds": {m: {str(t): v for t, v in d.items()} for m, d in passes.items()}}

    print("end-to-end latency, 1 pinned CPU ...", flush=True)
    cpu = sorted(os.sched_getaffinity(0))[0]
    everything = os.sched_getaffinity(0)
    pinned(cpu)
    try:
        results["latency_1cpu"] = latency_table(sets, (1.0, 12.0), 1, {1.0: 1 if q else 4, 12.0: 1 if q else 3})
    finally:
        os.sched_setaffinity(0, everything)

    print("output options at 12 MP ...", flush=True)
    results["options_12mp"] = options.measure(sets[12.0], 1 if q else 3)

    print("a folder of 100 1 MP photos: cutout remove vs rembg p ...", flush=True)
    results["folder"] = folder.measure(photos.sources(args.photos), 1 if q else 2, *folder.default_bins())

    print("the server under load: 8, 16 and 32 clients ...", flush=True)
    results["load"] = load_run(args.cutout_python, args.photos, q)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(results, indent=1))
    report.write(results, args.out)
    print(f"wrote {args.out / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
