"""``portafn serve MODULE:APP --host H --port N``: a local HTTP server on the neutral model."""

from __future__ import annotations

import argparse
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from portafn.app import App
from portafn.cli.loading import AppLoadError, load_app
from portafn.http import HttpRequest
from portafn.runtime import Runtime


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("serve", help="serve an app's HTTP functions locally")
    p.add_argument("app", metavar="MODULE:APP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(run=run)


def make_server(app: App, host: str, port: int) -> ThreadingHTTPServer:
    """A threading HTTP server that hands every request to the app's runtime."""
    runtime = Runtime(app, "local")

    class Handler(BaseHTTPRequestHandler):
        server_version = "portafn"
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > app.max_body_bytes:
                # Read nothing more than the limit: the runtime answers 413 from the declared length.
                body = b"\0" * (app.max_body_bytes + 1)
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            request = HttpRequest(
                self.command,
                url.path,
                query=url.query,
                headers=list(self.headers.items()),
                body=body,
                client=self.client_address[0],
            )
            response = runtime.handle_http(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            for cookie in response.cookies:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return ThreadingHTTPServer((host, port), Handler)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from portafn.cli.main import CliError

    try:
        app = load_app(args.app)
    except AppLoadError as exc:
        raise CliError(str(exc)) from None
    try:
        server = make_server(app, args.host, args.port)
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
