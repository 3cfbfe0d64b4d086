"""The documentation: generated tables match the code, and the README reaches every page.

The site itself is built by `make docs` (mkdocs --strict: broken links and
anchors fail it), which CI runs.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import fields
from pathlib import Path

import yaml

from cutout.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _generated():
    spec = importlib.util.spec_from_file_location("docs_generated", DOCS / "hooks" / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages(items) -> list[str]:
    pages = []
    for item in items:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_every_setting_says_what_it_does_and_the_page_lists_them_as_declared() -> None:
    assert all(spec.metadata["doc"] for spec in fields(Settings))
    generated = _generated()
    for page in generated.TABLES:
        committed = (DOCS / page).read_text()
        assert committed == generated.fill(page, committed), (
            f"docs/{page} differs from the code: run `.venv/bin/python docs/hooks/generated.py`")
    table = (DOCS / "configuration.md").read_text()
    for spec in fields(Settings):
        assert f"| `{spec.metadata['env']}` |" in table


def test_the_readme_is_short_and_links_every_page_of_the_site() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    linked = set(re.findall(r"\]\(docs/([\w/.-]+\.md)(?:#[\w-]+)?\)", readme))
    missing = [page for page in _nav_pages(nav) if page not in linked and page != "index.md"]
    assert not missing, f"README.md does not link these pages of the site: {missing}"
    for page in linked:
        assert (DOCS / page).is_file(), f"README.md links docs/{page}, which does not exist"
