"""The documentation's generated tables, written from the code and the spec.

- docs/configuration.md: the settings, from the declarations in
  `cutout.config.Settings` (each setting's variable, default, unit and meaning
  are written there once);
- docs/api.md: the operations, from docs/openapi.json (`make openapi`).

    .venv/bin/python docs/hooks/generated.py     # rewrite both pages' tables

As a MkDocs hook (mkdocs.yml `hooks:`) it fills the tables in at build time,
so the site always shows what the code declares; tests/test_docs.py checks
that the committed pages (what GitHub shows) match too.
"""
from __future__ import annotations

import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Callable

DOCS = Path(__file__).resolve().parents[1]
TITLES = {
    "model": "Model", "limits": "Limits", "fetch": "URL inputs (the SSRF guard)", "logs": "Logs",
    "serving": "Serving and memory", "accounts": "Accounts, keys and rate limits",
    "results": "Results and storage", "s3": "The S3 trigger", "images": "Stored images",
    "jobs": "Asynchronous jobs and webhooks", "web": "Browsers and public URLs",
}
# The spec's tags, and the page that documents each (one per dialect, plus Cutout's own routes).
PAGES = {"api4ai": ("API4AI", "dialects/api4ai.md"), "remove.bg": ("remove.bg", "dialects/removebg.md"),
         "azure": ("Azure", "dialects/azure.md"),
         "Adobe Remove Background v2": ("Adobe", "dialects/adobe.md"),
         "IMG Processing": ("IMG Processing", "dialects/imgproc.md"),
         "Adobe Photoshop API v1 (for existing clients)": ("Adobe v1", "dialects/adobe-v1.md"),
         "account": ("Accounts", "accounts.md"), "operations": ("health", "dialects/index.md#health-checks")}
METHODS = ("get", "put", "post", "delete", "patch")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`" if value else "empty"
    if value == "":
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_table() -> str:
    """Every setting as Markdown: one table per group, in declaration order."""
    from cutout.config import GROUPS, Settings

    by_group: dict[str, list[str]] = {group: [] for group in GROUPS}
    for spec in fields(Settings):
        meta = spec.metadata
        if not meta.get("doc"):
            raise ValueError(f"{meta['env']} ({spec.name}) has no doc= in cutout/config.py")
        default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
        unit = meta["unit"] + (f", at least {meta['least']:g}" if meta.get("least") is not None
                               and not meta["unit"].startswith(f"{meta['least']:g}-") else "")
        by_group[meta["group"]].append(
            f"| `{meta['env']}` | {meta['shown'] or _shown(default)} | {unit} | {meta['doc']} |")
    return "\n".join(f"### {TITLES.get(group, group)}\n\n| variable | default | unit | what it does |\n"
                     "|---|---|---|---|\n" + "\n".join(rows) + "\n"
                     for group, rows in by_group.items() if rows)


def operations_table() -> str:
    """Every operation of docs/openapi.json: method, path, what it does, its page."""
    spec = json.loads((DOCS / "openapi.json").read_text())
    rows = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                tag = (op.get("tags") or [""])[0]
                if tag not in PAGES:
                    raise ValueError(f"{method.upper()} {path}: tag {tag!r} has no page in PAGES")
                title, page = PAGES[tag]
                rows.append(f"| `{method.upper()}` | `{path}` | {op.get('summary', '')} | [{title}]({page}) |")
    return "| method | path | what it does | documented in |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


# page -> (start marker, end marker, generator)
TABLES: dict[str, tuple[str, str, Callable[[], str]]] = {
    "configuration.md": ("<!-- settings table: written by docs/hooks/generated.py -->",
                         "<!-- end of settings table -->", settings_table),
    "api.md": ("<!-- operations: written from docs/openapi.json by docs/hooks/generated.py -->",
               "<!-- end of operations -->", operations_table),
}


def fill(page: str, markdown: str) -> str:
    """The page's Markdown with the text between its markers replaced by its table."""
    start, end, make = TABLES[page]
    head, found, rest = markdown.partition(start)
    _old, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise ValueError(f"docs/{page} lacks the markers {start!r} ... {end!r}")
    return f"{head}{start}\n\n{make()}\n{end}{tail}"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: the generated pages get their tables as the code declares them."""
    if page.file.src_uri in TABLES:
        return fill(page.file.src_uri, markdown)
    return markdown


if __name__ == "__main__":
    for name in TABLES:
        path = DOCS / name
        path.write_text(fill(name, path.read_text()))
        print(f"wrote {path}", file=sys.stderr)
