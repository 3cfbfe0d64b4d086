"""template.yaml is valid, lint-clean, and declares what the deploy docs promise.

Linting runs both cfn-lint (from the dev venv) and `sam validate --lint` (AWS
SAM CLI, kept in its own virtualenv by `make sam-cli` because its pins clash
with the dev tools'). The SAM transform itself is then run (with the
translator inside that SAM CLI) to check what CloudFormation would really
create: the HTTP API route, the function's role, its policies.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = ROOT / "build" / "tools" / "sam"
TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    for key in ("CodeUri", "ContentUri"):  # `sam package` puts S3 locations here
        if key in resource.get("Properties", {}):
            resource["Properties"][key] = "s3://bucket/key"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""


@pytest.fixture(scope="module")
def template() -> dict:
    parsed, errors = decode(str(ROOT / "template.yaml"))
    assert not errors
    return parsed


@pytest.fixture(scope="module")
def sam_env() -> dict[str, str]:
    done = subprocess.run(["make", "sam-cli"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def transformed(sam_env) -> dict:
    done = subprocess.run([str(SAM_VENV / "bin" / "python"), "-c", TRANSLATE,
                           str(ROOT / "template.yaml")],
                          cwd=ROOT, capture_output=True, text=True, env=sam_env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_cfn_lint_is_clean():
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), "template.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_sam_validate_lint_is_clean(sam_env):
    done = subprocess.run([str(SAM_VENV / "bin" / "sam"), "validate", "--lint"], cwd=ROOT,
                          capture_output=True, text=True, env=sam_env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr


def test_parameters_have_the_documented_defaults(template):
    params = template["Parameters"]
    assert params["Runtime"]["Default"] == "python3.12"
    assert set(params["Architecture"]["AllowedValues"]) == {"x86_64", "arm64"}
    assert params["AllowAnonymous"]["Default"] == "false"
    assert params["RapidApiProxySecret"]["NoEcho"] is True
    for name in ("MemorySize", "ModelName", "LogLevel", "Tracing", "ResultRetentionDays"):
        assert "Default" in params[name], name
    outputs = template["Outputs"]
    assert {"ApiUrl", "TableName", "BucketName"} <= set(outputs)


def test_http_api_sends_every_route_to_the_function_as_payload_2(transformed):
    resources = transformed["Resources"]
    api = resources["HttpApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    route = api["Properties"]["Body"]["paths"]["$default"]["x-amazon-apigateway-any-method"]
    integration = route["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["payloadFormatVersion"] == "2.0"
    assert "ApiFunction.Arn" in integration["uri"]["Fn::Sub"]
    function = resources["ApiFunction"]["Properties"]
    assert function["Handler"] == "handler.handler" and function["Timeout"] <= 29
    assert len(function["Layers"]) == 3


def test_the_api_function_role_is_least_privilege(transformed):
    role = transformed["Resources"]["ApiFunctionRole"]["Properties"]
    managed = {arn.rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]}
    assert managed <= {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
    statements = []
    for policy in role["Policies"]:
        document = policy.get("PolicyDocument") or policy["Fn::If"][1]["PolicyDocument"]
        statements += document["Statement"]
    actions = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in listed)
        assert statement["Resource"] != "*"
        actions[statement["Sid"]] = set(listed)
    assert actions["KeysRateLimitsUsage"] == {"dynamodb:GetItem", "dynamodb:PutItem",
                                              "dynamodb:UpdateItem"}
    assert actions["LargeResults"] == {"s3:PutObject", "s3:GetObject"}
    large = next(s for s in statements if s["Sid"] == "LargeResults")
    assert large["Resource"] == {"Fn::Sub": "${Bucket.Arn}/results/api/*"}


def test_table_and_bucket_are_as_the_stores_expect(template):
    resources = template["Resources"]
    table = resources["Table"]["Properties"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH", "sk": "RANGE"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    from cutout.stores import TTL_ATTRIBUTE

    assert TTL_ATTRIBUTE == "ttl"

    bucket = resources["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    from cutout.web.delivery import RESULTS_PREFIX

    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert RESULTS_PREFIX.startswith(rules["ExpireResults"]["Prefix"])
    assert rules["ExpireResults"]["ExpirationInDays"] == {"Ref": "ResultRetentionDays"}


def test_alarms_watch_errors_and_throttles(template):
    alarms = [r["Properties"] for r in template["Resources"].values()
              if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert {("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"), ("AWS/ApiGateway", "5xx")} <= watched


def test_every_layer_is_built_by_its_own_makefile_target(template):
    layers = {name: r for name, r in template["Resources"].items()
              if r["Type"] == "AWS::Serverless::LayerVersion"}
    assert set(layers) == {"CutoutLayer", "DepsLayer", "ModelLayer"}
    for name, layer in layers.items():
        assert layer["Metadata"]["BuildMethod"] == "makefile"
        makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
        assert re.search(rf"^build-{name}:", makefile, re.M), name


def test_every_setting_the_template_passes_is_read_by_the_package(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    source = "\n".join(p.read_text() for p in (ROOT / "layers/cutout/python/cutout").rglob("*.py"))
    for name in variables:
        if name.startswith("CUTOUT_"):
            assert f'"{name}"' in source, f"{name} is set by the template but read nowhere"


def test_s3_trigger_is_subscribed_to_uploads_only_with_retries_and_a_dead_letter_queue(transformed):
    resources = transformed["Resources"]
    notifications = resources["Bucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    (config,) = notifications
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert config["Function"] == {"Fn::GetAtt": ["S3TriggerFunction", "Arn"]}
    invoke = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig")
    props = invoke["Properties"]
    assert props["MaximumRetryAttempts"] == 2 and props["MaximumEventAgeInSeconds"] == 21600
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["S3TriggerDeadLetterQueue", "Arn"]}
    alarm = resources["S3TriggerDeadLetterAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["Threshold"] == 1


def test_s3_trigger_reads_uploads_and_writes_results_only(transformed):
    role = transformed["Resources"]["S3TriggerFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    s3 = {s["Sid"]: (s["Action"], json.dumps(s["Resource"])) for s in statements if "Sid" in s}
    assert s3["ReadUploads"][0] == "s3:GetObject" and s3["ReadUploads"][1].endswith('/uploads/*"}')
    assert s3["WriteResults"][0] == "s3:PutObject" and s3["WriteResults"][1].endswith('/results/*"}')
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.endswith("*") for a in actions)
    assert "s3:DeleteObject" not in actions


def test_api_gateway_cors_agrees_with_the_app(template, transformed):
    """API Gateway answers preflights itself: its lists must be the app's (web/cors.py)."""
    from cutout.web.cors import ALLOW_HEADERS, ALLOW_METHODS, EXPOSE_HEADERS, MAX_AGE_SECONDS

    condition, any_origin, listed = template["Resources"]["HttpApi"]["Properties"][
        "CorsConfiguration"]["Fn::If"]
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "CorsOrigins"}, "*"]}
    assert any_origin["AllowOrigins"] == ["*"]
    assert listed["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsOrigins"}]}
    for cors in (any_origin, listed):
        assert sorted(h.lower() for h in cors["AllowHeaders"]) == sorted(ALLOW_HEADERS)
        assert sorted(cors["ExposeHeaders"]) == sorted(EXPOSE_HEADERS)
        assert cors["AllowMethods"] == list(ALLOW_METHODS)
        assert cors["MaxAge"] == MAX_AGE_SECONDS and cors["AllowCredentials"] is False
    assert template["Parameters"]["CorsOrigins"]["Default"] == "*"
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CUTOUT_CORS_ORIGINS"] == {"Ref": "CorsOrigins"}  # the same comma list
    # What CloudFormation gets after SAM's transform: the same configuration on the API.
    body = transformed["Resources"]["HttpApi"]["Properties"]["Body"]
    _, deployed_any, deployed_listed = body["x-amazon-apigateway-cors"]["Fn::If"]
    assert deployed_any["allowOrigins"] == ["*"]
    for deployed in (deployed_any, deployed_listed):
        assert sorted(h.lower() for h in deployed["allowHeaders"]) == sorted(ALLOW_HEADERS)
        assert sorted(deployed["exposeHeaders"]) == sorted(EXPOSE_HEADERS)
        assert deployed["allowMethods"] == list(ALLOW_METHODS)
        assert deployed["maxAge"] == MAX_AGE_SECONDS


