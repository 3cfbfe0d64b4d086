"""The package's shape: what it exports, and an engine that stands alone."""
from __future__ import annotations

import json
import subprocess
import sys

import cutout


def test_the_package_exports_cut_options_result_and_its_error_root() -> None:
    assert sorted(cutout.__all__) == ["CutoutError", "Options", "Result", "cut"]
    from cutout.engine import pipeline
    from cutout.errors import CutoutError

    assert (cutout.cut, cutout.Options, cutout.Result, cutout.CutoutError) == (
        pipeline.cut, pipeline.Options, pipeline.Result, CutoutError)
    assert set(cutout.__all__) <= set(dir(cutout))


def test_the_engine_loads_without_the_web_the_stores_or_aws() -> None:
    """Imported in a fresh interpreter: no FastAPI, Starlette, boto3, nor Cutout's web, accounts or ports."""
    code = (
        "import json, sys\n"
        "import cutout.engine.pipeline, cutout.engine.model, cutout.engine.quality, cutout.metering\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                           capture_output=True, text=True).stdout))
    assert "cutout.engine.pipeline" in loaded and "onnxruntime" in loaded  # it did load the engine
    for absent in ("fastapi", "starlette", "boto3", "botocore", "cutout.web", "cutout.stores.dynamodb",
                   "cutout.blobs", "aws_lambda_powertools"):
        assert absent not in loaded, f"importing the engine loaded {absent}"
