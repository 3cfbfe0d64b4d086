"""docs/deploy.md describes the template as it is: parsed from template.yaml, checked against the page.

Every resource (by logical id and kind), every parameter with its default (the
questions `sam deploy --guided` asks), every output, and every IAM grant of each
function's role (each statement's actions, and the managed policies SAM adds)
must appear on the page, in its tables. Adding any of them to the template
without documenting it fails here; `test_an_undocumented_parameter_is_caught`
shows it with a parameter added to a copy of the template.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode

from .test_template import ROOT, sam_env, transformed  # noqa: F401 (fixtures)

DOC = ROOT / "docs" / "deploy.md"
FUNCTIONS = ("ApiFunction", "S3TriggerFunction", "JobsFunction", "WebhooksFunction",
             "ReconcileFunction")


@pytest.fixture(scope="module")
def template() -> dict:
    parsed, errors = decode(str(ROOT / "template.yaml"))
    assert not errors
    return parsed


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of every row of the Markdown table(s) whose first header cell is `heading`."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not inside and cells[0] == heading:
                inside = True
                continue
            if inside and not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        else:
            inside = False
    return rows


def shown_default(value: object) -> str:
    return "empty" if value == "" else f"`{value}`"


def undocumented(template: dict, text: str, roles: dict[str, list[tuple[str, list[str]]]]) -> list[str]:
    """Everything of the template the page does not say, as readable lines (empty: in step)."""
    missing = []
    resources = {cells[0].strip("`"): cells[1].strip("`") for cells in table_rows(text, "resource")}
    for name, resource in template["Resources"].items():
        if resources.get(name) != resource["Type"]:
            missing.append(f"resource {name} ({resource['Type']})")
    parameters = {cells[0]: cells[1] for cells in table_rows(text, "parameter")}
    for name, parameter in template["Parameters"].items():
        if parameters.get(f"`{name}`") != shown_default(parameter.get("Default", "")):
            missing.append(f"parameter {name} (default {shown_default(parameter.get('Default', ''))})")
    outputs = {cells[0].strip("`") for cells in table_rows(text, "output")}
    missing += [f"output {name}" for name in template["Outputs"] if name not in outputs]
    grants = [(cells[0].strip("`"), cells[1].strip("`"), set(re.findall(r"`([a-z0-9]+:\w+)`", cells[2])))
              for cells in table_rows(text, "function")]
    for function, statements in roles.items():
        for sid, actions in statements:
            if not any(f == function and (s == sid or sid == "") and set(actions) <= documented
                       for f, s, documented in grants):
                missing.append(f"grant {function} {sid or '(SAM)'}: {', '.join(actions)}")
    return missing


def role_statements(transformed: dict) -> dict[str, list[tuple[str, list[str]]]]:  # noqa: F811
    """Each function's statements after SAM's transform: (Sid, actions); "" for SAM's own."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for function in FUNCTIONS:
        role = transformed["Resources"][f"{function}Role"]["Properties"]
        for policy in role["Policies"]:
            policy = policy["Fn::If"][1] if "Fn::If" in policy else policy
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                out.setdefault(function, []).append(
                    (statement.get("Sid", ""), [actions] if isinstance(actions, str) else actions))
    return out


def test_the_deploy_page_matches_the_template(template, transformed):  # noqa: F811
    text = DOC.read_text()
    assert undocumented(template, text, role_statements(transformed)) == []
    for function in FUNCTIONS:  # the managed policies SAM attaches, named in the prose
        role = transformed["Resources"][f"{function}Role"]["Properties"]
        for arn in role["ManagedPolicyArns"]:
            assert f"`{arn.rsplit('/', 1)[-1]}`" in text, arn


def test_an_undocumented_parameter_is_caught(template, transformed):  # noqa: F811
    """A parameter added to the template but not to the page is reported by name and default;
    so are a new output, a resource and a grant."""
    text = DOC.read_text()
    roles = role_statements(transformed)
    grown = copy.deepcopy(template)
    grown["Parameters"]["MaxQueueDepth"] = {"Type": "Number", "Default": 500}
    grown["Outputs"]["QueueArn"] = {"Value": "x"}
    grown["Resources"]["Extra"] = {"Type": "AWS::SNS::Topic", "Properties": {}}
    roles["JobsFunction"].append(("Extra", ["sqs:ChangeMessageVisibility"]))
    assert undocumented(grown, text, roles) == [
        "resource Extra (AWS::SNS::Topic)", "parameter MaxQueueDepth (default `500`)",
        "output QueueArn", "grant JobsFunction Extra: sqs:ChangeMessageVisibility"]
    changed = copy.deepcopy(template)
    changed["Parameters"]["MemorySize"]["Default"] = 3008  # a default changed, the page not
    assert undocumented(changed, text, role_statements(transformed)) == [
        "parameter MemorySize (default `3008`)"]
