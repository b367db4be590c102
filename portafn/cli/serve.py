"""``portafn serve MODULE:APP --host H --port N``: a local HTTP server on the neutral model."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

from portafn.app import App
from portafn.cli.loading import AppLoadError, load_app
from portafn.http import HttpRequest, HttpResponse
from portafn.lazy import Lazy
from portafn.openapi import DEFAULT_PATH as OPENAPI_PATH
from portafn.problems import problem
from portafn.runtime import CORRELATION_HEADER, Runtime


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("serve", help="serve an app's HTTP functions locally")
    p.add_argument("app", metavar="MODULE:APP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--read-timeout",
        type=float,
        default=DEFAULT_READ_TIMEOUT,
        help="seconds a client may stall while sending a request (default: %(default)s)",
    )
    p.set_defaults(run=run)


DEFAULT_READ_TIMEOUT = 30.0
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_RAW_SAFE = "/%!$&'()*+,;=:@-._~"


class BadRequest(Exception):
    """A request the server refuses before the app sees it: ``status`` and a detail."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(detail)


def content_length(values: list[str]) -> int:
    """The body length a request declares: one non-negative decimal, or ``BadRequest`` (400)."""
    distinct = {v.strip() for v in values}
    if not distinct:
        return 0
    if len(distinct) > 1:
        raise BadRequest(400, "The request has conflicting Content-Length headers.")
    text = distinct.pop()
    # int() would accept "+5", " 5" and "5_0"; RFC 9110 allows digits only.
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest(400, "Content-Length must be a non-negative decimal number.")
    return int(text)


def raw_target_path(target: str) -> str:
    """The path of a request target as sent, percent-encoding kept, any raw non-ASCII byte encoded."""
    path = urlsplit(target).path or "/"
    # http.server decodes the request line as latin-1: recover the bytes the client sent.
    return path if path.isascii() else quote(path.encode("latin-1"), safe=_RAW_SAFE)


class PortafnHandler(BaseHTTPRequestHandler):
    """One connection's requests, handed to ``runtime``; refusals answered as problem+json."""

    server_version = "portafn"
    protocol_version = "HTTP/1.1"
    runtime: Runtime
    openapi: Lazy[bytes] | None = None
    timeout = DEFAULT_READ_TIMEOUT
    # Headers and body go out in two writes; without TCP_NODELAY a kept-alive client waits for
    # the delayed ACK (tens of milliseconds) on every response.
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except BadRequest as exc:
            self.close_connection = True
            self._send(problem(exc.status, exc.detail))
            return
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            return  # the client went away before sending the body it declared
        url = urlsplit(self.path)
        request = HttpRequest(
            self.command,
            raw_target_path(self.path),
            query=url.query,
            headers=list(self.headers.items()),
            body=body,
            client=self.client_address[0],
        )
        if request.method == "GET" and request.path == OPENAPI_PATH and self.openapi is not None:
            self._send(HttpResponse(self.openapi.get(), content_type="application/json"))
            return
        self._send(self.runtime.handle_http(request))

    def _read_body(self) -> bytes | None:
        length = content_length(self.headers.get_all("Content-Length") or [])
        if "Transfer-Encoding" in self.headers:
            raise BadRequest(411, "Send a Content-Length; Transfer-Encoding is not supported.")
        limit = self.runtime.app.max_body_bytes
        if length > limit:
            # Read nothing more than the limit: the runtime answers 413 from the body's length.
            self.close_connection = True
            return b"\0" * (limit + 1)
        body = self.rfile.read(length) if length else b""
        return body if len(body) == length else None

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        for cookie in response.cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Refusals from http.server itself (400, 414, 431, 501) as problem+json."""
        self.close_connection = True
        # An unparsable request line leaves http.server in HTTP/0.9, which sends no status line.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        detail = explain or message or None
        if code == 501:
            detail = f"Method not supported; use one of {', '.join(_METHODS)}."
        resp = problem(code, detail)
        resp.headers.set(CORRELATION_HEADER, str(uuid.uuid4()))
        with contextlib.suppress(OSError):  # the client is gone; nothing to answer
            self._send(resp)

    def log_message(self, format: str, *args: Any) -> None:
        """Access log lines on stderr, with anything unprintable a client sent replaced."""
        line = format % args
        clean = "".join(c if c.isprintable() else "?" for c in line[:2000])
        sys.stderr.write(f"{self.address_string()} {clean}\n")


for _method in _METHODS:
    setattr(PortafnHandler, f"do_{_method}", PortafnHandler._handle)


def _openapi(app: App) -> Lazy[bytes] | None:
    # The dev server documents the app at /openapi.json unless the app routes that path itself.
    if app.router.match("GET", OPENAPI_PATH).target is not None:
        return None
    from portafn.openapi import build

    return Lazy(lambda: json.dumps(build(app)).encode())


def make_server(
    app: App, host: str, port: int, *, read_timeout: float = DEFAULT_READ_TIMEOUT
) -> ThreadingHTTPServer:
    """A threading HTTP server that hands every request to the app's runtime.

    Every answer is the runtime's, or problem+json for what the server refuses itself (a bad
    Content-Length, an oversize request line or header, an unknown method). A client that stops
    sending is dropped after ``read_timeout`` seconds.
    """
    handler = type(
        "Handler",
        (PortafnHandler,),
        {"runtime": Runtime(app, "local"), "timeout": read_timeout, "openapi": _openapi(app)},
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from portafn.cli.main import CliError

    try:
        app = load_app(args.app)
    except AppLoadError as exc:
        raise CliError(str(exc)) from None
    try:
        server = make_server(app, args.host, args.port, read_timeout=args.read_timeout)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    print(
        f"portafn: serving {app.name} on http://{args.host}:{server.server_port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
