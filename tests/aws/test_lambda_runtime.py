"""The real ``awslambdaric`` bootstrap, run as a subprocess against a Runtime API host on loopback.

This is the bootstrap AWS's managed Python runtime runs: it imports the entry module by handler
string, long-polls for invocations and posts each answer (or error) back. The orders sample runs
on DynamoDB Local behind it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portafn.dev.servers import RunningServer
from tests.aws.runtime_api import RuntimeApi

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events" / "aws"


def _event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


class Bootstrap:
    """``python -m awslambdaric HANDLER`` with ``AWS_LAMBDA_RUNTIME_API`` pointing at our host."""

    def __init__(self, handler: str, env: dict[str, str]) -> None:
        self.api = RuntimeApi().start()
        self.log = ROOT / ".portafn" / "logs" / "aws-tests" / f"awslambdaric-{handler.split('.')[-2]}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", handler],
            cwd=ROOT,
            env={
                **os.environ,
                **env,
                "AWS_LAMBDA_RUNTIME_API": self.api.address,
                "PYTHONPATH": str(ROOT),
                "LAMBDA_TASK_ROOT": str(ROOT),
                "AWS_LAMBDA_FUNCTION_NAME": "orders",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            },
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def invoke(self, event: Any) -> tuple[str, Any]:
        """Send one event; returns (kind, body) of what the runtime posted for it."""
        request_id = self.api.invoke(event)
        outcome = self.api.outcome()
        assert outcome.request_id == request_id, self.log.read_text()[-2000:]
        return outcome.kind, outcome.body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.api.stop()
        self._out.close()


@pytest.fixture(scope="module")
def orders_lambda(dynamodb_server: RunningServer) -> Iterator[Bootstrap]:
    """The orders sample's entry module under the real bootstrap, on DynamoDB Local."""
    assert dynamodb_server.store_url is not None
    env = dict(dynamodb_server.env)
    env["PORTAFN_STORE"] = dynamodb_server.store_url + "&prefix=ric-"
    boot = Bootstrap("samples.orders.entry_aws.handler", env)
    yield boot
    boot.stop()


def test_api_gateway_v2_request_is_answered(orders_lambda: Bootstrap) -> None:
    event = _event("apigw-v2-post.json")
    kind, body = orders_lambda.invoke(event)
    assert kind == "response", body
    assert body["statusCode"] == 201
    assert body["headers"]["Location"] == "/customers/c-1/orders/o-1"
    assert body["headers"]["content-type"] == "application/json"
    assert body["isBase64Encoded"] is False
    order = json.loads(body["body"])
    assert (order["customer_id"], order["order_id"], order["total_cents"], order["status"]) == (
        "c-1",
        "o-1",
        1250,
        "new",
    )

    again = copy.deepcopy(event)
    kind, body = orders_lambda.invoke(again)
    assert kind == "response"
    assert body["statusCode"] == 409  # the key is taken: AlreadyExists from DynamoDB's condition
    assert body["headers"]["content-type"] == "application/problem+json"


def test_sqs_batch_reports_only_the_poisoned_message(orders_lambda: Bootstrap) -> None:
    create = _event("apigw-v2-post.json")
    create["rawPath"] = create["requestContext"]["http"]["path"] = "/customers/c-2/orders"
    orders_lambda.invoke(create)
    batch = _event("sqs-order-events.json")
    batch["Records"][0]["body"] = json.dumps({"customer_id": "c-2", "order_id": "o-1", "status": "paid"})

    kind, body = orders_lambda.invoke(batch)

    assert kind == "response", body
    assert body == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    get = _event("apigw-v2-post.json")
    get["rawPath"] = get["requestContext"]["http"]["path"] = "/customers/c-2/orders/o-1"
    get["requestContext"]["http"]["method"] = "GET"
    get["body"] = None
    kind, body = orders_lambda.invoke(get)
    assert body["statusCode"] == 200
    assert json.loads(body["body"])["status"] == "paid"  # the good neighbour was applied


def test_event_of_unknown_shape_is_an_invocation_error(orders_lambda: Bootstrap) -> None:
    kind, body = orders_lambda.invoke({"surprise": True, "payload": [1, 2]})
    assert kind == "error"
    assert body["errorType"] == "EventFormatError"
    assert "keys seen: payload, surprise" in body["errorMessage"]
    assert isinstance(body["stackTrace"], list)


def test_handler_exception_is_posted_as_aws_shows_it(dynamodb_server: RunningServer) -> None:
    boot = Bootstrap("tests.aws.lambda_apps.raising.handler", dict(dynamodb_server.env))
    try:
        kind, body = boot.invoke(
            {
                "version": "0",
                "id": "e-1",
                "detail-type": "com.example.payment.requested",
                "source": "com.example.checkout",
                "account": "123456789012",
                "time": "2025-01-01T00:00:00Z",
                "region": "us-east-1",
                "resources": ["order/o-9"],
                "detail": {"amount": 5},
            }
        )
    finally:
        boot.stop()
    assert kind == "error"
    assert body["errorType"] == "PaymentDeclined"
    assert body["errorMessage"] == "card declined for order/o-9"
    assert any("raising.py" in frame for frame in body["stackTrace"])


def test_import_error_is_reported_as_init_error(dynamodb_server: RunningServer) -> None:
    boot = Bootstrap("tests.aws.lambda_apps.broken_entry.handler", dict(dynamodb_server.env))
    try:
        outcome = boot.api.outcome()
        assert boot.proc.wait(timeout=30) != 0  # the runtime exits after reporting
    finally:
        boot.stop()
    assert outcome.kind == "init_error"
    assert outcome.body["errorType"] == "Runtime.ImportModuleError"
    assert "portafn_missing_dependency" in outcome.body["errorMessage"]
    assert outcome.headers.get("Lambda-Runtime-Function-Error-Type") == "Runtime.ImportModuleError"
