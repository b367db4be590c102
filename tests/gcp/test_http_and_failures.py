"""HTTP through functions-framework's own flask app (in-process), and the failure semantics."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from portafn_gcp import outcomes
from portafn_gcp.driver import GcpDriver

from portafn import App, HttpRequest, HttpResponse, Message
from portafn.factories import make_message
from portafn.http import Headers

app = App("gcphttp")
seen: list[Message[Any]] = []


@app.http("POST", "/echo/{name}")
def echo(name: str, request: HttpRequest) -> HttpResponse:
    payload = {
        "name": name,
        "tags": request.query.get("tag"),
        "cookies": request.cookies,
        "x": request.headers.get_all("x-multi"),
        "body_hex": request.body.hex(),
    }
    headers = Headers([("X-Multi", "1"), ("X-Multi", "2")])
    return HttpResponse(payload, headers=headers, cookies=["a=1; Path=/", "b=2; HttpOnly"])


@app.http("GET", "/blob")
def blob() -> HttpResponse:
    return HttpResponse(bytes(range(256)), content_type="image/png")


@app.queue("jobs")
def job(msg: Message[dict[str, Any]]) -> None:
    if msg.data and msg.data.get("fail"):
        raise RuntimeError("boom")
    seen.append(msg)


@pytest.fixture(scope="module")
def driver() -> GcpDriver:
    return GcpDriver(app)


def test_request_and_response_keep_everything(driver: GcpDriver) -> None:
    body = bytes(range(256))
    req = HttpRequest(
        "POST",
        "/echo/ann",
        query="tag=a&tag=b",
        headers=[
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("Cookie", "s=abc; t=xyz"),
            ("Content-Type", "application/octet-stream"),
        ],
        body=body,
    )
    resp = driver.http(req)
    assert resp.status == 200
    got = resp.json()
    assert got["name"] == "ann"
    assert got["tags"] == ["a", "b"]
    assert got["cookies"] == {"s": "abc", "t": "xyz"}
    # WSGI joins repeated request headers with ", " (RFC 9110 allows it); responses keep repeats.
    assert got["x"] == ["one, two"]
    assert bytes.fromhex(got["body_hex"]) == body
    assert resp.headers.get_all("x-multi") == ["1", "2"]
    assert sorted(resp.cookies) == ["a=1; Path=/", "b=2; HttpOnly"]
    assert resp.headers.get("content-type") == "application/json"


def test_binary_response_body_is_exact(driver: GcpDriver) -> None:
    resp = driver.http(HttpRequest("GET", "/blob"))
    assert resp.status == 200
    assert resp.body == bytes(range(256))
    assert resp.headers.get("content-type") == "image/png"


def test_unknown_route_is_problem_json(driver: GcpDriver) -> None:
    resp = driver.http(HttpRequest("GET", "/nope"))
    assert resp.status == 404
    assert resp.headers.get("content-type") == "application/problem+json"


def test_success_is_acknowledged_and_a_raise_is_redelivered(driver: GcpDriver) -> None:
    fn = app.function("job")
    ok = driver.deliver(fn, make_message({"n": 1}, queue="jobs", attributes={"k": "v"}, delivery_attempt=3))
    assert ok.ok
    assert seen[-1].attributes == {"k": "v"}
    assert seen[-1].delivery_attempt == 3
    assert seen[-1].type == "google.cloud.pubsub.topic.v1.messagePublished"
    failed = driver.deliver(fn, make_message({"fail": True}, queue="jobs"))
    assert (failed.ok, failed.error, failed.retry) == (False, "RuntimeError", True)


@pytest.mark.parametrize(
    ("status", "ack"), [(200, True), (204, True), (102, True), (400, False), (500, False), (503, False)]
)
def test_pubsub_push_acknowledgement_by_status(status: int, ack: bool) -> None:
    assert outcomes.is_ack(status) is ack


def test_importing_the_adapter_loads_no_other_cloud_sdk() -> None:
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import portafn_gcp, portafn_gcp.events, portafn_gcp.firestore_store, portafn_gcp.entry\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "portafn_gcp.entry" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("boto3", "botocore", "azure")] == []
    # Importing the package alone loads no Google SDK either: clients are made on first use.
    probe_pkg = probe.replace(", portafn_gcp.events, portafn_gcp.firestore_store, portafn_gcp.entry", "")
    out = subprocess.run([sys.executable, "-c", probe_pkg], capture_output=True, text=True, check=True)
    assert [
        m for m in json.loads(out.stdout) if m.startswith(("google.cloud", "functions_framework", "flask"))
    ] == []
