"""The job webhook's delivery: a refused target is given up at once, an unreachable one retried."""
from __future__ import annotations

import json
import socket

from cutout.jobs import webhook
from local_http import Hooks

DOCUMENT = {"jobId": "j-1", "status": "succeeded"}


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_private_target_is_refused_without_a_retry_or_a_request() -> None:
    hooks = Hooks([200])
    waits: list[float] = []
    try:
        # 127.0.0.1 is not on the allow-list here: the guard refuses it (FetchRefused).
        assert not webhook.deliver(hooks.url, DOCUMENT, secret="s", attempts=4, backoff=0.01,
                                   sleep=waits.append)
    finally:
        hooks.close()
    assert waits == [] and hooks.calls == []


def test_a_non_http_scheme_is_refused_and_nothing_is_posted() -> None:
    hooks = Hooks([200])
    waits: list[float] = []
    try:
        target = hooks.url.replace("http://", "ftp://", 1)
        assert not webhook.deliver(target, DOCUMENT, secret="s", attempts=3, backoff=0.01,
                                   allow_hosts=("127.0.0.1",), sleep=waits.append)
    finally:
        hooks.close()
    assert waits == [] and hooks.calls == []


def test_an_unreachable_target_is_retried_with_backoff_then_given_up() -> None:
    waits: list[float] = []
    url = f"http://127.0.0.1:{closed_port()}/hook"
    assert not webhook.deliver(url, DOCUMENT, secret="s", attempts=3, backoff=0.5, timeout=2,
                               allow_hosts=("127.0.0.1",), sleep=waits.append)
    assert waits == [0.5, 1.0]  # three tries: the connection failures were not taken for refusals


def test_a_failing_target_is_retried_until_it_answers_2xx() -> None:
    hooks = Hooks([500, 502, 204])
    waits: list[float] = []
    try:
        assert webhook.deliver(hooks.url, DOCUMENT, secret="s", attempts=4, backoff=0.25,
                               allow_hosts=("127.0.0.1",), sleep=waits.append)
    finally:
        hooks.close()
    assert waits == [0.25, 0.5] and len(hooks.calls) == 3
    assert all(json.loads(body) == DOCUMENT for _, body in hooks.calls)
