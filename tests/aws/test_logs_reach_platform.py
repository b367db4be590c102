"""On Lambda, portafn's log lines land where the platform collects them, and catch-all routes answer.

Lambda sends a function's stdout and stderr to CloudWatch Logs; the real ``awslambdaric`` bootstrap
runs this module's handler against the loopback Runtime API, and the test reads the bootstrap's
output: each portafn line is one JSON object carrying the invocation's request id. The same
handler serves a catch-all route (``{path+}``, which the SAM template keeps as API Gateway's
greedy parameter) through an API Gateway HTTP API event.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from portafn_aws import lambda_handler
from portafn_aws.package import _http_event

from portafn import App, Context
from tests.aws.test_lambda_runtime import Bootstrap, _event

logs_app = App("logs")


@logs_app.http("GET", "/files/{path+}")
def read_file(path: str, ctx: Context) -> dict[str, str]:
    """Answer with the rest of the path; log one line about it."""
    ctx.logger.info("file read", extra={"path": path})
    return {"path": path}


handler = lambda_handler(logs_app)


@pytest.fixture(scope="module")
def logs_lambda() -> Iterator[Bootstrap]:
    boot = Bootstrap("tests.aws.test_logs_reach_platform.handler", {"PORTAFN_STORE": "memory://"})
    yield boot
    boot.stop()


def files_request(path: str) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event for ``GET /files/{path+}``, as API Gateway sends it."""
    event = copy.deepcopy(_event("apigw-v2-post.json"))
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /files/{path+}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/files/{path}"
    event["requestContext"]["http"]["method"] = "GET"
    event["pathParameters"] = {"path": path}
    event["body"] = None
    return event


def lines_with(boot: Bootstrap, message: str) -> list[dict[str, Any]]:
    """The JSON lines in the bootstrap's output whose message is ``message``. No wait is needed:
    the handler logs before it returns, stderr is line-buffered and goes straight to the file, and
    the bootstrap posts the response only after the handler returned."""
    found = []
    for raw in boot.log.read_text(errors="replace").splitlines():
        if raw.startswith("{") and f'"{message}"' in raw:
            found.append(json.loads(raw))
    return found


def test_the_log_line_is_json_on_the_process_output_with_the_request_id(logs_lambda: Bootstrap) -> None:
    request_id = logs_lambda.api.invoke(files_request("reports/2025/q1.csv"))
    outcome = logs_lambda.api.outcome()
    assert outcome.kind == "response", outcome.body
    [line] = [
        entry for entry in lines_with(logs_lambda, "file read") if entry.get("request_id") == request_id
    ]
    assert line["level"] == "INFO"
    assert line["path"] == "reports/2025/q1.csv"
    assert line["function"] == "read_file"


def test_a_catch_all_route_answers_through_the_bootstrap(logs_lambda: Bootstrap) -> None:
    kind, body = logs_lambda.invoke(files_request("a/b/c.txt"))
    assert kind == "response", body
    assert body["statusCode"] == 200
    assert json.loads(body["body"]) == {"path": "a/b/c.txt"}
    kind, body = logs_lambda.invoke(files_request("one"))
    assert json.loads(body["body"]) == {"path": "one"}


def test_the_sam_route_keeps_the_greedy_parameter() -> None:
    trigger = logs_app.function("read_file").trigger
    source, _ = _http_event(trigger, {})  # type: ignore[arg-type]
    assert source["Properties"] == {"Path": "/files/{path+}", "Method": "GET"}
