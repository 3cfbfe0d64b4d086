"""Real stand-ins for AWS, started by fixtures: dynalite (DynamoDB) and moto's server (S3, ...).

Both listen on 127.0.0.1 on free ports, once per session, and boto3 finds them
through the standard AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 (and
_SECRETS_MANAGER) variables, so production code has no test hooks.

Importing this plugin also fixes the suite's environment: a throw-away
CUTOUT_DATA_DIR (the SQLite store of apps built from the environment), no
CUTOUT_TABLE, and anonymous use on the top plan, so tests that do not care
about accounts call the API without keys and never hit a quota. Tests about
accounts build their own Settings.
"""
from __future__ import annotations

import atexit
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
DYNALITE = ROOT / "node_modules" / ".bin" / "dynalite"

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
_DATA_DIR = tempfile.mkdtemp(prefix="cutout-tests-")
atexit.register(shutil.rmtree, _DATA_DIR, True)
os.environ["CUTOUT_DATA_DIR"] = _DATA_DIR
os.environ["CUTOUT_TABLE"] = ""
os.environ.setdefault("CUTOUT_ALLOW_ANONYMOUS", "1")
os.environ.setdefault("CUTOUT_ANONYMOUS_PLAN", "mega")
# No reconciler thread in the apps tests build: a test that needs one runs `reconcile` itself.
os.environ.setdefault("CUTOUT_RECONCILE_SECONDS", "0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Dynalite:
    """A dynalite process persisting to a folder, so it can be stopped and started again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not DYNALITE.exists():
            raise RuntimeError(f"{DYNALITE} is missing: run `make install` (npm ci)")
        self.proc = subprocess.Popen(
            [str(DYNALITE), "--host", "127.0.0.1", "--port", str(self.port), "--path", str(self.path),
             "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """dynalite is down inside the block and back (same port, same data) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


# What the session's servers put in the environment while they run; the suite's
# environment-restoring fixture (conftest.restore_environment) keeps these.
SESSION_ENV: dict[str, str] = {}


@contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    session = {name: SESSION_ENV.get(name) for name in values}
    os.environ.update(values)
    SESSION_ENV.update(values)
    try:
        yield
    finally:  # a nested server (a proxy in front of dynalite) gives the outer one back
        for name, old in saved.items():
            if session[name] is None:
                SESSION_ENV.pop(name, None)
            else:
                SESSION_ENV[name] = session[name]
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@pytest.fixture(scope="session")
def dynalite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dynalite]:
    """dynalite on a free port; AWS_ENDPOINT_URL_DYNAMODB points at it for the session."""
    server = Dynalite(tmp_path_factory.mktemp("dynalite"))
    server.start()
    try:
        with _env(AWS_ENDPOINT_URL_DYNAMODB=server.endpoint):
            yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on a free port; S3 and Secrets Manager endpoints point at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with _env(AWS_ENDPOINT_URL_S3=endpoint, AWS_ENDPOINT_URL_SECRETS_MANAGER=endpoint):
            yield endpoint
    finally:
        server.stop()


@pytest.fixture
def dynamo_table(dynalite: Dynalite) -> str:
    """A new, empty table in dynalite, created the way `cutout table create` does."""
    from cutout.stores.dynamodb import DynamoStore

    name = f"cutout-test-{uuid.uuid4().hex[:12]}"
    DynamoStore(name).create_table()
    return name


