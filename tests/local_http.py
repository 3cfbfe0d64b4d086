"""Real HTTP servers on 127.0.0.1: canned routes for URL inputs, and the app under uvicorn.

`LocalServer` is also the fault kit's misbehaving peer (tests/fixtures_aws.py has
the AWS side): a route can wait before answering (`delay`), trickle its body a
byte every `interval` seconds, or its status line and headers too
(`trickle_headers`), and send any header it likes, a bad Content-Length
included. `active` counts the requests it is still answering.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn


@dataclass
class Route:
    """One canned answer. `delay`: seconds before anything is sent; `interval`: seconds
    between bytes of the body (0: all at once), and of the status line and headers too
    when `trickle_headers`. A `Content-Length` in `headers` replaces the true one."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    interval: float = 0.0
    trickle_headers: bool = False


def trickling(body: bytes = b"x" * 600, interval: float = 1.0, headers: bool = False) -> Route:
    """A route that answers 200 a byte every `interval` seconds (the headers too, if asked)."""
    return Route(body=body, headers={"Content-Type": "image/jpeg"}, interval=interval,
                 trickle_headers=headers)


class LocalServer:
    """Serve `routes[path]`; records every request's path and Host header, and every PUT
    (path with query, headers, body) answered `put_status`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        self.puts: list[tuple[str, dict[str, str], bytes]] = []
        self.put_status = 200
        self.put_delay = 0.0  # seconds before a PUT is answered
        self.active = 0  # requests being answered now
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append((self.path, self.headers.get("Host", "")))
                route = server.routes.get(self.path.split("?")[0], Route(404, b"not found"))
                with server._lock:
                    server.active += 1
                try:
                    self._answer(route)
                except OSError:  # the client gave up (a reset, a broken pipe, a TLS EOF)
                    pass
                finally:
                    with server._lock:
                        server.active -= 1

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def _answer(self, route: Route) -> None:
                if server._closing.wait(route.delay):
                    return
                headers = {"Content-Length": str(len(route.body)), **route.headers}
                head = f"HTTP/1.0 {route.status} {self.responses.get(route.status, ('',))[0]}\r\n"
                head += "".join(f"{key}: {value}\r\n" for key, value in headers.items())
                self._send((head + "\r\n").encode("latin-1"), route.interval if route.trickle_headers else 0.0)
                self._send(route.body, route.interval)
                self.close_connection = True

            def _send(self, data: bytes, interval: float) -> None:
                if not interval:
                    self.wfile.write(data)
                    return
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    if server._closing.wait(interval):
                        return

            def do_PUT(self) -> None:  # noqa: N802: a presigned upload URL's bucket
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.puts.append((self.path, dict(self.headers), body))
                time.sleep(server.put_delay)
                self.send_response(server.put_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self._closing.set()  # trickling answers stop
        self.httpd.shutdown()
        self.httpd.server_close()


class Hooks:
    """A real webhook receiver on 127.0.0.1: answers each POST with the next status in `plan`."""

    def __init__(self, plan: list[int]) -> None:
        self.plan = plan
        self.calls: list[tuple[dict, bytes]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.calls.append((dict(self.headers), body))
                status = hooks.plan[min(len(hooks.calls), len(hooks.plan)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HeldHooks:
    """A webhook receiver that hangs: every POST is held open, unanswered, until `release()`
    (then answered 200). `calls` lists the POSTs begun, `answered` counts those answered."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, bytes]] = []
        self.answered = 0
        self._release = threading.Event()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.calls.append((dict(self.headers), body))
                hooks._release.wait(120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    hooks.answered += 1
                except (BrokenPipeError, ConnectionResetError):  # the caller gave up
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


class AppServer:
    """The app under uvicorn on a free 127.0.0.1 port, in a thread: with `settings`, under
    `cutout serve`'s own configuration (httptools, its deadlines and limits)."""

    def __init__(self, app, settings=None) -> None:
        from cutout.web import serve

        config = (serve.config(app, settings, "127.0.0.1", 0) if settings is not None else
                  uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                 access_log=False, lifespan="off"))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
