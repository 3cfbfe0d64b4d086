"""`cutout listing`: a marketplace-ready OpenAPI document for one dialect (docs/marketplace.md).

RapidAPI takes an API from an OpenAPI document with these rules (Rapid's
"Adding and Updating OpenAPI Documents"): only local `$ref`s (it resolves them
on import), one security policy for the whole API, the Base URL its gateway
forwards to taken from `servers`, and its own metadata as `x-` extensions on
`info` (`x-category`, `x-long-description`, `x-website`, `x-thumbnail`,
`x-public`, `x-version-lifecycle`) and at the root (`x-documentation.readme`).
From the spec the app serves (`web/openapi.py`, the same as docs/openapi.json),
this command keeps one dialect's operations, resolves every reference,
replaces Cutout's own key schemes by the gateway (consumers authenticate to
Rapid; Rapid calls the stack with `X-RapidAPI-Proxy-Secret`, which Cutout
checks), writes the plans as Rapid's tiers map to them (`plans.json`'s
`rapidapi` table, the same one the proxy secret path uses), and validates the
result with openapi-spec-validator. By default the document is OpenAPI 3.0.3,
which every hub importer reads; `--openapi-version 3.1` keeps the served 3.1.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

Document = dict[str, Any]

# What each dialect is, for the listing's title and description (the routes come from the app).
DIALECTS: dict[str, tuple[str, str]] = {
    "api4ai": ("Background removal (API4AI-compatible)",
               "Cut-outs, masks and shadows from any photo, in API4AI's background-removal API."),
    "removebg": ("Background removal (remove.bg-compatible)",
                 "Transparent PNGs, masks and new backgrounds, in remove.bg's API: existing "
                 "remove.bg clients work by changing the base URL."),
    "azure": ("Background removal (Azure Image Analysis-compatible)",
              "Foreground mattes and cut-outs, in Azure Image Analysis 4.0's segment operation."),
    "adobe": ("Background removal jobs (Adobe Remove Background v2-compatible)",
              "Asynchronous background removal: submit a job, poll its status or get a signed "
              "webhook, in Adobe's Remove Background v2 API."),
    "imgproc": ("Stored images and background removal (IMG Processing-compatible)",
                "Upload images once, then crop, resize, convert, watermark and remove "
                "backgrounds, in IMG Processing's stored-images API."),
    "adobe_v1": ("Background removal jobs (Adobe Photoshop API v1-compatible, for existing clients)",
                 "Cut-outs and masks written to your presigned URLs, in Adobe Photoshop API v1's "
                 "/sensei/cutout and /sensei/mask, which Adobe's own SDK still calls."),
}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
RAPID_TIERS = ("BASIC", "PRO", "ULTRA", "MEGA")


class ListingError(Exception):
    """The document cannot be made listing-ready (a remote $ref, a cycle, invalid OpenAPI)."""


def dialect_operations(spec: Document, dialect: str) -> set[tuple[str, str]]:
    """(path, method) of every operation of `dialect` in the spec: those carrying a tag of the
    dialect's routers (web/route_dialect.py)."""
    from ..web.route_dialect import dialect_tags

    tags = dialect_tags(dialect)
    return {(path, method) for path, methods in spec["paths"].items() for method, op in methods.items()
            if method in HTTP_METHODS and tags & set(op.get("tags", []))}


