"""The contestants: Cutout's pipeline and rembg, each as `bytes in -> PNG bytes out`.

Both run the same u2netp weights (rembg finds the verified file through
U2NET_HOME) with the same number of onnxruntime threads, so the comparison is
of everything around the model as well as the model variant.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


Engine = Callable[[bytes], bytes]
MODEL_DIR = Path(__file__).resolve().parents[1] / "layers" / "model" / "build" / "models"
ENGINES = ("rembg", "cutout-fp32", "cutout-int8")
LABELS = {
    "rembg": "rembg 2.0.86 (u2netp)",
    "cutout-fp32": "Cutout, u2netp fp32",
    "cutout-int8": "Cutout, u2netp-int8 (default)",
}


def rembg(threads: int) -> Engine:
    """rembg's remove() with one reused u2netp session, as its README recommends."""
    os.environ["U2NET_HOME"] = str(MODEL_DIR)
    import onnxruntime as ort
    from rembg import new_session, remove

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = new_session("u2netp", sess_opts=options)

    def run(data: bytes) -> bytes:
        return remove(data, session=session)

    return run


def cutout(model_name: str, threads: int) -> Engine:
    """Cutout's pipeline.cut() as the API calls it: fg-image, PNG at the configured level."""
    from cutout.engine import images, model, pipeline
    from cutout.config import Settings

    # By file: the benchmark measures the model it names on any CPU, even where the
    # service would serve INT8's fp32 base instead (x86 without VNNI, model._runnable).
    cfg = Settings(model_name=model_name, model_path=str(MODEL_DIR / f"{model_name}.onnx"), threads=threads)
    segmenter = model.load(cfg)
    limits = images.Limits(cfg.max_megapixels, cfg.max_bytes)
    options = pipeline.Options(png_level=cfg.png_compress_level)
    return lambda data: pipeline.cut(data, options, segmenter=segmenter, limits=limits).data


def make(name: str, threads: int) -> Engine:
    if name == "rembg":
        return rembg(threads)
    if name == "cutout-fp32":
        return cutout("u2netp", threads)
    if name == "cutout-int8":
        return cutout("u2netp-int8", threads)
    raise ValueError(name)
