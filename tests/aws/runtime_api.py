"""A small Lambda Runtime API host on loopback, for driving the real ``awslambdaric`` bootstrap.

It serves the four endpoints the runtime client calls (``GET /2018-06-01/runtime/invocation/next``,
``POST .../invocation/{id}/response``, ``POST .../invocation/{id}/error``, ``POST .../init/error``)
the way the Lambda service does, and records what the runtime sent back.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"


@dataclass
class Outcome:
    """What the runtime answered for one invocation (or at init)."""

    request_id: str | None
    kind: str  # "response", "error" or "init_error"
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class RuntimeApi:
    """The host: queue events with ``invoke``; ``outcome`` waits for the runtime's answer."""

    def __init__(self, timeout_ms: int = 30_000) -> None:
        self.timeout_ms = timeout_ms
        self._events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._outcomes: queue.Queue[Outcome] = queue.Queue()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404)
                    return
                request_id, payload = host._events.get()  # long-poll, as the service does
                deadline = int(time.time() * 1000) + host.timeout_ms
                self._reply(
                    200,
                    payload,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                headers = dict(self.headers.items())
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if parts == ["init", "error"]:
                    host._outcomes.put(Outcome(None, "init_error", body, headers))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    host._outcomes.put(Outcome(parts[1], parts[2], body, headers))
                else:
                    self._reply(404)
                    return
                self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """The value for ``AWS_LAMBDA_RUNTIME_API``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> RuntimeApi:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def invoke(self, event: Any) -> str:
        """Queue one event for the runtime; returns its request id."""
        request_id = str(uuid.uuid4())
        self._events.put((request_id, json.dumps(event).encode()))
        return request_id

    def outcome(self, timeout: float = 60.0) -> Outcome:
        """The next answer the runtime posted (waits on a queue, no polling)."""
        try:
            return self._outcomes.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the runtime posted nothing within {timeout:.0f}s") from None

    def __enter__(self) -> RuntimeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
