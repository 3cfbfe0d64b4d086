"""The model registry and how a model file is found."""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from cutout.engine import cpus, model
from cutout.config import Settings


def test_registry_entries_are_complete() -> None:
    for name, spec in model.MODELS.items():
        assert spec.filename == f"{name}.onnx"
        assert len(spec.sha256) == 64 and spec.wheel.count("==") == 1


def test_the_default_model_file_is_the_verified_one(segmenter: model.Segmenter) -> None:
    digest = hashlib.sha256(segmenter.path.read_bytes()).hexdigest()
    assert digest == model.MODELS[segmenter.spec.name].sha256
    # The default, unless this CPU makes the INT8 default fall back to fp32 (model._runnable).
    assert segmenter.spec.name == (Settings().model_name if cpus.exact_int8() else "u2netp")


def test_model_path_runs_any_compatible_onnx_file(tmp_path: Path, segmenter, coffee) -> None:
    copy = tmp_path / "my-model.onnx"
    shutil.copy(segmenter.path, copy)
    cfg = replace(Settings(), model_path=str(copy), model_name="my-model", threads=1)
    loaded = model.load(cfg)
    assert loaded.path == copy and loaded.threads == 1
    mask = loaded.predict(coffee)
    assert mask.shape == (320, 320) and mask.min() >= 0 and mask.max() <= 1
    assert mask[150:250, 120:200].mean() > 0.8  # the cup, in model coordinates


def test_model_dir_and_missing_model_error(tmp_path: Path) -> None:
    cfg = replace(Settings(), model_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{Settings().model_name}.onnx not found"):
        model.resolve_model_path(cfg)
