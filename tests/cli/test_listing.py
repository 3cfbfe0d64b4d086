"""`cutout listing`: one dialect's operations as a document RapidAPI imports.

The installed command runs in a subprocess, as an operator runs it; its output is
checked against the spec the app serves (docs/openapi.json, which
tests/web/test_openapi.py keeps equal to it), against Rapid's rules (local
references only, resolved; one security policy, the gateway's; the Base URL in
`servers`; its `x-` metadata on `info`) and by openapi-spec-validator, an
implementation independent of the command's own check.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from cutout.accounts.plans import load_plans

ROOT = Path(__file__).resolve().parents[2]
CUTOUT = Path(sys.executable).parent / "cutout"
SERVED = json.loads((ROOT / "docs" / "openapi.json").read_text())
BASE_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/"
# The served spec's tag(s) of each dialect (docs/openapi.json).
TAGS = {"api4ai": {"api4ai", "account"}, "removebg": {"remove.bg"}, "azure": {"azure"},
        "adobe": {"Adobe Remove Background v2"}, "imgproc": {"IMG Processing"},
        "adobe_v1": {"Adobe Photoshop API v1 (for existing clients)"}}


def listing(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    out = tmp_path / "listing.json"
    done = subprocess.run([str(CUTOUT), "listing", *argv, "-o", str(out)], capture_output=True,
                          text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                       "CUTOUT_DATA_DIR": str(tmp_path / "data")})
    return done, json.loads(out.read_text()) if out.exists() else None


def operations(spec: dict) -> dict[tuple[str, str], dict]:
    return {(path, method): op for path, methods in spec["paths"].items()
            for method, op in methods.items() if isinstance(op, dict) and "responses" in op}


@pytest.mark.parametrize("dialect", sorted(TAGS))
def test_each_dialect_lists_its_own_operations_resolved_and_valid(dialect, tmp_path):
    done, document = listing(tmp_path, dialect, "--base-url", BASE_URL)
    assert done.returncode == 0, done.stderr
    OpenAPIV30SpecValidator(document).validate()
    assert document["openapi"] == "3.0.3"
    text = json.dumps(document)
    assert '"$ref"' not in text and "components" not in document  # every reference resolved
    served = {key for key, op in operations(SERVED).items() if TAGS[dialect] & set(op["tags"])}
    assert set(operations(document)) == served and served
    # The gateway's one policy replaces Cutout's keys: no scheme, no per-operation requirement.
    assert "security" not in document and all("security" not in op for op in operations(document).values())
    assert "X-Api-Key" not in text and "Ocp-Apim-Subscription-Key" not in text
    assert document["servers"] == [{"url": BASE_URL.rstrip("/")}]
    assert f"{len(served)} operations, OpenAPI 3.0.3" in done.stderr


def test_references_are_inlined_with_their_targets(tmp_path):
    """The remove.bg error body is a component in the served spec; the listing carries it inline."""
    _, document = listing(tmp_path, "removebg", "--base-url", BASE_URL)
    served_op = SERVED["paths"]["/v1.0/removebg"]["post"]
    ref = served_op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    target = SERVED["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    listed = document["paths"]["/v1.0/removebg"]["post"]["responses"]["400"]["content"][
        "application/json"]["schema"]
    assert set(listed["properties"]) == set(target["properties"]) and listed["type"] == target["type"]
    # 3.1's base64 keyword said the 3.0 way: the JSON body's image_file_b64 is `format: byte`.
    body = document["paths"]["/v1.0/removebg"]["post"]["requestBody"]["content"]["application/json"]
    fields = body["schema"].get("properties") or {
        k: v for choice in body["schema"]["oneOf"] for k, v in choice.get("properties", {}).items()}
    assert fields["image_file_b64"]["format"] == "byte" and "contentEncoding" not in fields["image_file_b64"]


def test_marketplace_metadata_and_plans_as_rapid_tiers(tmp_path):
    description = tmp_path / "long.md"
    description.write_text("# Cutout\n\nOur own words.\n")
    done, document = listing(tmp_path, "adobe", "--base-url", BASE_URL, "--category", "Media",
                             "--website", "https://cutout.example", "--thumbnail",
                             "https://cutout.example/logo.png", "--public")
    assert done.returncode == 0, done.stderr
    info = document["info"]
    assert info["title"].startswith("Cutout: ") and "Adobe" in info["title"]
    assert (info["x-category"], info["x-website"], info["x-thumbnail"], info["x-public"],
            info["x-version-lifecycle"]) == ("Media", "https://cutout.example",
                                             "https://cutout.example/logo.png", True, "active")
    readme = document["x-documentation"]["readme"]
    assert info["x-long-description"] == readme and "X-RapidAPI-Key" in readme
    plans = load_plans()
    for tier in ("BASIC", "PRO", "ULTRA", "MEGA"):  # as plans.json maps the subscriptions
        plan = plans.for_rapidapi(tier)
        assert f"| {tier} | {plan.mp_per_minute:,} | {plan.monthly_credits:,.0f} |" in readme
    _, own = listing(tmp_path, "adobe", "--base-url", BASE_URL, "--long-description", str(description))
    assert own["info"]["x-long-description"] == "# Cutout\n\nOur own words.\n"
    assert "x-website" not in own["info"] and own["info"]["x-public"] is False


def test_openapi_31_on_request_and_bad_dialects_refused(tmp_path):
    done, document = listing(tmp_path, "imgproc", "--base-url", BASE_URL, "--openapi-version", "3.1")
    assert done.returncode == 0, done.stderr
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"] == SERVED["openapi"] == "3.1.0"
    assert '"$ref"' not in json.dumps(document)
    refused = subprocess.run([str(CUTOUT), "listing", "paypal", "--base-url", BASE_URL],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "invalid choice: 'paypal'" in refused.stderr


def test_every_dialect_the_app_speaks_can_be_listed():
    from cutout.cli.listing import DIALECTS
    from cutout.web.route_dialect import dialects_by_key

    assert list(DIALECTS) == list(dialects_by_key()) == list(TAGS)


def test_a_remote_reference_or_a_cycle_is_refused():
    from cutout.cli.listing import ListingError, resolve

    root = {"a": {"$ref": "#/b"}, "b": {"type": "object", "properties": {"c": {"$ref": "#/b"}}}}
    with pytest.raises(ListingError, match="refers to itself"):
        resolve(root["a"], root)
    with pytest.raises(ListingError, match="only local references"):
        resolve({"$ref": "https://example.com/schema.json"}, root)
    assert resolve({"$ref": "#/b/properties/c/x"}, {"b": {"properties": {"c": {"x": 1}}}}) == 1
