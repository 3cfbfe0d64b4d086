"""One webhook attempt: a refused target is given up at once, a failing or unreachable one
raises for the queue to deliver it again, a 2xx is delivered."""
from __future__ import annotations

import json
import socket

import pytest

from cutout.jobs import webhook
from local_http import Hooks

DOCUMENT = {"jobId": "j-1", "status": "succeeded"}


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_private_target_is_refused_without_a_request() -> None:
    hooks = Hooks([200])
    try:
        # 127.0.0.1 is not on the allow-list here: the guard refuses it (FetchRefused).
        assert webhook.post(hooks.url, DOCUMENT, secret="s") is False
    finally:
        hooks.close()
    assert hooks.calls == []


def test_a_non_http_scheme_is_refused_and_nothing_is_posted() -> None:
    hooks = Hooks([200])
    try:
        target = hooks.url.replace("http://", "ftp://", 1)
        assert webhook.post(target, DOCUMENT, secret="s", allow_hosts=("127.0.0.1",)) is False
    finally:
        hooks.close()
    assert hooks.calls == []


def test_an_unreachable_target_raises_to_be_delivered_again() -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    with pytest.raises(webhook.WebhookFailed):  # a connection failure is not a refusal
        webhook.post(url, DOCUMENT, secret="s", timeout=2, allow_hosts=("127.0.0.1",))


def test_a_failing_target_raises_and_a_2xx_is_delivered() -> None:
    hooks = Hooks([500, 204])
    try:
        with pytest.raises(webhook.WebhookFailed, match="HTTP 500"):
            webhook.post(hooks.url, DOCUMENT, secret="s", allow_hosts=("127.0.0.1",))
        assert webhook.post(hooks.url, DOCUMENT, secret="s", allow_hosts=("127.0.0.1",)) is True
    finally:
        hooks.close()
    assert len(hooks.calls) == 2
    assert all(json.loads(body) == DOCUMENT for _, body in hooks.calls)
