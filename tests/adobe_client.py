"""Calling the Adobe v2 dialect as a client would: post a job, poll it, download the result."""
from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient


def submit(http: TestClient, key: str, body: dict | None = None, upload: bytes | None = None,
           headers: dict | None = None, auth: str = "x-api-key"):
    sent = {auth: key if auth == "x-api-key" else f"Bearer {key}", **(headers or {})}
    if upload is not None:
        return http.post("/v2/remove-background", headers=sent,
                         files={"image": ("photo.jpg", upload, "image/jpeg")},
                         data={"options": json.dumps(body or {})})
    return http.post("/v2/remove-background", headers=sent, json=body)


def wait(http: TestClient, key: str, status_url: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = http.get(status_url, headers={"x-api-key": key})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert body["status"] in ("pending", "running")
        time.sleep(0.1)
    raise AssertionError(f"job not finished after {timeout} s: {body}")


def run(http: TestClient, key: str, body: dict | None = None, upload: bytes | None = None,
        **kw) -> tuple[dict, bytes]:
    accepted = submit(http, key, body, upload, **kw)
    assert accepted.status_code == 202, accepted.text
    assert set(accepted.json()) == {"jobId", "statusUrl"}
    status = wait(http, key, accepted.json()["statusUrl"])
    assert status["jobId"] == accepted.json()["jobId"]
    if status["status"] != "succeeded":
        return status, b""
    (output,) = status["result"]["outputs"]
    download = http.get(output["destination"]["url"])  # no key: the URL is the permission
    assert download.status_code == 200
    assert download.headers["content-type"] == output["mediaType"]
    return status, download.content
