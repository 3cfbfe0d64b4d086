"""The package's shape: what it exports, and an engine that stands alone."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import cutout


def test_the_package_exports_remove_new_session_cut_options_result_and_its_error_root() -> None:
    assert sorted(cutout.__all__) == ["CutoutError", "Options", "Result", "Session", "cut",
                                      "new_session", "remove"]
    from cutout import library
    from cutout.engine import pipeline
    from cutout.errors import CutoutError

    assert (cutout.cut, cutout.Options, cutout.Result, cutout.CutoutError) == (
        pipeline.cut, pipeline.Options, pipeline.Result, CutoutError)
    assert (cutout.remove, cutout.new_session, cutout.Session) == (
        library.remove, library.new_session, library.Session)
    assert set(cutout.__all__) <= set(dir(cutout))


def loaded_by(modules: str) -> set[str]:
    """The modules `import <modules>` loads in a fresh interpreter."""
    code = f"import json, sys\nimport {modules}\nprint(json.dumps(sorted(sys.modules)))\n"
    return set(json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                         capture_output=True, text=True).stdout))


def test_the_engine_loads_without_the_web_the_stores_or_aws() -> None:
    """Imported in a fresh interpreter: no FastAPI, Starlette, boto3, nor Cutout's web, accounts or ports."""
    loaded = loaded_by("cutout.engine.pipeline, cutout.engine.model, cutout.engine.quality, "
                       "cutout.metering")
    assert "cutout.engine.pipeline" in loaded and "onnxruntime" in loaded  # it did load the engine
    for absent in ("fastapi", "starlette", "boto3", "botocore", "cutout.web", "cutout.stores.dynamodb",
                   "cutout.blobs", "aws_lambda_powertools"):
        assert absent not in loaded, f"importing the engine loaded {absent}"


def _imported_modules(path: Path, package: str) -> set[str]:
    """Every module a source file imports, anywhere in it (functions too), relative ones resolved."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_jobs_and_the_fetcher_never_import_the_web() -> None:
    """Jobs sit below web: not even an import at call time reaches up into cutout.web."""
    root = Path(cutout.__file__).parent
    sources = {path: "cutout.jobs" for path in (root / "jobs").glob("*.py")}
    sources[root / "fetch.py"] = "cutout"
    for path, package in sources.items():
        upward = sorted(m for m in _imported_modules(path, package)
                        if m == "cutout.web" or m.startswith("cutout.web."))
        assert not upward, f"{path.relative_to(root)} imports {upward}"
    loaded = loaded_by("cutout.jobs.submit, cutout.jobs.worker, cutout.jobs.webhook, "
                       "cutout.jobs.s3_uploads")
    assert "cutout.fetch" in loaded  # the worker and the webhook import it at module top
    for absent in ("cutout.web", "fastapi", "starlette"):
        assert absent not in loaded, f"importing the jobs loaded {absent}"
