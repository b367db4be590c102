"""``ctx.publish`` on Azure: a function publishes to a real Azurite queue; the message is received
with the real azure-storage-queue client, shaped as the host hands it to the worker, decoded by the
library's ``QueueMessageInConverter`` and run by the app's own queue function through the adapter.

Service Bus has no local emulator that runs here, so for it only the message building is tested
(the ``ServiceBusMessage`` fields, then those fields through the library's Service Bus converter
into a topic function); nothing is sent to a broker.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from portafn_azure.driver import AzureDriver, queue_trigger_input
from portafn_azure.publish import (
    AzurePublisher,
    Route,
    StorageQueues,
    make_publisher,
    queue_name,
    servicebus_fields,
    servicebus_message,
    storage_content,
)
from pydantic import BaseModel

from portafn import App, Context, Message, Runtime
from portafn.dev.process import ServerError
from portafn.dev.servers import RunningServer, start
from portafn.http import HttpRequest
from portafn.reliability import PublishError
from portafn.reliability.publish import build

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def azurite() -> Iterator[RunningServer]:
    try:
        server = start("azurite")
    except ServerError as exc:
        pytest.fail(f"cannot start Azurite (run `npm ci`): {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def storage(azurite: RunningServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Azurite's connection string as the app setting the host and the publisher read."""
    conn = azurite.env["AzureWebJobsStorage"]
    monkeypatch.setenv("AzureWebJobsStorage", conn)
    monkeypatch.delenv("PORTAFN_AZURE_MESSAGING", raising=False)
    return conn


class Placed(BaseModel):
    order_id: str
    total: int


def shop(seen: list[tuple[Message[Any], Context]]) -> App:
    app = App("azure-publish")

    @app.http("POST", "/customers/{customer_id}/orders")
    def place(customer_id: str, body: Placed, ctx: Context) -> dict[str, str | None]:
        message_id = ctx.publish("order-placed", body, key=customer_id, attributes={"origin": "http"})
        return {"id": message_id, "causation": ctx.causation_id}

    @app.queue("order-placed")
    def on_placed(msg: Message[Placed], ctx: Context) -> None:
        seen.append((msg, ctx))

    @app.topic("order-shipped")
    def on_shipped(msg: Message[Placed], ctx: Context) -> None:
        seen.append((msg, ctx))

    return app


def receive_one(conn: str, queue: str) -> Any:
    """The one message on ``queue``, received with the real client (content left as sent)."""
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(conn, queue)
    got = list(client.receive_messages(max_messages=32, visibility_timeout=30))
    assert len(got) == 1, [m.content for m in got]
    return got[0]


