"""Build the INT8 variant of a model from its verified fp32 file, reproducibly.

Static QDQ quantisation for onnxruntime's CPU provider: uint8 activations, int8
per-channel weights, entropy (KL) calibration. Plain min-max calibration of
u2netp on a few images loses about 0.1 IoU; measuring every layer showed why,
and this recipe follows from it:

* The opset is raised from 11 to 13, which per-channel QDQ needs.
* Calibration photos are scikit-image's bundled samples plus seeded crops,
  flips and brightness/contrast changes of them: never the evaluation sets.
* One convolution (in u2netp the last one of decoder stage 2) takes an input
  channel whose weights are ~60x larger than any other input channel's and
  whose activations reach ~230 while the rest stay below ~20. No 8-bit scale
  serves both, and quantising that conv alone costs 0.08 IoU. It stays in
  float together with the concat and the branch that feeds that channel; the
  rule finds it from the weights, not from a hard-coded node name.

Two steps. Calibration (`--calibrate`, a developer's step: needs pillow and
scikit-image) measures the activation ranges and writes them next to this
file (`<variant>.ranges.json`, onnxruntime's calibration-cache format without
the histograms). The build (`make model`, the model layer, `sam build`) reads
those committed ranges, so it needs only onnx, onnxruntime and numpy, takes
seconds, and does not depend on running the model on the builder's CPU.
The output is checked against the sha256 in the registry (`cutout/engine/models.json`),
so a changed recipe or a changed onnxruntime/onnx pin is noticed, not shipped.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, version_converter

HERE = Path(__file__).resolve().parent
REGISTRY = HERE.parent / "cutout" / "python" / "cutout" / "engine" / "models.json"
sys.path.insert(0, str(HERE.parent / "cutout" / "python"))

# Natural photographs shipped inside the scikit-image wheel (no download).
CALIBRATION_PHOTOS = (
    "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
    "motorcycle_left.png", "motorcycle_right.png", "camera.png", "coins.png",
)
DOMINANCE = 20.0  # one input channel's weights this many times the rest: keep the conv in float


def calibration_images(variants: int = 4, seed: int = 0) -> list[Image.Image]:
    """Each sample photo plus `variants - 1` seeded crops (flips, light changes) of it."""
    import skimage
    from PIL import Image, ImageEnhance

    folder = Path(skimage.__file__).parent / "data"
    rng = np.random.default_rng(seed)
    images: list[Image.Image] = []
    for name in CALIBRATION_PHOTOS:
        photo = Image.open(folder / name).convert("RGB")
        images.append(photo)
        width, height = photo.size
        for _ in range(variants - 1):
            scale = rng.uniform(0.55, 0.9)
            w, h = int(width * scale), int(height * scale)
            x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            crop = photo.crop((x0, y0, x0 + w, y0 + h))
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.7, 1.3))
            crop = ImageEnhance.Contrast(crop).enhance(rng.uniform(0.7, 1.3))
            images.append(crop)
    return images


def calibration_tensors(base: str, variants: int = 4, seed: int = 0) -> list[np.ndarray]:
    """The calibration photos, preprocessed exactly as the service preprocesses requests."""
    from cutout.engine.model import MODELS, Segmenter

    prepare = Segmenter.preprocessor(MODELS[base])
    return [prepare(np.asarray(img)) for img in calibration_images(variants, seed)]


def float_graph(source: Path, work: Path) -> Path:
    """Opset 13, shapes inferred and constants folded: what the quantiser works on."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    upgraded = work / "opset13.onnx"
    onnx.save(version_converter.convert_version(onnx.load(source), 13), upgraded)
    prepared = work / "prepared.onnx"
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=False)
    return prepared


def float_islands(model: onnx.ModelProto, dominance: float = DOMINANCE) -> list[str]:
    """Nodes to keep in float: each conv dominated by one input channel, with its feeders.

    For such a conv the dominant channel's branch (back through Concat, Resize and
    Relu to the conv that makes the channel) stays float as well, so that channel
    is never squeezed into the same 8-bit scale as its small neighbours.
    """
    graph = model.graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    keep: list[str] = []
    for node in graph.node:
        if node.op_type != "Conv" or node.input[1] not in weights:
            continue
        w = np.abs(weights[node.input[1]])
        per_input = w.max(axis=(0, 2, 3))
        if per_input.size < 2:
            continue
        top = int(per_input.argmax())
        rest = np.delete(per_input, top).max()
        if rest <= 0 or per_input[top] / rest < dominance:
            continue
        keep.append(node.name)
        feeder = producer.get(node.input[0])
        channel = top
        while feeder is not None and feeder.op_type in {"Concat", "Resize", "Relu"}:
            keep.append(feeder.name)
            if feeder.op_type == "Concat":
                channel, feeder = _concat_source(model, feeder, channel, producer)
            else:
                feeder = producer.get(feeder.input[0])
        if feeder is not None and feeder.op_type == "Conv":
            keep.append(feeder.name)
    return keep


