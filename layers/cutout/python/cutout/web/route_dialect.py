"""Which dialect a route belongs to, by the short name of the module that defines it.

One answer for the API function's metrics (the `dialect` dimension) and the
marketplace listing (`cutout listing <dialect>`): the dialects are
`dialects.DIALECTS`; each is known here by its module's name under
web/dialects/ (`removebg`, `imgproc`, ...), which is short, stable and
shell-friendly, where `Dialect.name` is for people (`remove.bg`, `IMG Processing`).
A route of Cutout's own (health, the page, the docs) or no route is `none`.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

from .dialect import Dialect
from .dialects import DIALECTS

NONE = "none"


@functools.cache
def dialects_by_key() -> dict[str, Dialect]:
    """Every dialect of `DIALECTS` by its module's short name, in their order."""
    package = importlib.import_module(f"{__package__}.dialects")
    found: dict[int, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        dialect = getattr(module, "DIALECT", None)
        if dialect is not None:
            found[id(dialect)] = info.name
    return {found[id(dialect)]: dialect for dialect in DIALECTS}


def dialect_of(route: Any) -> str:
    """The key of the dialect a matched route (`scope["route"]`) belongs to, or "none"."""
    dialect = getattr(route, "dialect", None)
    for key, known in dialects_by_key().items():
        if known is dialect:
            return key
    return NONE


def dialect_tags(key: str) -> set[str]:
    """The OpenAPI tags of the dialect's routers that are in the spec (KeyError: no such dialect)."""
    return {str(tag) for mount in dialects_by_key()[key].mounts if mount.in_schema
            for tag in mount.router.tags}
