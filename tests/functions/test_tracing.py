"""Tracing on: one trace from the API function through DynamoDB, S3 and SQS into the jobs function.

The handlers run in a fresh interpreter set up as Lambda sets up a traced
function (`_X_AMZN_TRACE_ID` with the invocation's trace header, the X-Ray
daemon's address, `LAMBDA_TASK_ROOT`); the X-Ray SDK sends its segments over
UDP to a socket here, as it would to the daemon, and the test reads them. The
job's SendMessage goes through a recording proxy in front of moto's SQS, so the
trace header the API function really sends is seen: SQS keeps that header as
the message's AWSTraceHeader, which Lambda's SQS event source hands to the jobs
function and X-Ray uses to link its trace to the API's. The jobs function is
then invoked with that message (AWSTraceHeader set as SQS sets it) under its
own invocation trace, and its subsegments carry the job id.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
API_TRACE = "Root=1-67a0b1c2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
JOBS_TRACE = "Root=1-67a0b1c3-76543210fedcba9876543210;Parent=6f1d0c9e8a534b7e;Sampled=1"

SCRIPT = r"""
import importlib.util, json, os, sys
sys.path.insert(0, sys.argv[1])
from invoke import Context as LambdaContext

def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

root = sys.argv[2]
api = load(f"{root}/functions/api/handler.py", "api_handler")
jobs = load(f"{root}/functions/jobs/handler.py", "jobs_handler")
key = api.app.state.services.accounts.create_key("mega", owner="trace")[0]
os.environ["_X_AMZN_TRACE_ID"] = sys.argv[3]  # what Lambda sets for the API's invocation
event = json.load(open(f"{root}/events/api-adobe-remove-background.json"))
event["headers"]["x-api-key"] = key
answer = api.handler(event, LambdaContext())
job_id = json.loads(answer["body"])["jobId"]
print(json.dumps({"status": answer["statusCode"], "job_id": job_id}), flush=True)
message = json.loads(sys.stdin.readline())  # the SQS record, as the event source hands it on
os.environ["_X_AMZN_TRACE_ID"] = sys.argv[4]  # the jobs function's own invocation
print(json.dumps(jobs.handler({"Records": [message]}, LambdaContext())), flush=True)
"""


class Recorder:
    """A proxy in front of moto's server that keeps each request's X-Amz-Target and trace header."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.seen: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.seen.append((self.headers.get("X-Amz-Target", ""),
                                      self.headers.get("X-Amzn-Trace-Id", "")))
                upstream_conn = http.client.HTTPConnection(host, int(port), timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream_conn.request("POST", self.path, body=body, headers=headers)
                answer = upstream_conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Daemon:
    """Stands in for the X-Ray daemon: collects the segment documents sent to its UDP port."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.socket.getsockname()[1]
        self.documents: list[dict] = []
        self.running = True
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        while self.running:
            try:
                data = self.socket.recv(65536)
            except socket.timeout:
                continue
            header, _, body = data.decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            self.documents.append(json.loads(body))

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


def flatten(document: dict) -> list[dict]:
    """A segment document and every subsegment inside it, each with its trace id."""
    out = []
    stack = [(document, document.get("trace_id"))]
    while stack:
        node, trace = stack.pop()
        out.append({**node, "trace_id": node.get("trace_id", trace)})
        stack.extend((child, node.get("trace_id", trace)) for child in node.get("subsegments", []))
    return out


@pytest.fixture
def traced(moto_server, dynamo_table, tmp_path):
    sqs_proxy = Recorder(moto_server)
    daemon = Daemon()
    sqs = boto3.client("sqs", endpoint_url=moto_server)
    queue_url = sqs.create_queue(QueueName=f"trace-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    bucket = f"cutout-trace-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    env = {**os.environ, "CUTOUT_TABLE": dynamo_table, "CUTOUT_BUCKET": bucket,
           "CUTOUT_JOB_QUEUE_URL": queue_url, "CUTOUT_ALLOW_ANONYMOUS": "0",
           "CUTOUT_DATA_DIR": str(tmp_path), "AWS_ENDPOINT_URL_SQS": sqs_proxy.endpoint,
           # as Lambda sets them for a function with Tracing: Active
           "POWERTOOLS_TRACE_DISABLED": "false", "POWERTOOLS_SERVICE_NAME": "cutout",
           "AWS_LAMBDA_FUNCTION_NAME": "cutout-api", "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
           "AWS_XRAY_DAEMON_ADDRESS": daemon.address, "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR"}
    try:
        yield env, sqs, queue_url, sqs_proxy, daemon
    finally:
        sqs_proxy.close()
        daemon.close()


def test_one_trace_from_the_api_through_sqs_into_the_jobs_function(traced):
    env, sqs, queue_url, sqs_proxy, daemon = traced
    run = subprocess.Popen([sys.executable, "-c", SCRIPT, str(ROOT / "events"), str(ROOT),
                            API_TRACE, JOBS_TRACE], env=env, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = (line for line in run.stdout if line.startswith('{"status"') or line.startswith('{"batch'))
        submitted = json.loads(next(lines))
        assert submitted["status"] == 202
        job_id = submitted["job_id"]
        (m,) = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"])["Messages"]
        sent = [trace for target, trace in sqs_proxy.seen if target.endswith("SendMessage")]
        assert len(sent) == 1
        # What SQS stores as the message's AWSTraceHeader and hands to the jobs function.
        record = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                  "attributes": {**m["Attributes"], "AWSTraceHeader": sent[0]},
                  "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
                  "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs"}
        run.stdin.write(json.dumps(record) + "\n")
        run.stdin.flush()
        assert json.loads(next(lines)) == {"batchItemFailures": []}
    finally:
        run.stdin.close()
        stderr = run.stderr.read()
        assert run.wait(timeout=120) == 0, stderr[-3000:]
    daemon.close()

    api_root = API_TRACE.split(";")[0].removeprefix("Root=")
    jobs_root = JOBS_TRACE.split(";")[0].removeprefix("Root=")
    nodes = [n for d in daemon.documents for n in flatten(d)]
    by_trace: dict[str, list[dict]] = {}
    for node in nodes:
        by_trace.setdefault(node["trace_id"], []).append(node)
    assert set(by_trace) == {api_root, jobs_root}

    # The API's invocation: its handler, and the store, the blobs and the queue under it.
    api_calls = {(n.get("name"), n.get("aws", {}).get("operation")) for n in by_trace[api_root]
                 if n.get("namespace") == "aws"}
    assert ("dynamodb", "PutItem") in api_calls  # the job record
    assert ("dynamodb", "UpdateItem") in api_calls  # the charge
    assert ("s3", "PutObject") in api_calls  # the uploaded image
    assert ("sqs", "SendMessage") in api_calls
    (send,) = [n for n in by_trace[api_root] if n.get("aws", {}).get("operation") == "SendMessage"]
    # The header SendMessage carried continues this trace, with the SQS call as its parent.
    assert sent[0].startswith(f"Root={api_root};Parent={send['id']};Sampled=1")

    # The jobs function's invocation: its own trace (Lambda starts it and X-Ray links it to
    # the API's through AWSTraceHeader), annotated with the job, reading and writing for it.
    jobs_nodes = by_trace[jobs_root]
    annotated = [n for n in jobs_nodes if n.get("annotations", {}).get("job_id")]
    assert annotated and {n["annotations"]["job_id"] for n in annotated} == {job_id}
    jobs_calls = {(n.get("name"), n.get("aws", {}).get("operation")) for n in jobs_nodes
                  if n.get("namespace") == "aws"}
    assert {("dynamodb", "GetItem"), ("dynamodb", "PutItem"), ("s3", "GetObject"),
            ("s3", "PutObject")} <= jobs_calls