class ThrottlingProxy:
    """An HTTP proxy in front of dynalite that throttles, loses or holds back answers.

    DynamoDB throttles under load and its answers get lost (timeouts, dropped
    connections); dynalite does neither. For the next calls of the named operations
    (optionally only those whose request body contains `matching`) this proxy:
    - `throttle(n, ...)`: answers as DynamoDB does when throttling (HTTP 400,
      ProvisionedThroughputExceededException), without forwarding;
    - `drop(n, ...)`: forwards the call (the write happens) and closes the
      connection without an answer, as a reset or a lost response does;
    - `delay(seconds, n, ...)`: forwards the call and holds the answer back for
      `seconds` (longer than the client's read timeout: the write happened, the
      client times out);
    and forwards everything else unchanged.
    """

    ERROR = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.remaining = 0
        self.mode = "throttle"
        self.hold_seconds = 0.0
        self.matching = b""
        self.operations: set[str] = set()
        self.seen: list[str] = []
        self.throttled: list[str] = []  # the calls the fault hit, whatever it was
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB's endpoint does

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                with proxy._lock:
                    proxy.seen.append(operation)
                    hit = (proxy.remaining > 0 and operation in proxy.operations
                           and proxy.matching in body)
                    mode = proxy.mode
                    if hit:
                        proxy.remaining -= 1
                        proxy.throttled.append(operation)
                if hit and mode == "throttle":
                    payload = json.dumps({"__type": proxy.ERROR, "message": "Throughput exceeded"})
                    self._answer(400, {"Content-Type": "application/x-amz-json-1.0"},
                                 payload.encode())
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request("POST", self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                if hit and mode == "drop":
                    self.close_connection = True  # the write is done; its answer never comes
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if hit and mode == "delay":
                    time.sleep(proxy.hold_seconds)
                keep = {k: v for k, v in answer.getheaders()
                        if k.lower() not in ("content-length", "connection", "transfer-encoding")}
                try:
                    self._answer(answer.status, keep, data)
                except OSError:  # the client gave up waiting (a delayed answer)
                    self.close_connection = True

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _arm(self, mode: str, count: int, operations: tuple[str, ...], matching: str = "",
             hold: float = 0.0) -> None:
        with self._lock:
            self.mode, self.remaining, self.operations = mode, count, set(operations)
            self.matching, self.hold_seconds = matching.encode(), hold
            self.seen.clear()
            self.throttled.clear()

    def throttle(self, count: int, *operations: str, matching: str = "") -> None:
        """Refuse the next `count` matching calls as DynamoDB does when throttling."""
        self._arm("throttle", count, operations, matching)

    def drop(self, count: int, *operations: str, matching: str = "") -> None:
        """Lose the answers of the next `count` matching calls (the calls themselves happen)."""
        self._arm("drop", count, operations, matching)

    def delay(self, seconds: float, count: int, *operations: str, matching: str = "") -> None:
        """Hold back the answers of the next `count` matching calls for `seconds`."""
        self._arm("delay", count, operations, matching, seconds)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def throttling_proxy(dynalite: Dynalite) -> Iterator[ThrottlingProxy]:
    """A ThrottlingProxy in front of the session's dynalite; AWS_ENDPOINT_URL_DYNAMODB points at it."""
    proxy = ThrottlingProxy(dynalite.port)
    try:
        with _env(AWS_ENDPOINT_URL_DYNAMODB=proxy.endpoint):
            yield proxy
    finally:
        proxy.close()


@pytest.fixture
def same_minute() -> None:
    """Start the test with at least 10 s left in the minute.

    Rate windows are calendar minutes; a test that compares several requests'
    windows through the HTTP API (where the clock is the real one) waits out a
    minute that is about to end, instead of failing now and then.
    """
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)


class StallingProxy:
    """A TCP proxy in front of a local server that can stall like a paused peer.

    While `paused` (a context manager; or `pause()`/`resume()`), it still
    accepts connections and takes what clients send, but passes nothing on in
    either direction: a client's call hangs until its own timeout, as against a
    stopped process or a stalled network. What arrived while paused is dropped
    on resume (those connections are closed), so a call that gave up leaves no
    late effect. Used for moto's S3 and SQS (the `stalling_moto` fixture); any
    HTTP or TCP service works.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._running = threading.Event()
        self._running.set()
        self._epoch = 0  # bumped by every pause: connections of an older epoch are dropped
        self._closed = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held = 0  # chunks held back since the last pause
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def pause(self) -> None:
        with self._lock:
            self._epoch += 1
            self.held = 0
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @contextmanager
    def paused(self) -> Iterator["StallingProxy"]:
        self.pause()
        try:
            yield self
        finally:
            self.resume()

    def close(self) -> None:
        self._closed = True
        self._running.set()
        self.listener.close()
        with self._lock:
            for sock in list(self._sockets):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets.update((client, upstream))
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                epoch = self._epoch
                if not self._running.is_set():
                    with self._lock:
                        self.held += 1
                    self._running.wait()
                    if self._epoch != epoch or self._closed:
                        break  # arrived while paused: dropped with its connection
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            with self._lock:
                self._sockets.discard(sock)
            try:
                sock.close()
            except OSError:
                pass


@pytest.fixture
def stalling_moto(moto_server: str) -> Iterator[SimpleNamespace]:
    """moto's S3 and SQS each behind its own StallingProxy (`.s3`, `.sqs`); boto3 clients made
    while the fixture is active (AWS_ENDPOINT_URL_S3, _SQS) go through them."""
    port = int(moto_server.rsplit(":", 1)[1])
    s3, sqs = StallingProxy(port), StallingProxy(port)
    try:
        with _env(AWS_ENDPOINT_URL_S3=s3.endpoint, AWS_ENDPOINT_URL_SQS=sqs.endpoint):
            yield SimpleNamespace(s3=s3, sqs=sqs, endpoint=moto_server)
    finally:
        s3.close()
        sqs.close()
