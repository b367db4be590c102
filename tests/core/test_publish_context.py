"""Core hooks for publishing: causation and trace on Context, a lazy publisher, nothing imported
on the hot path by apps that do not publish."""

from __future__ import annotations

import json
import subprocess
import sys

from portafn import App, Context, HttpRequest, Message, Runtime

PROBE = """
import json, sys
from portafn import App, Context, HttpRequest, Message, Runtime
app = App("probe")
@app.http("GET", "/x")
def x(ctx: Context) -> dict:
    return {"ok": True}
@app.queue("q")
def q(msg: Message[dict], ctx: Context) -> None:
    pass
rt = Runtime(app)
assert rt.handle_http(HttpRequest("GET", "/x")).status == 200
rt.handle_event("q", Message[dict](id="1", source="s", type="t", data={}, body=b"{}"))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("portafn.reliability"))))
"""


def test_apps_that_do_not_publish_never_import_reliability() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_event_context_carries_causation_and_trace() -> None:
    app = App("ctx")
    seen: list[Context] = []

    @app.queue("q")
    def q(msg: Message[dict[str, int]], ctx: Context) -> None:
        seen.append(ctx)

    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    Runtime(app).handle_event(
        "q",
        Message[dict[str, int]](id="evt-9", source="s", type="t", data={}, extensions={"traceparent": trace}),
    )
    [ctx] = seen
    assert ctx.causation_id == "evt-9"
    assert ctx.traceparent == trace
    assert ctx.runtime is not None


def test_http_context_causation_defaults_to_the_request_id() -> None:
    app = App("ctx")
    seen: list[Context] = []

    @app.http("GET", "/x")
    def x(ctx: Context) -> None:
        seen.append(ctx)

    Runtime(app).handle_http(HttpRequest("GET", "/x", headers={"traceparent": "t"}))
    [ctx] = seen
    assert ctx.causation_id == ctx.request_id
    assert ctx.traceparent == "t"


def test_publisher_is_made_on_first_use_only() -> None:
    runtime = Runtime(App("lazy"))
    assert runtime._publisher.peek() is None
    first = runtime.publisher
    assert runtime.publisher is first
    assert type(first).__name__ == "LocalBus"


def test_reliability_loads_no_cloud_sdk() -> None:
    probe = (
        "import json, sys; before = set(sys.modules); import portafn.reliability; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "portafn.reliability.outbox" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("boto3", "botocore", "azure", "google")] == []
