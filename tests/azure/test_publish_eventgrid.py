"""``ctx.publish`` to Event Grid: the real ``azure-eventgrid`` client against a loopback receiver.

No Event Grid emulator runs on this machine, so the test starts a small HTTP server on 127.0.0.1
that implements Event Grid's documented publish contract for a custom topic with the CloudEvents
1.0 input schema: ``POST`` to the topic endpoint (``/api/events``) with an ``api-version`` query
parameter, the access key in the ``aeg-sas-key`` header (a wrong key gets 401), content type
``application/cloudevents-batch+json; charset=utf-8`` and a JSON array of CloudEvents as the body
(anything else gets 400). The SDK talks to it over real HTTP; nothing in the SDK is replaced.

Each CloudEvent the receiver got is then handed to the app the way the Functions host hands an
Event Grid trigger its event: decoded by the azure-functions library's ``EventGridEventInConverter``
and called through ``function_app``'s indexed function, so the ``@app.event`` handler runs on what
went over the wire. What is not covered here: Event Grid itself (delivery, retries, the event
subscription's type filter) and the Functions host; those run only on Azure.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from portafn_azure.driver import AzureDriver
from portafn_azure.publish import (
    ATTRIBUTES_EXT,
    AzurePublisher,
    Route,
    eventgrid_event,
    extension_name_ok,
    make_publisher,
)
from pydantic import BaseModel

from portafn import App, Context, Event, Message, Runtime
from portafn.cloudevents import parse_time
from portafn.dev.process import free_port
from portafn.http import HttpRequest
from portafn.reliability import PublishError
from portafn.reliability.publish import Outgoing, build

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TOPIC_KEY = "c2VjcmV0LXRvcGljLWtleS0xMjM0NQ=="  # what an Event Grid topic key looks like
WRONG_KEY = "d3Jvbmcta2V5LW5vdC10aGUtdG9waWNz"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
READY_TIMEOUT = 10.0


# -- the receiver: Event Grid's publish contract for a CloudEvents 1.0 custom topic ---------------


@dataclass
class Publish:
    """One accepted publish request."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    events: list[dict[str, Any]]


@dataclass
class Topic:
    """What the receiver saw: accepted publishes, and the status of every POST."""

    key: str
    accepted: list[Publish] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for publish in self.accepted for event in publish.events]

    def reset(self) -> None:
        with self.lock:
            self.accepted.clear()
            self.statuses.clear()


def _check_batch(body: bytes) -> list[dict[str, Any]] | str:
    """The CloudEvents in a publish body, or what is wrong with it (Event Grid answers 400)."""
    try:
        events = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not isinstance(events, list) or not events:
        return "body must be a non-empty JSON array of CloudEvents"
    for event in events:
        if not isinstance(event, dict) or event.get("specversion") != "1.0":
            return "each event needs specversion 1.0"
        for name in ("id", "source", "type"):
            if not isinstance(event.get(name), str) or not event[name]:
                return f"required attribute {name} is missing"
        if "data" in event and "data_base64" in event:
            return "data and data_base64 are exclusive"
        for name in event:
            if name != "data_base64" and not (name.isascii() and name.isalnum() and name.islower()):
                return f"attribute name {name!r} is not lower-case alphanumeric"
    return events


def _handler(topic: Topic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, error: str | None = None) -> None:
            body = json.dumps({"error": {"code": str(status), "message": error}}).encode() if error else b""
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # readiness probe only
            self._reply(200 if self.path == "/ready" else 404)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, error = self._judge(url.path, parse_qs(url.query), body)
            with topic.lock:
                topic.statuses.append(status)
            self._reply(status, error)

        def _judge(self, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, str | None]:
            if path != "/api/events":
                return 404, "no such topic endpoint"
            if not query.get("api-version"):
                return 400, "the api-version query parameter is required"
            if self.headers.get("aeg-sas-key") != topic.key:
                # Never echo the key that was sent.
                return 401, "the request authorization key is not authorized"
            if (self.headers.get("content-type") or "").lower() != BATCH_CONTENT_TYPE:
                return 400, "this topic takes application/cloudevents-batch+json"
            checked = _check_batch(body)
            if isinstance(checked, str):
                return 400, checked
            with topic.lock:
                topic.accepted.append(Publish(path, query, dict(self.headers.items()), checked))
            return 200, None

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

    return Handler


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Topic]]:
    """An Event Grid topic endpoint on loopback, polled until it answers (bounded)."""
    topic = Topic(TOPIC_KEY)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(topic))
    thread = threading.Thread(target=server.serve_forever, name="eventgrid-receiver", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    deadline = datetime.now(UTC) + timedelta(seconds=READY_TIMEOUT)
    while True:
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=1) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.URLError, OSError) as exc:
            if datetime.now(UTC) > deadline:
                server.shutdown()
                pytest.fail(f"the Event Grid receiver did not answer on {base}: {exc}", pytrace=False)
    yield f"{base}/api/events", topic
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def grid(receiver: tuple[str, Topic], monkeypatch: pytest.MonkeyPatch) -> Topic:
    """The receiver as the app's Event Grid topic (endpoint and key app settings), emptied."""
    endpoint, topic = receiver
    topic.reset()
    monkeypatch.setenv("EventGridTopicEndpoint", endpoint)
    monkeypatch.setenv("EventGridTopicKey", TOPIC_KEY)
    monkeypatch.delenv("PORTAFN_AZURE_MESSAGING", raising=False)
    return topic


