"""MkDocs hook: the API reference page's Swagger UI, copied from the package.

The server serves Swagger UI at `/docs` from `cutout/web/static/swagger-ui/`
(`make swagger-ui`); the site uses the same files, so docs/api.md renders
docs/openapi.json offline, without a CDN.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

BUNDLE = Path(__file__).resolve().parents[2] / "layers/cutout/python/cutout/web/static/swagger-ui"


def on_post_build(config: Any) -> None:
    target = Path(config["site_dir"]) / "swagger-ui"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(BUNDLE, target)  # with its LICENSE and NOTICE (Apache-2.0)
