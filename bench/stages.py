"""Where the time goes: each step of one request, Cutout and rembg, at 1 and 12 MP.

`bench/.venv/bin/python -m bench.stages [--model u2netp-int8] [--photos ../shared/eval]`
prints the best of three timings of every step (ms), each step repeated on its own,
then Cutout's steps in request order (median of five requests), which also shows
what one step leaves behind for the next (onnxruntime's spinning threads, caches).
Used to choose what to optimise (docs/performance.md); `make bench` measures the
whole requests.
"""
from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

from . import engines, photos


def best_ms(step, repeat: int = 3):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return round(min(times) * 1000, 1), result


def _pillow_png(rgba) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG", compress_level=1)
    return out.getvalue()


def cutout_steps(data: bytes, model_name: str, threads: int) -> dict[str, float]:
    from cutout.engine import compose, confidence, foreground, images, matte, model, pipeline, refine
    from cutout.config import Settings

    seg = model.load(Settings(model_name=model_name, threads=threads,
                              model_path=str(engines.MODEL_DIR / f"{model_name}.onnx")))
    limits = images.Limits(100, 2**30)
    out: dict[str, float] = {}
    out["header"], header = best_ms(lambda: images.read_header(data, limits))
    out["decode"], decoded = best_ms(lambda: images.decode(data, limits, header))
    height, width = decoded.rgb.shape[:2]
    out["prepare"], x = best_ms(lambda: seg.prepare(decoded.rgb))
    out["model"], soft = best_ms(lambda: seg.run(x))
    out["upsample"], alpha = best_ms(lambda: matte.upsample(soft, width, height))
    out["decontaminate (default)"], _ = best_ms(lambda: foreground.decontaminate(decoded.rgb, alpha))
    out["refine_edges (option)"], _ = best_ms(lambda: refine.refine(decoded.rgb, alpha))
    out["uncertainty score"], _ = best_ms(lambda: confidence.uncertainty(soft))
    out["compose.cutout"], rgba = best_ms(lambda: compose.cutout(decoded.rgb, alpha))
    out["encode PNG"], _ = best_ms(lambda: images.encode(rgba, "png", png_level=1))
    out["(Pillow PNG, level 1)"], _ = best_ms(lambda: _pillow_png(rgba))
    out["bounding box"], _ = best_ms(lambda: matte.bounding_box(alpha))
    out["TOTAL pipeline.cut"], _ = best_ms(
        lambda: pipeline.cut(data, pipeline.Options(), segmenter=seg, limits=limits))
    return out


def cutout_sequence(data: bytes, model_name: str, threads: int, repeat: int = 5) -> dict[str, float]:
    """Cutout's steps timed in the order one request runs them; medians over `repeat` requests."""
    import gc
    import statistics

    from cutout.engine import compose, images, matte, model
    from cutout.config import Settings

    seg = model.load(Settings(model_name=model_name, threads=threads,
                              model_path=str(engines.MODEL_DIR / f"{model_name}.onnx")))
    limits = images.Limits(100, 2**30)
    times: dict[str, list[float]] = {}

    def step(name: str, run):
        started = time.perf_counter()
        result = run()
        times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return result

    for _ in range(repeat + 1):  # the first request warms up and is dropped below
        gc.collect()
        started = time.perf_counter()
        decoded = step("decode", lambda: images.decode(data, limits))
        height, width = decoded.rgb.shape[:2]
        x = step("prepare", lambda: seg.prepare(decoded.rgb))
        soft = step("model", lambda: seg.run(x))
        alpha = step("upsample", lambda: matte.upsample(soft, width, height))
        rgba = step("compose.cutout", lambda: compose.cutout(decoded.rgb, alpha))
        step("encode PNG", lambda: images.encode(rgba, "png", png_level=1))
        times.setdefault("TOTAL", []).append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values[1:]), 1) for name, values in times.items()}


def rembg_steps(data: bytes, threads: int) -> dict[str, float]:
    os.environ["U2NET_HOME"] = str(engines.MODEL_DIR)
    import onnxruntime as ort
    from PIL import Image
    from rembg import new_session, remove
    from rembg.bg import fix_image_orientation, naive_cutout

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = new_session("u2netp", sess_opts=options)

    def decode():
        img = fix_image_orientation(Image.open(io.BytesIO(data)))
        img.load()
        return img

    def encode(img):
        out = io.BytesIO()
        img.save(out, "PNG")
        return out.getvalue()

    out: dict[str, float] = {}
    out["decode"], img = best_ms(decode)
    out["predict (resize, model, mask resize)"], masks = best_ms(lambda: session.predict(img))
    out["naive_cutout"], cut = best_ms(lambda: naive_cutout(img, masks[0]))
    out["encode PNG (level 6)"], _ = best_ms(lambda: encode(cut))
    out["TOTAL remove()"], _ = best_ms(lambda: remove(data, session=session))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval")
    parser.add_argument("--model", default="u2netp-int8")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    source = photos.sources(args.photos, 1)[0]
    for mp in (1.0, 12.0):
        data = photos.at_megapixels(source, mp).data
        print(f"{mp:g} MP, Cutout ({args.model}):", cutout_steps(data, args.model, args.threads))
        print(f"{mp:g} MP, Cutout ({args.model}), in request order:",
              cutout_sequence(data, args.model, args.threads))
        print(f"{mp:g} MP, rembg:", rembg_steps(data, args.threads))


if __name__ == "__main__":
    main()