def test_stored_images_routes_permissions_and_retention(template, transformed):
    """/v1/images: named routes, least-privilege access to images/ and image records,
    CUTOUT_IMAGE_TTL_DAYS from the parameter, and the bucket's images/ lifecycle rule."""
    paths = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    assert {"/v1/images", "/v1/images/{proxy+}", "/v1/public/images/{token}"} <= set(paths)
    role = transformed["Resources"]["ApiFunctionRole"]["Properties"]
    statements = {s["Sid"]: s for p in role["Policies"] if "PolicyDocument" in p
                  for s in p["PolicyDocument"]["Statement"]}
    images = statements["StoredImages"]
    assert set(images["Action"]) == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}
    from cutout.imagelib import PREFIX

    assert images["Resource"] == {"Fn::Sub": "${Bucket.Arn}/" + PREFIX + "*"}
    records = statements["StoredImageRecords"]
    assert set(records["Action"]) == {"dynamodb:Query", "dynamodb:DeleteItem"}
    assert records["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "IMAGES#*", "PUBLIC#*"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["CUTOUT_IMAGE_TTL_DAYS"] == {"Ref": "ImageRetentionDays"}
    assert template["Parameters"]["ImageRetentionDays"]["Default"] == 0
    rules = {r["Id"]: r for r in
             template["Resources"]["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    rule = rules["ExpireStoredImages"]
    assert rule["Prefix"] == PREFIX
    assert rule["Status"] == {"Fn::If": ["HasImageRetention", "Enabled", "Disabled"]}
    assert rule["ExpirationInDays"] == {"Fn::If": ["HasImageRetention",
                                                   {"Ref": "ImageRetentionDays"}, 1]}


def test_webhooks_have_their_own_queue_function_and_dead_letter_queue(template, transformed):
    from cutout.config import Settings

    resources = template["Resources"]
    queue = resources["WebhookQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == Settings().webhook_attempts  # as many tries as `make run`
    function = resources["WebhooksFunction"]["Properties"]
    assert function["CodeUri"] == "functions/webhooks/"
    assert (ROOT / "functions" / "webhooks" / "handler.py").exists()
    assert function["Timeout"] > Settings().fetch_timeout  # one attempt fits in an invocation
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    event = function["Events"]["Webhooks"]["Properties"]
    assert event["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert event["BatchSize"] == 1 and event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The jobs function only sends to it: webhooks never take a job instance.
    jobs = resources["JobsFunction"]["Properties"]
    assert jobs["Environment"]["Variables"]["CUTOUT_WEBHOOK_QUEUE_URL"] == {"Ref": "WebhookQueue"}
    assert [e["Properties"]["Queue"] for e in jobs["Events"].values()] == [
        {"Fn::GetAtt": ["JobQueue", "Arn"]}]
    assert "WebhookDeadLetterQueueUrl" in template["Outputs"]

    def actions(role: str) -> dict[str, tuple[set[str], str]]:
        statements = [s for p in transformed["Resources"][role]["Properties"]["Policies"]
                      for s in p["PolicyDocument"]["Statement"] if "Sid" in s]
        return {s["Sid"]: ({s["Action"]} if isinstance(s["Action"], str) else set(s["Action"]),
                           json.dumps(s["Resource"])) for s in statements}

    hooks = actions("WebhooksFunctionRole")
    assert {sid: acts for sid, (acts, _) in hooks.items()} == {
        "JobRecords": {"dynamodb:GetItem"}, "JobResults": {"s3:GetObject"}}
    assert hooks["JobResults"][1].endswith('/results/jobs/*"}')
    send = actions("JobsFunctionRole")["WebhookQueue"]
    assert send[0] == {"sqs:SendMessage"} and "WebhookQueue" in send[1]
