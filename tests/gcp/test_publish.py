"""ctx.publish on GCP, against Google's Pub/Sub emulator.

A function publishes through functions-framework's own flask app (the GCP entry, in process) with
the ``gcp`` publisher the entry point group resolves; the message is pulled from a real
subscription, then pushed (as a Pub/Sub push request) into the app's ``@app.topic`` function
through the same entry, and the consumer sees the publisher's data, attributes, ordering key,
CloudEvent id, correlation and causation ids.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from portafn_gcp.driver import GcpDriver
from portafn_gcp.publish import PubSubPublisher, default_project, pubsub_attributes

from portafn import App, Context, HttpRequest, Message
from portafn.dev.servers import RunningServer
from portafn.reliability.publish import PublishError, build
from portafn.runtime import Runtime

PULL_TIMEOUT_S = 30.0


@dataclass
class Emulator:
    """Topic and subscription helpers on the running emulator."""

    project: str
    publisher: pubsub_v1.PublisherClient = field(default_factory=pubsub_v1.PublisherClient)
    subscriber: pubsub_v1.SubscriberClient = field(default_factory=pubsub_v1.SubscriberClient)

    def topic(self, name: str) -> str:
        path = f"projects/{self.project}/topics/{name}"
        self.publisher.create_topic(name=path)
        return path

    def subscription(self, topic: str, *, ordered: bool = False) -> str:
        name = f"{topic.rsplit('/', 1)[1]}-sub"
        path = f"projects/{self.project}/subscriptions/{name}"
        self.subscriber.create_subscription(
            request={"name": path, "topic": topic, "enable_message_ordering": ordered}
        )
        return path

    def pull(self, subscription: str, count: int = 1) -> list[Any]:
        """Pull ``count`` messages (waiting, bounded, as a real consumer would) and ack them."""
        got: list[Any] = []
        while len(got) < count:
            response = self.subscriber.pull(
                request={"subscription": subscription, "max_messages": count - len(got)},
                timeout=PULL_TIMEOUT_S,
            )
            if not response.received_messages:
                break
            got.extend(response.received_messages)
        if got:
            self.subscriber.acknowledge(
                request={"subscription": subscription, "ack_ids": [m.ack_id for m in got]}
            )
        return got


@pytest.fixture
def emulator(pubsub_server: RunningServer) -> Iterator[Emulator]:
    em = Emulator(project=pubsub_server.env["PUBSUB_PROJECT_ID"])
    yield em
    em.subscriber.close()


def push_envelope(received: Any) -> dict[str, Any]:
    """The Pub/Sub push request body for a pulled message (what a push subscription POSTs)."""
    msg = received.message
    message: dict[str, Any] = {
        "data": base64.b64encode(msg.data).decode(),
        "attributes": dict(msg.attributes),
        "messageId": msg.message_id,
        "publishTime": msg.publish_time.rfc3339(),
    }
    if msg.ordering_key:
        message["orderingKey"] = msg.ordering_key
    return {"message": message, "subscription": "projects/portafn-local/subscriptions/push-sub"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_app(topic: str) -> tuple[App, list[tuple[Message[Any], Context]]]:
    app = App(unique("pubapp"))
    seen: list[tuple[Message[Any], Context]] = []

    @app.http("POST", "/orders/{customer}")
    def create(customer: str, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        message_id = ctx.publish(topic, body, key=customer, attributes={"origin": "http"})
        return {"id": message_id, "request_id": ctx.request_id}

    @app.topic(topic)
    def on_order(msg: Message[dict[str, Any]], ctx: Context) -> None:
        seen.append((msg, ctx))

    return app, seen


def test_published_message_reaches_the_topic_function_through_pubsub(emulator: Emulator) -> None:
    topic_name = unique("orders")
    topic = emulator.topic(topic_name)
    subscription = emulator.subscription(topic, ordered=True)
    app, seen = make_app(topic_name)
    driver = GcpDriver(app)

    resp = driver.http(
        HttpRequest(
            "POST",
            "/orders/c-1",
            headers={"content-type": "application/json", "X-Correlation-Id": "corr-42"},
            body=b'{"order_id": "o-1", "total": 3}',
        )
    )
    assert resp.status == 200, resp.body
    published = resp.json()

    [received] = emulator.pull(subscription)
    assert received.message.data == b'{"order_id":"o-1","total":3}'
    assert received.message.ordering_key == "c-1"
    attrs = dict(received.message.attributes)
    assert attrs["origin"] == "http"
    assert attrs["ce-id"] == published["id"]
    assert attrs["ce-specversion"] == "1.0"
    assert attrs["ce-type"] == topic_name
    assert attrs["ce-source"] == f"portafn://{app.name}/create"
    assert attrs["ce-correlationid"] == "corr-42"
    assert attrs["ce-causationid"] == published["request_id"]
    assert attrs["ce-partitionkey"] == "c-1"
    assert attrs["content-type"] == "application/json"

    # Pushed into the app's @app.topic function, as a push subscription would.
    push = driver._client("on_order").post(
        f"/projects/portafn-local/topics/{topic_name}", json=push_envelope(received)
    )
    assert push.status_code == 200, push.get_data(as_text=True)
    [(msg, ctx)] = seen
    assert msg.id == published["id"]  # the CloudEvent id: consumers dedupe on it
    assert msg.data == {"order_id": "o-1", "total": 3}
    assert msg.body == received.message.data
    assert msg.attributes == {"origin": "http"}
    assert msg.ordering_key == "c-1"
    assert msg.queue == topic_name
    assert msg.source == f"portafn://{app.name}/create"
    assert msg.type == topic_name
    assert msg.extensions["correlationid"] == "corr-42"
    assert msg.extensions["causationid"] == published["request_id"]
    assert ctx.correlation_id == "corr-42"
    assert ctx.causation_id == published["id"]
    assert isinstance(msg.raw, dict)
    assert msg.raw["message"]["messageId"] == received.message.message_id


def test_a_message_without_key_goes_unordered_and_traceparent_travels(emulator: Emulator) -> None:
    topic_name = unique("plain")
    subscription = emulator.subscription(emulator.topic(topic_name))
    publisher = PubSubPublisher()
    message = build(
        topic_name,
        "hello",
        source="portafn://t/f",
        correlation_id="c",
        causation_id="e-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        subject="greeting",
    )
    publisher.publish(message)
    made = {ordered for ordered, client in publisher._clients.items() if client.peek() is not None}
    assert made == {False}  # no ordering client is made for an unkeyed message
    publisher.close()
    [received] = emulator.pull(subscription)
    attrs = dict(received.message.attributes)
    assert received.message.data == b"hello"
    assert received.message.ordering_key == ""
    assert attrs["content-type"] == "text/plain; charset=utf-8"
    assert attrs["ce-subject"] == "greeting"
    assert attrs["ce-traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert attrs["ce-traceparent"] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert "ce-partitionkey" not in attrs


def test_publishing_to_a_missing_topic_is_a_publish_error(emulator: Emulator) -> None:
    publisher = PubSubPublisher(timeout=10)
    missing = unique("no-such-topic")
    message = build(missing, {"a": 1}, source="s", correlation_id=None, causation_id=None, key="k")
    with pytest.raises(PublishError) as info:
        publisher.publish(message)
    text = str(info.value)
    assert missing in text
    assert "NotFound" in text
    # The key was resumed: once the topic exists, the same key publishes again.
    emulator.topic(missing)
    publisher.publish(message)
    publisher.close()


def test_the_runtime_resolves_the_gcp_publisher_by_entry_point(pubsub_server: RunningServer) -> None:
    runtime = Runtime(App("resolve"), "gcp")
    assert isinstance(runtime.publisher, PubSubPublisher)
    assert default_project() == pubsub_server.env["PUBSUB_PROJECT_ID"]


def test_project_comes_from_the_environment_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT", "PUBSUB_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAFN_STORE", "firestore://from-store?database=x")
    assert default_project() == "from-store"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert default_project() == "from-env"
    assert PubSubPublisher("given").topic_path("t") == "projects/given/topics/t"


def test_reserved_attribute_names_are_refused() -> None:
    message = build("t", {}, source="s", correlation_id=None, causation_id=None, attributes={"ce-id": "x"})
    with pytest.raises(PublishError, match="reserved"):
        pubsub_attributes(message)


def test_a_message_from_outside_portafn_keeps_its_own_identity(emulator: Emulator) -> None:
    """A message published by anything else (no ce- attributes) is the Pub/Sub message itself."""
    topic_name = unique("foreign")
    topic = emulator.topic(topic_name)
    subscription = emulator.subscription(topic)
    app, seen = make_app(topic_name)
    emulator.publisher.publish(topic, b'{"raw": true}', origin="gcloud").result(timeout=30)
    [received] = emulator.pull(subscription)
    push = (
        GcpDriver(app)
        ._client("on_order")
        .post(f"/projects/portafn-local/topics/{topic_name}", json=push_envelope(received))
    )
    assert push.status_code == 200
    [(msg, _)] = seen
    assert msg.id == received.message.message_id
    assert msg.attributes == {"origin": "gcloud"}
    assert msg.source == f"//pubsub.googleapis.com/projects/portafn-local/topics/{topic_name}"


def test_missing_topic_error_names_no_credentials(emulator: Emulator) -> None:
    with pytest.raises(PublishError) as info:
        PubSubPublisher(timeout=10).publish(
            build("absent-topic", {}, source="s", correlation_id=None, causation_id=None)
        )
    assert "token" not in str(info.value).lower()
    assert "Bearer" not in str(info.value)
    assert info.value.__cause__ is None  # raised `from None`: no chained SDK dump
    assert gexc.NotFound.__name__ in str(info.value)


def test_the_publisher_loads_no_sdk_until_it_publishes() -> None:
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "from portafn import App, Runtime\n"
        "from portafn_gcp.publish import PubSubPublisher\n"
        "Runtime(App('probe'), 'gcp').publisher\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "portafn_gcp.publish" in loaded
    assert [m for m in loaded if m.startswith(("google.cloud.pubsub", "boto3", "botocore", "azure"))] == []
