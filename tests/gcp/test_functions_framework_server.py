"""A real functions-framework server, loaded from the orders sample's entry module, on Firestore.

HTTP requests, binary and structured CloudEvents, a legacy event, and a message published to the
Pub/Sub emulator and pushed to the server all reach the sample's functions. Effects are observed
through the sample's own HTTP API; waits poll with a bound, never sleep.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portafn.cloudevents import to_binary, to_structured
from portafn.dev.process import ManagedProcess, free_port, port_open, wait_until
from portafn.dev.servers import RunningServer
from portafn.events import Event

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "samples" / "orders" / "entry_gcp.py"
LOGS = ROOT / ".portafn" / "logs" / "gcp-tests"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> Reply:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def functions_framework(target: str, env: dict[str, str], *extra: str) -> ManagedProcess:
    exe = shutil.which("functions-framework", path=str(Path(sys.executable).parent))
    assert exe is not None, "functions-framework is not installed in this environment"
    port = free_port()
    proc = ManagedProcess(
        f"functions-framework-{target}",
        [exe, "--source", str(ENTRY), "--target", target, "--host", "127.0.0.1", "--port", str(port), *extra],
        ready=lambda: port_open(port),
        cwd=ROOT,
        env=env,
        log_dir=LOGS,
    )
    proc.port = port  # type: ignore[attr-defined]
    return proc


@dataclass
class Servers:
    http: str
    events: str
    events_port: int


@pytest.fixture(scope="module")
def ff(firestore_server: RunningServer) -> Iterator[Servers]:
    env = {
        **dict(firestore_server.env.items()),
        "PORTAFN_STORE": f"firestore://portafn-local?prefix=ff{uuid.uuid4().hex[:6]}_",
    }
    http = functions_framework("http", env).start()
    events = functions_framework("on_order_event", env, "--signature-type", "cloudevent").start()
    try:
        yield Servers(
            f"http://127.0.0.1:{http.port}",  # type: ignore[attr-defined]
            f"http://127.0.0.1:{events.port}",  # type: ignore[attr-defined]
            events.port,  # type: ignore[attr-defined]
        )
    finally:
        http.stop()
        events.stop()


def new_order(ff: Servers, customer: str, order_id: str) -> None:
    body = json.dumps({"order_id": order_id, "total_cents": 700}).encode()
    resp = call(f"{ff.http}/customers/{customer}/orders", "POST", body, {"content-type": "application/json"})
    assert resp.status == 201, resp.body


def status_of(ff: Servers, customer: str, order_id: str) -> str:
    return str(call(f"{ff.http}/customers/{customer}/orders/{order_id}").json()["status"])


def published(data: dict[str, Any], message_id: str) -> Event[Any]:
    import base64

    payload = base64.b64encode(json.dumps(data).encode()).decode()
    return Event[Any](
        id=message_id,
        source="//pubsub.googleapis.com/projects/portafn-local/topics/order-events",
        type="google.cloud.pubsub.topic.v1.messagePublished",
        datacontenttype="application/json",
        data={
            "subscription": "projects/portafn-local/subscriptions/s",
            "message": {"data": payload, "messageId": message_id, "attributes": {"a": "1"}},
        },
    )


def test_http_routes_answer(ff: Servers) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    new_order(ff, customer, "o-1")
    got = call(f"{ff.http}/customers/{customer}/orders/o-1")
    assert got.status == 200
    assert got.json()["total_cents"] == 700
    assert got.headers.get("x-correlation-id")
    listed = call(f"{ff.http}/customers/{customer}/orders?limit=5").json()
    assert [o["order_id"] for o in listed["items"]] == ["o-1"]
    missing = call(f"{ff.http}/customers/{customer}/orders/nope")
    assert missing.status == 404
    assert missing.headers["content-type"] == "application/problem+json"
    dup = call(
        f"{ff.http}/customers/{customer}/orders",
        "POST",
        json.dumps({"order_id": "o-1", "total_cents": 1}).encode(),
        {"content-type": "application/json"},
    )
    assert dup.status == 409


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_cloudevents_reach_the_queue_function(ff: Servers, mode: str) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    new_order(ff, customer, "o-1")
    event = published({"customer_id": customer, "order_id": "o-1", "status": "paid"}, uuid.uuid4().hex)
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)
    resp = call(ff.events, "POST", body, headers)
    assert resp.status == 200, resp.body
    assert status_of(ff, customer, "o-1") == "paid"


def test_legacy_event_reaches_the_queue_function(ff: Servers) -> None:
    import base64

    customer = f"c-{uuid.uuid4().hex[:8]}"
    new_order(ff, customer, "o-1")
    data = json.dumps({"customer_id": customer, "order_id": "o-1", "status": "shipped"}).encode()
    legacy = {
        "context": {
            "eventId": uuid.uuid4().hex,
            "timestamp": "2024-01-01T00:00:00.000Z",
            "eventType": "google.pubsub.topic.publish",
            "resource": {"service": "pubsub.googleapis.com", "name": "projects/p/topics/order-events"},
        },
        "data": {
            "@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
            "data": base64.b64encode(data).decode(),
        },
    }
    resp = call(ff.events, "POST", json.dumps(legacy).encode(), {"content-type": "application/json"})
    assert resp.status == 200, resp.body
    assert status_of(ff, customer, "o-1") == "shipped"


def test_a_failing_message_is_answered_500_so_pubsub_redelivers(ff: Servers) -> None:
    # No such order: the handler's NotFound propagates; functions-framework answers 500 (a nack).
    event = published({"customer_id": "c-none", "order_id": "o-none", "status": "paid"}, uuid.uuid4().hex)
    headers, body = to_binary(event)
    resp = call(ff.events, "POST", body, headers)
    assert resp.status == 500
    assert resp.headers.get("x-google-status") == "crash"
    # Data that fails validation is not acknowledged either: it goes to the dead-letter topic.
    bad = published({"customer_id": "c", "order_id": "o", "status": "lost"}, uuid.uuid4().hex)
    headers, body = to_structured(bad)
    assert call(ff.events, "POST", body, headers).status == 500


def test_pubsub_emulator_push_reaches_the_queue_function(ff: Servers, pubsub_server: RunningServer) -> None:
    from google.cloud import pubsub_v1

    customer = f"c-{uuid.uuid4().hex[:8]}"
    new_order(ff, customer, "o-1")
    project = pubsub_server.env["PUBSUB_PROJECT_ID"]
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(project, f"order-events-{uuid.uuid4().hex[:6]}")
    sub = subscriber.subscription_path(project, f"push-{uuid.uuid4().hex[:6]}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        request={"name": sub, "topic": topic, "push_config": {"push_endpoint": f"{ff.events}/{topic}"}}
    )
    try:
        data = json.dumps({"customer_id": customer, "order_id": "o-1", "status": "paid"}).encode()
        publisher.publish(topic, data, origin="test").result(timeout=30)
        wait_until(
            lambda: status_of(ff, customer, "o-1") == "paid", timeout=30, what="the pushed message's effect"
        )
    finally:
        subscriber.delete_subscription(subscription=sub)
        publisher.delete_topic(topic=topic)
        subscriber.close()
