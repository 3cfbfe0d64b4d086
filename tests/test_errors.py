"""The error tree drawn in errors.py's docstring is the whole tree: every CutoutError in the package."""
from __future__ import annotations

import importlib
import pkgutil
import re

import cutout
from cutout import errors


def every_error() -> set[type[errors.CutoutError]]:
    for module in pkgutil.walk_packages(cutout.__path__, "cutout."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: set[type[errors.CutoutError]] = set()
    todo = [errors.CutoutError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("cutout.") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_the_docstring_draws_every_error_class() -> None:
    drawn = set(re.findall(r"\b([A-Z][A-Za-z]+)\b", errors.__doc__ or ""))
    missing = sorted(f"{cls.__module__}.{cls.__name__}" for cls in every_error()
                     if cls.__name__ not in drawn)
    assert not missing, f"errors.py's tree does not draw: {missing}"


def test_every_error_belongs_to_a_family() -> None:
    families = (errors.InputError, errors.AccessError, errors.NotFound, errors.Unavailable)
    loose = sorted(cls.__name__ for cls in every_error()
                   if not issubclass(cls, families) and cls not in families)
    assert not loose, f"errors outside the four families: {loose}"