# -- the app ------------------------------------------------------------------------------------


class Placed(BaseModel):
    order_id: str
    total: int


def shop(seen: list[tuple[Event[Placed], Context]]) -> App:
    app = App("azure-grid")

    @app.http("POST", "/customers/{customer_id}/orders")
    def place(customer_id: str, body: Placed, ctx: Context) -> dict[str, str | None]:
        message_id = ctx.publish(
            "order.placed",
            body,
            key=customer_id,
            subject=f"orders/{body.order_id}",
            attributes={"tenant": "t1", "Tenant-Region": "eu-west"},
        )
        return {"id": message_id, "causation": ctx.causation_id}

    @app.event("order.placed")
    def on_placed(ev: Event[Placed], ctx: Context) -> None:
        seen.append((ev, ctx))

    @app.topic("order-shipped")
    def on_shipped(msg: Message[Placed]) -> None: ...

    @app.queue("order-audit")
    def on_audit(msg: Message[Any]) -> None: ...

    return app


def as_host_delivers(event: dict[str, Any]) -> Any:
    """What the worker gets for one CloudEvent Event Grid pushes to the app's Event Grid trigger:
    the event as JSON, decoded by the library's converter."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    return EventGridEventInConverter.decode(Datum(json.dumps(event), "json"), trigger_metadata={})


# -- tests --------------------------------------------------------------------------------------


def test_published_event_reaches_the_apps_event_function_through_event_grid(grid: Topic) -> None:
    seen: list[tuple[Event[Placed], Context]] = []
    driver = AzureDriver(shop(seen))
    before = datetime.now(UTC)
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

    # What went over the wire: one publish, authenticated with the topic key, one CloudEvent.
    [publish] = grid.accepted
    assert grid.statuses == [200]
    assert publish.headers["aeg-sas-key"] == TOPIC_KEY
    assert publish.headers["Content-Type"] == BATCH_CONTENT_TYPE
    assert publish.query["api-version"] == ["2018-01-01"]
    [wire] = publish.events
    assert (wire["specversion"], wire["id"], wire["type"]) == ("1.0", message_id, "order.placed")
    assert wire["source"] == "portafn://azure-grid/place"
    assert wire["subject"] == "orders/o-1"
    assert before - timedelta(seconds=1) <= parse_time(wire["time"], "time") <= datetime.now(UTC)
    assert wire["datacontenttype"] == "application/json"
    assert wire["data"] == {"order_id": "o-1", "total": 30}
    assert "data_base64" not in wire
    assert (wire["correlationid"], wire["causationid"], wire["partitionkey"]) == ("corr-7", causation, "c-1")
    assert wire["traceparent"].split("-")[1] == TRACE_ID
    assert wire["traceparent"] != TRACEPARENT  # a child span of the request's
    # A valid extension name travels as itself; the others inside portafnattributes.
    assert wire["tenant"] == "t1"
    assert json.loads(wire[ATTRIBUTES_EXT]) == {"Tenant-Region": "eu-west"}

    # The round trip a deployed app makes: Event Grid pushes the event to the app's trigger.
    driver.call("on_placed", as_host_delivers(wire))
    [(ev, ctx)] = seen
    assert ev.id == message_id
    assert ev.type == "order.placed"
    assert ev.source == "portafn://azure-grid/place"
    assert ev.subject == "orders/o-1"
    assert ev.time == parse_time(wire["time"], "time")
    assert ev.data == Placed(order_id="o-1", total=30)
    assert ev.extensions["correlationid"] == "corr-7"
    assert ev.extensions["causationid"] == causation
    assert ev.extensions["tenant"] == "t1"
    assert ev.traceparent == wire["traceparent"]
    # The consumer continues the conversation: same correlation and trace, caused by this event.
    assert (ctx.correlation_id, ctx.causation_id) == ("corr-7", message_id)
    assert ctx.traceparent is not None
    assert ctx.traceparent.split("-")[1] == TRACE_ID


@pytest.mark.parametrize(
    ("data", "ctype"),
    [
        ({"n": 1, "text": "é"}, "application/json"),
        ("plain words", "text/plain; charset=utf-8"),
        (b"\x00\xffbinary", "application/octet-stream"),
    ],
    ids=["json", "text", "bytes"],
)
def test_payloads_arrive_as_cloudevent_data(grid: Topic, data: Any, ctype: str) -> None:
    seen: list[Event[Any]] = []
    app = App("payloads")

    @app.event("payloads")
    def on_payload(ev: Event[Any]) -> None:
        seen.append(ev)

    outgoing = build("payloads", data, source="portafn://t/f", correlation_id="c", causation_id="x")
    make_publisher(Runtime(app, "azure")).publish(outgoing)
    [wire] = grid.events()
    assert (wire["id"], wire["datacontenttype"], wire["causationid"]) == (outgoing.id, ctype, "x")
    if isinstance(data, bytes):
        assert "data" not in wire
        assert base64.b64decode(wire["data_base64"]) == data
    else:
        assert "data_base64" not in wire
        assert wire["data"] == data

    AzureDriver(app).call("on_payload", as_host_delivers(wire))
    [ev] = seen
    assert (ev.id, ev.datacontenttype) == (outgoing.id, ctype)
    assert ev.data == data  # bytes arrive as bytes (data_base64 decoded)


def test_the_client_is_made_once_and_sends_each_publish(grid: Topic) -> None:
    app = App("many")

    @app.event("tick")
    def on_tick(ev: Event[Any]) -> None: ...

    publisher = AzurePublisher(app)
    ids = []
    for n in range(3):
        outgoing = build("tick", {"n": n}, source="s", correlation_id=None, causation_id=None)
        publisher.publish(outgoing)
        ids.append(outgoing.id)
        client = publisher.eventgrid.client()
        assert publisher.eventgrid.client() is client
    assert [e["id"] for e in grid.events()] == ids
    assert [e["data"] for e in grid.events()] == [{"n": 0}, {"n": 1}, {"n": 2}]
    publisher.close()


def test_a_wrong_key_is_the_sdks_auth_error_and_the_key_is_never_shown(
    grid: Topic, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("EventGridTopicKey", WRONG_KEY)
    seen: list[tuple[Event[Placed], Context]] = []
    publisher = AzurePublisher(shop(seen))
    outgoing = build(
        "order.placed", {"order_id": "o", "total": 1}, source="s", correlation_id=None, causation_id=None
    )
    # Like Storage and Service Bus, the SDK's error propagates: the outbox relay retries it.
    with pytest.raises(ClientAuthenticationError) as info:
        publisher.publish(outgoing)
    assert grid.statuses == [401]
    assert grid.accepted == []
    for secret in (WRONG_KEY, TOPIC_KEY):
        assert secret not in str(info.value)
        assert secret not in caplog.text
    # The SDK's HTTP logging ran, with the key header redacted.
    assert "'aeg-sas-key': 'REDACTED'" in caplog.text


def test_no_endpoint_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EventGridTopicEndpoint", "EventGridTopicKey", "EventGridConnection__topicEndpointUri"):
        monkeypatch.delenv(name, raising=False)
    publisher = AzurePublisher(messaging="eventgrid")
    outgoing = build("anything", {}, source="s", correlation_id=None, causation_id=None)
    with pytest.raises(PublishError) as info:
        publisher.publish(outgoing)
    text = str(info.value)
    assert "EventGridTopicEndpoint" in text
    assert "EventGridTopicKey" in text
    assert "EventGridConnection__topicEndpointUri" in text


def test_an_endpoint_without_a_key_names_the_key_setting_and_never_shows_a_value(
    receiver: tuple[str, Topic], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, topic = receiver
    topic.reset()
    monkeypatch.setenv("GridEndpoint", endpoint)
    monkeypatch.delenv("GridKey", raising=False)
    publisher = AzurePublisher(
        messaging="eventgrid", eventgrid_endpoint="GridEndpoint", eventgrid_key="GridKey"
    )
    with pytest.raises(PublishError, match="GridKey") as info:
        publisher.publish(build("x", {}, source="s", correlation_id=None, causation_id=None))
    assert endpoint not in str(info.value)
    assert topic.statuses == []


def test_routes_follow_the_apps_triggers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAFN_AZURE_MESSAGING", raising=False)
    app = shop([])
    default = AzurePublisher(app)
    assert default.route("order.placed") == Route("eventgrid", "event", "order.placed")
    # The trigger filters on the CloudEvent type: a type= naming an event function goes there.
    assert default.route("orders", "order.placed") == Route("eventgrid", "event", "order.placed")
    assert default.route("order.placed", "other.type") == Route("storage", "queue", "order-placed")
    # Service Bus topic and queue functions are wired by topic name and come first.
    assert default.route("order-shipped", "order.placed") == Route("servicebus", "topic", "order-shipped")
    assert default.route("order-audit", "order.placed") == Route("storage", "queue", "order-audit")
    assert default.route("elsewhere") == Route("storage", "queue", "elsewhere")
    # The override: what no function of this app consumes goes to Event Grid.
    monkeypatch.setenv("PORTAFN_AZURE_MESSAGING", "eventgrid")
    grid = AzurePublisher(app)
    assert grid.route("elsewhere") == Route("eventgrid", "event", "elsewhere")
    assert grid.route("order-audit") == Route("storage", "queue", "order-audit")
    assert grid.route("order-shipped") == Route("servicebus", "topic", "order-shipped")
    assert AzurePublisher(app, messaging="storage").route("elsewhere") == Route(
        "storage", "queue", "elsewhere"
    )
    with pytest.raises(ValueError, match="eventgrid"):
        AzurePublisher(app, messaging="kafka")


def test_function_app_with_eventgrid_messaging_wires_queues_to_storage_and_publishes_to_grid(
    grid: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAFN_AZURE_MESSAGING", "eventgrid")
    app = shop([])
    driver = AzureDriver(app)
    assert driver.binding_type("on_audit") == "queueTrigger"
    assert driver.binding_type("on_placed") == "eventGridTrigger"
    publisher = make_publisher(Runtime(app, "azure"))
    assert isinstance(publisher, AzurePublisher)
    assert publisher.messaging == "eventgrid"
    publisher.publish(build("audit.external", {"a": 1}, source="s", correlation_id=None, causation_id=None))
    assert [e["type"] for e in grid.events()] == ["audit.external"]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("tenant", True),
        ("region2", True),
        ("a" * 20, True),
        ("a" * 21, False),
        ("Tenant", False),
        ("tenant-id", False),
        ("tenant_id", False),
        ("123", False),  # no letter: azure-core's CloudEvent rejects it (not lower case)
        ("ténant", False),
        ("source", False),  # a context attribute
        ("correlationid", False),  # set by portafn
        (ATTRIBUTES_EXT, False),
    ],
)
def test_extension_names(name: str, ok: bool) -> None:
    assert extension_name_ok(name) is ok


def test_attributes_that_are_not_extension_names_travel_in_portafnattributes() -> None:
    attrs = {"tenant": "t1", "Tenant-Id": "T-9", "source": "spoof", "123": "n", "a" * 21: "long"}
    outgoing = build(
        "t", {"a": 1}, source="portafn://a/f", correlation_id="c", causation_id=None, attributes=attrs
    )
    wire = eventgrid_event(outgoing)
    assert wire["tenant"] == "t1"
    assert wire["source"] == "portafn://a/f"  # an attribute never overrides the event's own
    assert json.loads(wire[ATTRIBUTES_EXT]) == {k: v for k, v in attrs.items() if k != "tenant"}
    # No attribute at all: no portafnattributes extension.
    assert ATTRIBUTES_EXT not in eventgrid_event(
        build("t", {}, source="s", correlation_id=None, causation_id=None)
    )


@pytest.mark.parametrize("name", ["Bad-Ext", "a" * 21, "123"])
def test_a_message_with_an_invalid_extension_is_refused_before_sending(name: str) -> None:
    good = build("t", {"a": 1}, source="s", correlation_id=None, causation_id=None)
    bad_event = good.event.model_copy(update={"extensions": {name: "x"}})
    bad = Outgoing(good.topic, bad_event, good.body)
    with pytest.raises(PublishError, match=name):
        eventgrid_event(bad)


def test_importing_the_adapter_loads_no_event_grid_sdk() -> None:
    code = (
        "import sys; before = set(sys.modules);"
        "import portafn_azure, portafn_azure.publish, portafn_azure.entry;"
        "from portafn_azure.publish import AzurePublisher;"
        "AzurePublisher(messaging='eventgrid').route('x');"
        "print(sorted(m for m in set(sys.modules) - before"
        " if m.startswith(('azure.eventgrid', 'azure.core.messaging'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