def _concat_source(model: onnx.ModelProto, concat: onnx.NodeProto, channel: int,
                   producer: dict[str, onnx.NodeProto]) -> tuple[int, onnx.NodeProto | None]:
    """Which concat input (and which channel of it) a concat output channel comes from."""
    shapes = {v.name: v.type.tensor_type.shape.dim for v in model.graph.value_info}
    for name in concat.input:
        width = shapes[name][1].dim_value
        if channel < width:
            return channel, producer.get(name)
        channel -= width
    return channel, None


class _Reader:
    """onnxruntime's CalibrationDataReader protocol, with the range hook used by strided calibration."""

    def __init__(self, input_name: str, tensors: list[np.ndarray]) -> None:
        self.input_name, self.all, self.window, self.index = input_name, tensors, tensors, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.window):
            return None
        self.index += 1
        return {self.input_name: self.window[self.index - 1]}

    def __len__(self) -> int:
        return len(self.all)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.window, self.index = self.all[start_index:end_index], 0


def calibrate(prepared: Path, base: str, recipe: dict, keep: list[str]) -> dict:
    """Activation ranges from the calibration photos, in onnxruntime's cache format.

    Only the ranges are kept (the histograms they came from are dropped): they are
    all the quantiser needs, and committed they make the build deterministic,
    fast, and free of the photo libraries.
    """
    from onnxruntime.quantization import quantize_static

    model = onnx.load(prepared)
    tensors = calibration_tensors(base, recipe.get("variants", 4), recipe.get("seed", 0))
    with tempfile.TemporaryDirectory(prefix="cutout-calibrate-") as tmp:
        cache = Path(tmp) / "ranges.json"
        quantize_static(
            str(prepared), str(Path(tmp) / "model.onnx"),
            _Reader(model.graph.input[0].name, tensors),
            calibration_cache_path=cache,
            **_settings(keep),
            # Histograms are gathered four images at a time, which bounds memory
            # (every intermediate tensor of a 320x320 pass is held while it is counted).
            extra_options={"CalibStridedMinMax": 4},
        )
        ranges = json.loads(cache.read_text())
    for tensor in ranges["data"].values():
        tensor.pop("hist", None)
        tensor.pop("bins", None)
    return ranges


def _settings(keep: list[str]) -> dict:
    """The quantiser's settings, the same for calibrating and for building."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    return dict(quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Entropy,
                nodes_to_exclude=keep)


def build(source: Path, out: Path, ranges_file: Path, recipe: dict, recalibrate: bool = False,
          base: str = "") -> list[str]:
    """Write the QDQ INT8 model from the fp32 file and the committed activation ranges.

    With `recalibrate` the ranges are measured again on the calibration photos
    and `ranges_file` is rewritten first. Returns the nodes kept in float.
    """
    from onnxruntime.quantization import quantize_static

    with tempfile.TemporaryDirectory(prefix="cutout-quantize-") as tmp:
        prepared = float_graph(source, Path(tmp))
        keep = float_islands(onnx.load(prepared), recipe.get("dominance", DOMINANCE))
        if recalibrate:
            ranges_file.write_text(json.dumps(calibrate(prepared, base, recipe, keep), indent=1,
                                              sort_keys=True) + "\n")
        quantize_static(str(prepared), str(out), None, calibration_cache_path=ranges_file,
                        **_settings(keep))
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="u2netp-int8", help="registry name of the variant")
    parser.add_argument("--source", type=Path, required=True, help="the verified fp32 file")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--calibrate", action="store_true",
                        help="measure the activation ranges again (needs pillow and scikit-image) "
                             "and rewrite the ranges file; implies --no-verify")
    parser.add_argument("--no-verify", action="store_true", help="write even if the sha256 differs")
    args = parser.parse_args()

    registry = json.loads(REGISTRY.read_text())
    entry = registry[args.model]
    recipe = entry.get("recipe", {})
    ranges_file = HERE / recipe["ranges"]
    base = registry[entry["base"]]
    if hashlib.sha256(args.source.read_bytes()).hexdigest() != base["sha256"]:
        sys.exit(f"{args.source}: sha256 does not match the registry's {entry['base']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".part")
    keep = build(args.source, tmp, ranges_file, recipe, recalibrate=args.calibrate, base=entry["base"])
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    if digest != entry["sha256"] and not (args.no_verify or args.calibrate):
        tmp.unlink()
        sys.exit(
            f"sha256 of the quantised {args.model} is {digest}, the registry expects "
            f"{entry['sha256']}: the recipe, {ranges_file.name} or an onnx/onnxruntime pin "
            "changed. Re-run `make eval` on every shared set with --no-verify's output "
            "before updating models.json."
        )
    tmp.replace(args.out)
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {digest}, kept in float: {', '.join(keep)}")


if __name__ == "__main__":
    main()
