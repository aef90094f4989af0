"""A small threaded HTTP(S) layer: requests routed by method and path pattern to plain handler functions."""

from __future__ import annotations

import json
import re
import ssl
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class ApiRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """Repeated keys and comma-separated values alike (hubspot-api-client repeats, the docs use commas)."""
        return [v for value in self.query.get(name, []) for v in value.split(",") if v]

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, payload, headers: dict[str, str] | None = None) -> ApiResponse:
        return cls(status, json.dumps(payload).encode(), headers=dict(headers or {}))

    @classmethod
    def empty(cls, status: int = 204) -> ApiResponse:
        return cls(status, b"", None)


Handler = Callable[[ApiRequest], ApiResponse]


class Router:
    """Routes (method, path regex) to handlers; path matching can be case-insensitive per route."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler, ignore_case: bool = False) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$", re.IGNORECASE if ignore_case else 0), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """The handler and path parameters; the last value says whether the path exists for another method."""
        path_known = False
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match:
                path_known = True
                if route_method == method:
                    return handler, {k: unquote(v) for k, v in match.groupdict().items()}, True
        return None, {}, path_known


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ApiServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = ApiRequest(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                             {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            response = self.server.app(request)
        except Exception:  # a sandbox bug: answer 500 and show the traceback instead of dropping the connection
            traceback.print_exc()
            response = ApiResponse.of_json(500, {"message": "sandbox internal error", "status": "error"})
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet by default: tests and the CLI print what matters themselves."""


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: Callable[[ApiRequest], ApiResponse], tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.app = app
        if tls is not None:  # handshakes happen in the handler threads, not in the accept loop
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-request is not an error worth a traceback."""


class ServingThread:
    """One listener on 127.0.0.1 at a free port, served from a background thread until stop()."""

    def __init__(self, app: Callable[[ApiRequest], ApiResponse], tls: ssl.SSLContext | None = None) -> None:
        self._server = _ApiServer(app, tls)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"crm-sandbox-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

