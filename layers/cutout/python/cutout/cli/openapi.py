"""`cutout openapi PATH`: write the spec the app serves at /openapi.json (`make openapi`).

The committed `docs/openapi.json` is written by this command (a marketplace
listing and generated clients are built from it; tests/web/test_openapi.py checks
that the file and the served spec agree). The spec does not depend on settings;
a throw-away data folder keeps the export from touching the developer's store.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any


def dumps(spec: dict[str, Any]) -> str:
    """The committed file's formatting: 2-space indent, keys in FastAPI's order, a final newline."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def export(args: argparse.Namespace) -> int:
    from ..config import settings
    from ..web import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(replace(settings(), table="", data_dir=data_dir, bucket="", job_queue_url=""))
        text = dumps(app.openapi())
    Path(args.path).write_text(text, encoding="utf-8")
    print(f"wrote {args.path}")
    return 0


def add_commands(commands: Any) -> None:
    p = commands.add_parser("openapi", help="write the API's OpenAPI spec to a file",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", type=Path, help="where to write it, e.g. docs/openapi.json")
    p.set_defaults(run=export)
