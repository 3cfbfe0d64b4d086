"""Real HTTP servers on 127.0.0.1: canned routes for URL inputs, and the app under uvicorn."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class LocalServer:
    """Serve `routes[path]`; records every request's path and Host header, and every PUT
    (path with query, headers, body) answered `put_status`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        self.puts: list[tuple[str, dict[str, str], bytes]] = []
        self.put_status = 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append((self.path, self.headers.get("Host", "")))
                route = server.routes.get(self.path.split("?")[0], Route(404, b"not found"))
                time.sleep(route.delay)
                self.send_response(route.status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                try:
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_PUT(self) -> None:  # noqa: N802: a presigned upload URL's bucket
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.puts.append((self.path, dict(self.headers), body))
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