def resolve(node: Any, root: Document, seen: tuple[str, ...] = ()) -> Any:
    """`node` with every `$ref` replaced by a copy of its target (local references only).

    Raises ListingError for a remote or unresolvable reference, or a cycle (which a
    resolved document cannot hold)."""
    if isinstance(node, list):
        return [resolve(item, root, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ListingError(f"only local references can be listed, not {ref!r}")
        if ref in seen:
            raise ListingError(f"{ref} refers to itself; a resolved document cannot hold it")
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise ListingError(f"{ref} points at nothing")
            target = target[part]
        resolved = resolve(copy.deepcopy(target), root, (*seen, ref))
        siblings = {k: v for k, v in node.items() if k != "$ref"}  # 3.1 allows them beside $ref
        return {**resolved, **resolve(siblings, root, seen)} if siblings else resolved
    return {key: resolve(value, root, seen) for key, value in node.items()}


def to_openapi_30(node: Any) -> Any:
    """The 3.1 schema keywords the served spec uses, said the 3.0 way: `contentEncoding:
    base64` is `format: byte`; a type list with "null", or an anyOf/oneOf with a
    `{"type": "null"}` choice, is the rest with `nullable: true`. Anything else 3.0
    lacks is left for the validator to refuse."""
    if isinstance(node, list):
        return [to_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_openapi_30(value) for key, value in node.items()}
    for keyword in ("anyOf", "oneOf"):  # pydantic's Optional[X]: [X, {"type": "null"}]
        choices = out.get(keyword)
        if isinstance(choices, list) and {"type": "null"} in choices:
            rest = [c for c in choices if c != {"type": "null"}]
            del out[keyword]
            if len(rest) == 1:
                out = {**rest[0], **out}
            else:
                out[keyword] = rest
            out["nullable"] = True
    if out.get("contentEncoding") == "base64":
        del out["contentEncoding"]
        out.setdefault("format", "byte")
    kind = out.get("type")
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
        if len(others) != 1:
            raise ListingError(f"type {kind} has no OpenAPI 3.0 form")
        out["type"] = others[0]
        if "null" in kind:
            out["nullable"] = True
    return out


def plans_markdown(plans: Any) -> str:
    """The Rapid tiers and the Cutout plan each maps to, as a Markdown table."""
    rows = ["| Rapid plan | megapixels a minute | credits a month |", "|---|---|---|"]
    for tier in RAPID_TIERS:
        plan = plans.for_rapidapi(tier)
        if plan is not None:
            credits = "unlimited" if plan.monthly_credits is None else f"{plan.monthly_credits:,.0f}"
            rows.append(f"| {tier} | {plan.mp_per_minute:,} | {credits} |")
    return "\n".join(rows)


def build(spec: Document, operations: set[tuple[str, str]], dialect: str, *, base_url: str,
          plans: Any, category: str, website: str = "", thumbnail: str = "",
          long_description: str = "", public: bool = False, version: str = "3.0") -> Document:
    """The listing document for `dialect` from the app's `spec` (not modified).

    Raises ListingError when the result is not a valid OpenAPI document of `version`."""
    title, summary = DIALECTS[dialect]
    paths: Document = {}
    for path, methods in spec["paths"].items():
        kept = {m: op for m, op in methods.items() if m not in HTTP_METHODS or (path, m) in operations}
        if any(m in HTTP_METHODS for m in kept):
            paths[path] = kept
    if not paths:
        raise ListingError(f"the spec has no operation of the {dialect} dialect")
    for methods in paths.values():
        for method, operation in methods.items():
            if method in HTTP_METHODS:
                operation.pop("security", None)  # the gateway's one policy replaces Cutout's keys
    resolved = resolve({"paths": paths}, spec)["paths"]
    tags = {tag for methods in resolved.values() for op in methods.values() if isinstance(op, dict)
            for tag in op.get("tags", [])}
    readme = (
        f"{summary}\n\nCall it through RapidAPI with your `X-RapidAPI-Key` and `X-RapidAPI-Host` "
        "headers; every request is metered in megapixels (a request weighs its megapixels rounded "
        "up, at least 1) against your plan's minute, and in credits against its month. Answers "
        "carry `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` and "
        "`X-Credits-Charged`.\n\n## Plans\n\n" + plans_markdown(plans))
    info: Document = {
        "title": f"Cutout: {title}",
        "version": spec["info"]["version"],
        "description": summary,
        "x-category": category,
        "x-long-description": long_description or readme,
        "x-public": public,
        "x-version-lifecycle": "active",
    }
    if website:
        info["x-website"] = website
    if thumbnail:
        info["x-thumbnail"] = thumbnail
    document: Document = {
        "openapi": spec["openapi"],
        "info": info,
        "servers": [{"url": base_url.rstrip("/")}],
        "tags": [t for t in spec.get("tags", []) if t.get("name") in tags] or
                [{"name": name} for name in sorted(tags)],
        "paths": resolved,
        "x-documentation": {"readme": readme},
    }
    if version == "3.0":
        document = to_openapi_30(document)
        document["openapi"] = "3.0.3"
    validate(document)
    return document


def validate(document: Document) -> None:
    """Raise ListingError unless `document` is valid OpenAPI (3.0 or 3.1) with no `$ref` left."""
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    if '"$ref"' in json.dumps(document):
        raise ListingError("a reference is left unresolved")
    validator = OpenAPIV30SpecValidator if document["openapi"].startswith("3.0") else OpenAPIV31SpecValidator
    errors = list(validator(document).iter_errors())
    if errors:
        first: OpenAPIValidationError = errors[0]
        raise ListingError(f"not valid OpenAPI {document['openapi']} ({len(errors)} errors): {first.message}")


def run(args: argparse.Namespace) -> int:
    """Write the listing document for `args.dialect` (stdout, or --output)."""
    import tempfile
    from dataclasses import replace

    from ..accounts.plans import load_plans
    from ..config import settings
    from ..web import create_app

    cfg = settings()
    with tempfile.TemporaryDirectory() as data_dir:  # the spec does not depend on the store
        app = create_app(replace(cfg, table="", bucket="", job_queue_url="", data_dir=data_dir,
                                 log_level="WARNING"))
        spec = copy.deepcopy(app.openapi())
    operations = dialect_operations(spec, args.dialect)
    try:
        document = build(spec, operations, args.dialect, base_url=args.base_url,
                         plans=load_plans(cfg.plans_file), category=args.category,
                         website=args.website, thumbnail=args.thumbnail,
                         long_description=args.long_description.read_text() if args.long_description else "",
                         public=args.public, version=args.openapi_version)
    except ListingError as exc:
        print(f"cutout listing: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        count = sum(1 for methods in document["paths"].values() for m in methods if m in HTTP_METHODS)
        print(f"wrote {args.output}: {count} operations, OpenAPI {document['openapi']}, "
              f"base URL {document['servers'][0]['url']}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_command(commands: Any) -> None:
    """Register `cutout listing` on the CLI's subcommands."""
    p = commands.add_parser("listing", help="write a marketplace-ready OpenAPI document for one dialect",
                            description=__doc__.split("\n\n")[0])
    p.add_argument("dialect", choices=sorted(DIALECTS))
    p.add_argument("--base-url", required=True,
                   help="where the marketplace's gateway forwards requests: the stack's ApiUrl output")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    p.add_argument("--category", default="Visual Recognition", help="the hub's category (info.x-category)")
    p.add_argument("--website", default="", help="info.x-website")
    p.add_argument("--thumbnail", default="", help="URL of the listing's image (info.x-thumbnail)")
    p.add_argument("--long-description", type=Path,
                   help="Markdown file for info.x-long-description (default: the dialect, how to call "
                        "it, and the plans)")
    p.add_argument("--public", action="store_true", help="info.x-public: list it publicly on import")
    p.add_argument("--openapi-version", choices=("3.0", "3.1"), default="3.0")
    p.set_defaults(run=run)
