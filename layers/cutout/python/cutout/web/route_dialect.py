"""Which dialect a route belongs to: the module its endpoint lives in, under web/dialects/.

One answer for the API function's metrics (the `dialect` dimension) and the
marketplace listing (`cutout listing <dialect>`, which finds a dialect's operations
by the tags of its routers): `web/dialects/removebg.py` is
`removebg`, `imgproc_ops.py` and `imgproc.py` are both `imgproc`; Cutout's own
routes (account, health, the page) are `none`.
"""
from __future__ import annotations

from typing import Any

PACKAGE = __name__.rsplit(".", 1)[0] + ".dialects."
NONE = "none"


def dialect_of(endpoint: Any) -> str:
    """The dialect of a route's endpoint function (api4ai, removebg, azure, adobe, imgproc),
    or "none" for Cutout's own routes and None (no route matched)."""
    return dialect_of_module(getattr(endpoint, "__module__", "") or "")


def dialect_of_module(module: str) -> str:
    """"removebg" for cutout.web.dialects.removebg, "imgproc" for ...imgproc_ops; else "none"."""
    if not module.startswith(PACKAGE):
        return NONE
    return module[len(PACKAGE):].split(".")[0].split("_")[0]


def dialect_tags() -> dict[str, set[str]]:
    """The OpenAPI tags each dialect's routers give their operations, by dialect."""
    import importlib
    import pkgutil

    from fastapi import APIRouter

    package = importlib.import_module(PACKAGE.rstrip("."))
    tags: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(package.__path__, PACKAGE):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, APIRouter):
                tags.setdefault(dialect_of_module(info.name), set()).update(map(str, value.tags))
    return tags
