"""Cold start: whole-process time from `python` starting to the first response.

Cutout: a fresh interpreter imports the Lambda handler (functions/api/handler.py,
which builds the app and loads the model at import, as in Lambda's init phase)
and calls it with an API Gateway event from events/. rembg: a fresh interpreter
imports rembg, makes a u2netp session and runs one remove() on the same photo.
The clock starts in the parent just before the child is spawned and stops at the
wall-clock time the child reports right after the response exists.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "events" / "api-multipart-upload.json"
EVENT_PHOTO = ROOT / "events" / "photos" / "astronaut.jpg"

CUTOUT_CHILD = """
import json, sys, time
sys.path[:0] = [{handler_dir!r}, {events_dir!r}]
import handler
from invoke import Context
response = handler.handler(json.load(open({event!r})), Context())
end = time.time()
print(json.dumps({{"end": end, "status": response["statusCode"], "body_chars": len(response.get("body") or "")}}))
"""

REMBG_CHILD = """
import json, time
from rembg import new_session, remove
session = new_session("u2netp")
out = remove(open({photo!r}, "rb").read(), session=session)
end = time.time()
print(json.dumps({{"end": end, "status": 200, "body_chars": len(out)}}))
"""


def _run(python: str, code: str, env: dict[str, str]) -> dict:
    started = time.time()
    done = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = result.pop("end") - started
    return result


def cutout(python: str, model_name: str, data_dir: str, model_dir: Path) -> dict:
    env = {**os.environ, "CUTOUT_MODEL": model_name, "CUTOUT_ALLOW_ANONYMOUS": "1",
           # by file, so that it is this model on any CPU (see engines.cutout)
           "CUTOUT_MODEL_PATH": str(model_dir / f"{model_name}.onnx"),
           "CUTOUT_DATA_DIR": data_dir, "CUTOUT_LOG_LEVEL": "WARNING",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "CutoutBench",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    for var in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "CUTOUT_TABLE", "CUTOUT_BUCKET"):
        env.pop(var, None)
    code = CUTOUT_CHILD.format(handler_dir=str(ROOT / "functions" / "api"),
                               events_dir=str(ROOT / "events"), event=str(EVENT))
    return _run(python, code, env)


def rembg(python: str, model_dir: Path) -> dict:
    env = {**os.environ, "U2NET_HOME": str(model_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    return _run(python, REMBG_CHILD.format(photo=str(EVENT_PHOTO)), env)


def measure(cutout_python: str, rembg_python: str, model_dir: Path, rounds: int = 3) -> dict[str, list[dict]]:
    """Alternating runs after one discarded warm-up of each (so all read a warm page cache)."""
    results: dict[str, list[dict]] = {"rembg": [], "cutout-fp32": [], "cutout-int8": []}
    with tempfile.TemporaryDirectory(prefix="cutout-bench-") as data_dir:
        runs = {
            "rembg": lambda: rembg(rembg_python, model_dir),
            "cutout-fp32": lambda: cutout(cutout_python, "u2netp", data_dir, model_dir),
            "cutout-int8": lambda: cutout(cutout_python, "u2netp-int8", data_dir, model_dir),
        }
        for run in runs.values():
            run()
        for _ in range(rounds):
            for name, run in runs.items():
                results[name].append(run())
    return results


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], sys.argv[2], Path(sys.argv[3]), 1), indent=1))
