"""Which dialect a route belongs to, by its key.

One answer for the API function's metrics (the `dialect` dimension) and the
marketplace listing (`cutout listing <dialect>`): the dialects are
`dialects.DIALECTS`, each known here by its `Dialect.key` (`removebg`,
`imgproc`, ...), which is short, stable and shell-friendly, where `Dialect.name`
is for people (`remove.bg`, `IMG Processing`). A route of Cutout's own (health,
the page, the docs) or no route is `none`.
"""
from __future__ import annotations

from typing import Any

from .dialect import Dialect
from .dialects import DIALECTS

NONE = "none"


def dialects_by_key() -> dict[str, Dialect]:
    """Every dialect of `DIALECTS` by its key, in their order."""
    return {dialect.key: dialect for dialect in DIALECTS}


def dialect_of(route: Any) -> str:
    """The key of the dialect a matched route (`scope["route"]`) belongs to, or "none"."""
    dialect = getattr(route, "dialect", None)
    return dialect.key if isinstance(dialect, Dialect) else NONE


def dialect_tags(key: str) -> set[str]:
    """The OpenAPI tags of the dialect's routers that are in the spec (KeyError: no such dialect)."""
    return {str(tag) for mount in dialects_by_key()[key].mounts if mount.in_schema
            for tag in mount.router.tags}