def as_host_delivers(message: Any) -> Any:
    """The ``QueueMessage`` the worker gets for a received Storage queue message: the host decodes
    base64 (its default ``messageEncoding``) and sends the message's properties as metadata."""
    return queue_trigger_input(
        base64.b64decode(message.content),
        id=message.id,
        dequeue_count=message.dequeue_count,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        next_visible_time=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


def test_published_message_reaches_the_apps_queue_function_through_azurite(storage: str) -> None:
    seen: list[tuple[Message[Any], Context]] = []
    driver = AzureDriver(shop(seen))
    resp = driver.http(
        HttpRequest(
            "POST",
            "/customers/c-1/orders",
            headers={
                "content-type": "application/json",
                "X-Correlation-Id": "corr-7",
                "traceparent": TRACEPARENT,
            },
            body=b'{"order_id": "o-1", "total": 30}',
        )
    )
    assert resp.status == 200, resp.text()
    message_id, causation = resp.json()["id"], resp.json()["causation"]

    received = receive_one(storage, "order-placed")
    # On the wire: base64 of the CloudEvent in the JSON format, as the host's trigger expects.
    wire = json.loads(base64.b64decode(received.content))
    assert (wire["specversion"], wire["id"], wire["type"]) == ("1.0", message_id, "order-placed")
    assert wire["data"] == {"order_id": "o-1", "total": 30}

    driver.call("on_placed", as_host_delivers(received))
    [(msg, ctx)] = seen
    assert msg.id == message_id
    assert msg.data == Placed(order_id="o-1", total=30)
    assert json.loads(msg.body) == {"order_id": "o-1", "total": 30}
    assert msg.extensions["correlationid"] == "corr-7"
    assert msg.extensions["causationid"] == causation
    assert msg.traceparent is not None
    assert msg.traceparent.split("-")[1] == TRACE_ID
    assert msg.attributes == {"origin": "http"}
    assert (msg.ordering_key, msg.queue, msg.delivery_attempt) == ("c-1", "order-placed", 1)
    assert msg.source == "portafn://azure-publish/place"
    # The consumer continues the conversation: same correlation, caused by this message.
    assert (ctx.correlation_id, ctx.causation_id) == ("corr-7", message_id)


@pytest.mark.parametrize(
    ("data", "body", "ctype"),
    [
        ({"n": 1, "text": "é"}, b'{"n":1,"text":"\xc3\xa9"}', "application/json"),
        ("plain words", b"plain words", "text/plain; charset=utf-8"),
        (b"\x00\xffbinary", b"\x00\xffbinary", "application/octet-stream"),
    ],
    ids=["json", "text", "bytes"],
)
def test_payloads_arrive_byte_for_byte(storage: str, data: Any, body: bytes, ctype: str) -> None:
    from portafn_azure.events import queue_message

    outgoing = build("payloads", data, source="portafn://t/f", correlation_id="c", causation_id="x")
    AzurePublisher().publish(outgoing)
    received = receive_one(storage, "payloads")
    msg = queue_message(as_host_delivers(received), "payloads")
    assert (msg.id, msg.body, msg.datacontenttype) == (outgoing.id, body, ctype)
    assert msg.extensions["causationid"] == "x"


def test_topic_names_become_storage_queue_names(storage: str) -> None:
    app = App("names")

    @app.queue("Billing.Events_v2")
    def billing(msg: Message[Any]) -> None: ...

    driver = AzureDriver(app)
    binding = json.loads(driver.functions["billing"].get_function_json())["bindings"][0]
    assert binding["queueName"] == queue_name("Billing.Events_v2") == "billing-events-v2"
    publisher = make_publisher(Runtime(app, "azure"))
    assert isinstance(publisher, AzurePublisher)
    assert publisher.route("Billing.Events_v2") == Route("storage", "queue", "billing-events-v2")
    publisher.publish(
        build("Billing.Events_v2", {"a": 1}, source="s", correlation_id=None, causation_id=None)
    )
    assert json.loads(base64.b64decode(receive_one(storage, "billing-events-v2").content))["data"] == {"a": 1}


def test_development_storage_is_azurites_well_known_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DevStorage", "UseDevelopmentStorage=true")
    client = StorageQueues("DevStorage").client("orders")
    assert client.url == "http://127.0.0.1:10001/devstoreaccount1/orders"
    assert client.account_name == "devstoreaccount1"


def test_missing_connection_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NoSuchStorage", "NoSuchStorage__queueServiceUri", "NoSuchStorage__accountName"):
        monkeypatch.delenv(name, raising=False)
    publisher = AzurePublisher(storage_connection="NoSuchStorage")
    with pytest.raises(PublishError, match="NoSuchStorage"):
        publisher.publish(build("q", {}, source="s", correlation_id=None, causation_id=None))


def test_routes_follow_the_apps_triggers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAFN_AZURE_MESSAGING", raising=False)
    app = shop([])
    default = AzurePublisher(app)
    assert default.route("order-placed") == Route("storage", "queue", "order-placed")
    assert default.route("order-shipped") == Route("servicebus", "topic", "order-shipped")
    assert default.route("elsewhere") == Route("storage", "queue", "elsewhere")
    monkeypatch.setenv("PORTAFN_AZURE_MESSAGING", "servicebus")
    sb = AzurePublisher(app)
    assert sb.route("order-placed") == Route("servicebus", "queue", "order-placed")
    assert sb.route("order-shipped") == Route("servicebus", "topic", "order-shipped")


# -- Service Bus: message building only (no emulator runs here) --------------------------------------


def _shipped() -> Any:
    return build(
        "order-shipped",
        {"order_id": "o-9", "total": 5},
        source="portafn://azure-publish/ship",
        correlation_id="corr-9",
        causation_id="req-9",
        traceparent=TRACEPARENT,
        attributes={"tenant": "t1"},
        key="c-9",
        subject="orders/o-9",
    )


def test_servicebus_message_fields() -> None:
    outgoing = _shipped()
    sb = servicebus_message(outgoing)
    assert (sb.message_id, sb.session_id, sb.correlation_id, sb.subject) == (
        outgoing.id,
        "c-9",
        "corr-9",
        "orders/o-9",
    )
    assert sb.content_type == "application/cloudevents+json; charset=utf-8"
    props = sb.application_properties
    assert props["tenant"] == "t1"
    assert (props["correlationid"], props["causationid"]) == ("corr-9", "req-9")
    assert props["traceparent"].split("-")[1] == TRACE_ID
    body = json.loads(b"".join(sb.body))
    assert (body["id"], body["data"], body["partitionkey"]) == (
        outgoing.id,
        {"order_id": "o-9", "total": 5},
        "c-9",
    )
    assert "portafnattributes" not in body  # attributes are application properties on Service Bus


def test_servicebus_message_reaches_a_topic_function_through_the_library_converter() -> None:
    from azure.functions.meta import Datum
    from azure.functions.servicebus import ServiceBusMessageInConverter

    seen: list[tuple[Message[Any], Context]] = []
    driver = AzureDriver(shop(seen))
    outgoing = _shipped()
    fields = servicebus_fields(outgoing)
    props = json.dumps({str(k): v for k, v in fields["application_properties"].items()})
    # What the host sends the worker for that message (trigger metadata from its properties).
    metadata = {
        "MessageId": Datum(fields["message_id"], "string"),
        "SessionId": Datum(fields["session_id"], "string"),
        "CorrelationId": Datum(fields["correlation_id"], "string"),
        "ContentType": Datum(fields["content_type"], "string"),
        "DeliveryCount": Datum("1", "string"),
        "UserProperties": Datum(props, "json"),
        "ApplicationProperties": Datum(props, "json"),
    }
    native = ServiceBusMessageInConverter.decode(Datum(fields["body"], "bytes"), trigger_metadata=metadata)
    driver.call("on_shipped", native)
    [(msg, ctx)] = seen
    assert (msg.id, msg.attributes, msg.ordering_key) == (outgoing.id, {"tenant": "t1"}, "c-9")
    assert msg.data == Placed(order_id="o-9", total=5)
    assert (ctx.correlation_id, ctx.causation_id) == ("corr-9", outgoing.id)
    assert msg.extensions["causationid"] == "req-9"


def test_storage_content_carries_attributes_inside_the_event() -> None:
    body = json.loads(storage_content(_shipped()))
    assert json.loads(body["portafnattributes"]) == {"tenant": "t1"}
    assert body["correlationid"] == "corr-9"


def test_importing_the_publisher_loads_no_broker_sdk() -> None:
    code = (
        "import sys; before = set(sys.modules);"
        "import portafn_azure.publish, portafn_azure.entry;"
        "print(sorted(m for m in set(sys.modules) - before"
        " if m.startswith(('azure.storage', 'azure.servicebus', 'azure.identity'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "body",
    [b'{"a": 1,  "b": [1, 2]}', b'"just a string"', b"\x89PNG\r\n", b""],
    ids=["spaced-json", "json-string", "binary", "empty"],
)
def test_any_body_survives_the_envelope_byte_for_byte(body: bytes) -> None:
    from portafn_azure.events import queue_message

    from portafn.factories import make_message

    sent = make_message(body, queue="q")
    sent.body = body
    driver = AzureDriver(shop([]))
    got = queue_message(driver.native(driver.app.function("on_placed"), sent), "q")
    assert (got.id, got.body) == (sent.id, body)


def test_a_body_that_only_looks_like_a_cloudevent_is_the_payload() -> None:
    from portafn_azure.events import queue_message

    now = datetime.now(UTC)
    body = b'{"specversion": "1.0", "note": "no id, source or type"}'
    native = queue_trigger_input(
        body,
        id="qid-1",
        dequeue_count=2,
        insertion_time=now,
        expiration_time=now,
        next_visible_time=now,
        pop_receipt="p",
    )
    got = queue_message(native, "q")
    assert (got.id, got.body, got.delivery_attempt) == ("qid-1", body, 2)
    assert got.data == {"specversion": "1.0", "note": "no id, source or type"}
