"""Every dialect Cutout speaks, in the order the app mounts them (and the spec lists them).

A sixth dialect is one module (or folder) exporting a `Dialect` as `DIALECT`, and one
line here; `template.yaml`'s CORS lists are the checked copy of what `cors.py` derives.
"""
from __future__ import annotations

from typing import Any

from ..dialect import Dialect
from . import adobe, adobe_v1, api4ai, azure, imgproc, removebg

DIALECTS: tuple[Dialect, ...] = (api4ai.DIALECT, removebg.DIALECT, azure.DIALECT, adobe.DIALECT,
                                 imgproc.DIALECT, adobe_v1.DIALECT)


def too_large_body(message: str) -> dict[str, Any]:
    """A 413 body whose message every dialect's clients find where they look for it (the
    dialects' fields must not collide: tests/web/test_large_results.py reads each)."""
    body: dict[str, Any] = {}
    for dialect in DIALECTS:
        body.update(dialect.too_large(message))
    return body
