"""The INT8 model variant: registered, verified, selectable, and still finds the subject.

The quantised file is built by `make install` (layers/model/quantize.py); its
quality on the shared evaluation sets is measured by `make eval MODEL=u2netp-int8`
and recorded in docs/performance.md, not here (those sets are not in the repo).
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cutout.engine import cpus, images, model, pipeline, quality, segment
from cutout.config import Settings
from photos import assert_subject_found

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers" / "model"))
import quantize  # noqa: E402

VARIANT = "u2netp-int8"


@pytest.fixture(scope="session")
def int8() -> model.Segmenter:
    # By file, so that it is the INT8 model on any CPU (see model._runnable).
    path = model.resolve_model_path(replace(Settings(), model_name=VARIANT))
    return model.load(replace(Settings(), model_name=VARIANT, model_path=str(path)))


@pytest.fixture(scope="session")
def fp32() -> model.Segmenter:
    return model.load(replace(Settings(), model_name="u2netp"))


def test_the_variant_is_the_default() -> None:
    assert Settings().model_name == VARIANT


def test_the_variant_is_registered_as_derived_from_the_fp32_model() -> None:
    spec = model.MODELS[VARIANT]
    assert spec.base == "u2netp" and spec.base in model.MODELS
    assert spec.filename == f"{VARIANT}.onnx" and spec.size == model.MODELS["u2netp"].size


def test_the_built_file_is_the_one_the_registry_names(int8: model.Segmenter) -> None:
    assert int8.path.name == f"{VARIANT}.onnx"
    assert hashlib.sha256(int8.path.read_bytes()).hexdigest() == model.MODELS[VARIANT].sha256


def test_the_file_is_int8_qdq_at_opset_13(int8: model.Segmenter) -> None:
    graph = onnx.load(int8.path)
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 13
    ops = {node.op_type for node in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [i for i in graph.graph.initializer if i.data_type == TensorProto.INT8]
    assert len(int8_weights) > 100  # (nearly) every conv's weights
    assert int8.path.stat().st_size < 0.4 * (int8.path.parent / "u2netp.onnx").stat().st_size


@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_int8_finds_the_subject_like_fp32(photo: str, request, int8, fp32) -> None:
    rgb = request.getfixturevalue(photo)
    decoded = images.Decoded(images.Header("PNG", rgb.shape[1], rgb.shape[0]), rgb, None)
    alpha = segment.matte_of(decoded.rgb, decoded.alpha, int8)
    assert_subject_found(alpha, photo)
    reference = segment.matte_of(decoded.rgb, decoded.alpha, fp32)
    truth = np.where(reference >= 128, 255, 0).astype(np.uint8)
    assert quality.score(alpha, truth).iou > 0.95


def test_the_api_serves_the_fp32_model_when_chosen(fp32, base_settings, astronaut_jpeg) -> None:
    from fastapi.testclient import TestClient

    from cutout.web import create_app

    client = TestClient(create_app(replace(base_settings, model_name="u2netp"), fp32))
    response = client.post("/v1/results", params={"mode": "fg-mask"},
                           files={"image": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert response.status_code == 200, response.text


X86_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw{}\nbogomips\t: 1\n"


def test_exact_int8_needs_vnni_on_x86_only() -> None:
    assert cpus.exact_int8(X86_FLAGS.format(" avx512_vnni"), "x86_64")
    assert cpus.exact_int8(X86_FLAGS.format(" avx_vnni"), "x86_64")
    assert not cpus.exact_int8(X86_FLAGS.format(""), "x86_64")  # AVX2/AVX512 without VNNI
    assert cpus.exact_int8("Features\t: fp asimd asimddp\n", "aarch64")


def test_without_exact_int8_the_default_serves_the_fp32_model(monkeypatch, caplog) -> None:
    monkeypatch.setattr(model, "exact_int8", lambda: False)
    served = model.load(replace(Settings(), threads=1))
    assert served.spec.name == "u2netp" and served.path.name == "u2netp.onnx"
    assert "no exact int8 dot product" in caplog.text
    monkeypatch.setattr(model, "exact_int8", lambda: True)
    assert model.load(replace(Settings(), threads=1)).spec.name == VARIANT


def test_without_the_fp32_file_the_int8_model_is_served(monkeypatch, tmp_path, int8, caplog) -> None:
    monkeypatch.setattr(model, "exact_int8", lambda: False)
    (tmp_path / int8.path.name).write_bytes(int8.path.read_bytes())
    served = model.load(replace(Settings(), model_dir=str(tmp_path), threads=1))
    assert served.spec.name == VARIANT and "fp32 base is not installed" in caplog.text


def test_an_explicit_model_file_is_never_swapped(monkeypatch, int8) -> None:
    monkeypatch.setattr(model, "exact_int8", lambda: False)
    served = model.load(replace(Settings(), model_path=str(int8.path), threads=1))
    assert served.path == int8.path and served.spec.name == VARIANT


def test_a_missing_variant_says_how_to_build_it(tmp_path: Path) -> None:
    cfg = replace(Settings(), model_name=VARIANT, model_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"make model MODEL={VARIANT}"):
        model.resolve_model_path(cfg)


def _conv(name: str, source: str, out: str, weights: np.ndarray) -> tuple[onnx.NodeProto, onnx.TensorProto]:
    init = numpy_helper.from_array(weights.astype(np.float32), name + "_w")
    return helper.make_node("Conv", [source, init.name], [out], name=name, pads=[1, 1, 1, 1]), init


def test_float_islands_keep_a_conv_dominated_by_one_input_channel_and_its_feeder() -> None:
    """The rule that keeps u2netp's one problem conv in float, on a small graph of the same shape."""
    rng = np.random.default_rng(0)
    feeder, w1 = _conv("feeder", "x", "f", rng.normal(0, 0.1, (2, 3, 3, 3)))
    other, w2 = _conv("other", "x", "o", rng.normal(0, 0.1, (2, 3, 3, 3)))
    relu = helper.make_node("Relu", ["f"], ["fr"], name="relu")
    concat = helper.make_node("Concat", ["o", "fr"], ["c"], name="concat", axis=1)
    heavy = rng.normal(0, 0.1, (4, 4, 3, 3))
    heavy[:, 3] *= 60  # input channel 3 (the feeder's second channel) dominates
    target, w3 = _conv("target", "c", "y", heavy)
    plain, w4 = _conv("plain", "y", "z", rng.normal(0, 0.1, (1, 4, 3, 3)))
    graph = helper.make_graph(
        [feeder, other, relu, concat, target, plain], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 1, 8, 8])],
        initializer=[w1, w2, w3, w4],
    )
    net = onnx.shape_inference.infer_shapes(helper.make_model(graph))
    assert sorted(quantize.float_islands(net)) == ["concat", "feeder", "relu", "target"]


def test_calibration_never_uses_the_evaluation_sets() -> None:
    images_ = quantize.calibration_images(variants=2)
    assert len(images_) == 2 * len(quantize.CALIBRATION_PHOTOS)
    again = quantize.calibration_images(variants=2)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images_, again))


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_the_allocator_accepts_the_thresholds_unless_the_environment_sets_its_own(monkeypatch) -> None:
    """Loading a model tunes malloc (see cpus.tune_allocator); an operator's own setting wins."""
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert cpus.tune_allocator() is True
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert cpus.tune_allocator() is False
