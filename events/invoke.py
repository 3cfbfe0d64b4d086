"""Invoke a Lambda handler with sample events, the way Lambda would, without Docker.

Run it in an isolated interpreter so that only the built layers are importable,
exactly as on Lambda (where /opt/python holds the layers and the runtime
provides boto3). The layers come from `make layers`; the runtime's own
packages (boto3 and what it needs, which the deps layer leaves out) are copied
from the development virtualenv into a folder of their own:

    make layers
    mkdir -p /tmp/runtime && cp -r .venv/lib/python3.*/site-packages/{boto3,botocore,s3transfer,jmespath,dateutil,six.py,urllib3} /tmp/runtime/
    env -i PATH=/usr/bin:/bin CUTOUT_ALLOW_ANONYMOUS=1 CUTOUT_DATA_DIR=/tmp/cutout-data \\
        CUTOUT_MODEL_DIR=build/layers/model/models AWS_DEFAULT_REGION=us-east-1 \\
        .venv/bin/python -I -S events/invoke.py --path build/layers/cutout/python \\
        --path build/layers/deps/python --path /tmp/runtime --handler-dir functions/api \\
        --out /tmp/responses.json events/api-*.json

`-I -S` leave only the standard library on sys.path; `--path` adds each layer
folder and the runtime's folder. The
handler module is imported once (the cold start, timed) and then called with
each event (`--repeat` times, timed). Responses and timings go to `--out` as
JSON; stdout is left to what the handler prints (logs and EMF metrics), as on
Lambda.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import uuid
from pathlib import Path


class Context:
    """The parts of Lambda's context object that handlers and Powertools read."""

    def __init__(self, timeout_ms: int = 29_000) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "cutout-api")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"))
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}")
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/11/21/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("events", nargs="+", type=Path)
    parser.add_argument("--path", action="append", default=[], help="a folder to import from")
    parser.add_argument("--handler-dir", required=True, help="the function's code folder")
    parser.add_argument("--handler", default="handler.handler", help="module.function")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    sys.path[:0] = [str(Path(p).resolve()) for p in [*args.path, args.handler_dir]]
    module_name, function_name = args.handler.rsplit(".", 1)
    started = time.perf_counter()
    module = importlib.import_module(module_name)
    init_seconds = time.perf_counter() - started
    function = getattr(module, function_name)

    results = []
    for path in args.events:
        event = json.loads(path.read_text())
        seconds, response = [], None
        for _ in range(args.repeat):
            began = time.perf_counter()
            response = function(event, Context())
            seconds.append(time.perf_counter() - began)
        results.append({"event": path.name, "response": response, "seconds": seconds})
    args.out.write_text(json.dumps({
        "init_seconds": init_seconds,
        "sys_path": sys.path,
        "modules": {name: m.__file__ for name, m in sorted(sys.modules.items())
                    if name not in ("__main__", "__mp_main__") and getattr(m, "__file__", None)},
        "results": results,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
