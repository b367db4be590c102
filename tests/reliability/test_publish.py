"""ctx.publish and the local bus: delivery to the app's own functions, ids and trace carried along."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from portafn import App, Context, Message, Runtime
from portafn.reliability import LocalBus, Outcome, Outgoing, Publisher, PublishError
from portafn.reliability.publish import build, child_traceparent, to_message
from portafn.testing import Client
from portafn.testing.drivers import LocalDriver
from tests.reliability.apps import effects

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def bus_of(client: Client) -> LocalBus:
    if not isinstance(client.driver, LocalDriver):
        pytest.skip(f"inspects the local bus; the {client.provider} driver publishes to its own broker")
    bus = client.driver.runtime.publisher
    assert isinstance(bus, LocalBus)
    return bus


class Lines(logging.Handler):
    """Collects the JSON-able fields of log records (the portafn logger does not propagate)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def app_lines() -> Any:
    handler = Lines()
    logger = logging.getLogger("portafn.app")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_publish_delivers_to_the_apps_topic_function(portafn_client: Client) -> None:
    resp = portafn_client.post(
        "/publish/order-created",
        json={"customer_id": "c", "order_id": "o", "total": 3},
        headers={"X-Correlation-Id": "corr-1"},
    )
    assert resp.status == 200, resp.text()
    message_id = resp.json()["id"]
    assert portafn_client.deliver_published().ok  # the broker's delivery (the local bus did it already)
    [msg] = effects.seen
    publisher_ctx, consumer_ctx = effects.contexts
    assert msg.id == message_id
    assert msg.data is not None
    assert msg.data.order_id == "o"
    assert msg.attributes == {"origin": "http"}
    assert msg.source == "portafn://reliability-tests/publish_now"
    assert msg.type == "order-created"
    assert msg.extensions["correlationid"] == "corr-1"
    assert msg.extensions["causationid"] == publisher_ctx.request_id
    assert consumer_ctx.correlation_id == "corr-1"
    assert consumer_ctx.causation_id == message_id  # what the consumer publishes names this message
    if isinstance(portafn_client.driver, LocalDriver):
        assert bus_of(portafn_client).published[0].id == message_id


def test_trace_id_reaches_the_consumers_log_lines(portafn_client: Client, app_lines: Lines) -> None:
    resp = portafn_client.post("/publish/chain-1", json={"step": 1}, headers={"traceparent": TRACEPARENT})
    assert resp.status == 200
    assert portafn_client.deliver_published().ok  # chain-1 to chain_one, whose chain-2 to chain_two
    [msg] = effects.seen  # chain-1 published chain-2, which chain_two received
    parent = msg.extensions["traceparent"]
    assert parent.split("-")[1] == TRACE_ID
    assert parent != TRACEPARENT
    consumer_lines = [r for r in app_lines.records if getattr(r, "function", None) == "chain_two"]
    assert [r.getMessage() for r in consumer_lines] == ["chain-2 received"]
    assert all(getattr(r, "correlation_id", None) == TRACE_ID for r in consumer_lines)


def test_messages_published_while_delivering_are_delivered_after(portafn_client: Client) -> None:
    bus = bus_of(portafn_client)
    assert portafn_client.post("/publish/chain-1", json={"n": 1}).status == 200
    assert effects.runs["chain_one"] == 1
    assert effects.runs["chain_two"] == 1
    first, second = bus.published
    assert (first.topic, second.topic) == ("chain-1", "chain-2")
    assert second.event.extensions["causationid"] == first.id
    assert second.event.extensions["correlationid"] == first.event.extensions["correlationid"]


def test_bus_retries_then_dead_letters(portafn_client: Client) -> None:
    bus = bus_of(portafn_client)
    ctx = _ctx(portafn_client)
    ctx.publish("outcomes", {"do": "retry"})
    ctx.publish("outcomes", {"do": "dead-letter"})
    ctx.publish("outcomes", {"do": "crash"})
    ctx.publish("outcomes", {"do": "ok"})
    outcomes = [(d.outcome, d.attempts, d.reason) for d in bus.deliveries if d.function == "decide_topic"]
    assert outcomes == [
        (Outcome.DEAD_LETTER, 3, "not yet"),  # retried up to max_attempts, then dead-lettered
        (Outcome.DEAD_LETTER, 1, "cannot ever process this"),  # at once
        (Outcome.DEAD_LETTER, 3, "KeyError"),
        (Outcome.SUCCESS, 1, None),
    ]
    # "outcomes" is a queue (decide) and a topic (decide_topic): the bus delivers to both.
    assert [m.event.data for m, d in bus.dead_letters if d.function == "decide_topic"] == [
        {"do": "retry"},
        {"do": "dead-letter"},
        {"do": "crash"},
    ]
    assert effects.runs["decide"] == 2 * (3 + 1 + 3 + 1)


def test_a_topic_nobody_consumes_is_still_published(portafn_client: Client) -> None:
    bus = bus_of(portafn_client)
    _ctx(portafn_client).publish("nobody-listens", b"\x00\x01")
    assert bus.published[-1].body == b"\x00\x01"
    assert bus.deliveries == []


def _ctx(client: Client) -> Context:
    if not isinstance(client.driver, LocalDriver):
        pytest.skip(f"publishes through the local runtime; the {client.provider} driver does not expose one")
    return client.driver.runtime.context("test", "corr-x", None, causation_id="cause-x")


def test_bad_topic_attributes_and_key_are_refused() -> None:
    with pytest.raises(PublishError, match="topic"):
        build("bad topic!", {}, source="s", correlation_id=None, causation_id=None)
    with pytest.raises(PublishError, match="attribute"):
        build("t", {}, source="s", correlation_id=None, causation_id=None, attributes={"a": 1})  # type: ignore[dict-item]
    with pytest.raises(PublishError, match="at most 10"):
        build(
            "t",
            {},
            source="s",
            correlation_id=None,
            causation_id=None,
            attributes={str(i): "v" for i in range(11)},
        )
    with pytest.raises(PublishError, match="key"):
        build("t", {}, source="s", correlation_id=None, causation_id=None, key="")


def test_a_context_without_runtime_cannot_publish() -> None:
    ctx = Context(request_id="r", correlation_id="c", provider="local", function_name="f")
    with pytest.raises(PublishError, match="not made by a Runtime"):
        ctx.publish("t", {})


def test_provider_without_a_publisher_names_the_entry_point_group() -> None:
    runtime = Runtime(App("nowhere"), "nowhere")
    ctx = runtime.context("f", "c", None)
    with pytest.raises(PublishError, match=r"portafn\.providers.*pip install portafn-nowhere"):
        ctx.publish("t", {})


class Recording(Publisher):
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def publish(self, message: Outgoing) -> None:
        self.sent.append(message)


def test_a_runtime_uses_the_publisher_it_was_given() -> None:
    recording = Recording()
    runtime = Runtime(App("given"), "aws", publisher=recording)
    ctx = runtime.context("f", "corr", None, causation_id="evt-1", traceparent=TRACEPARENT)
    mid = ctx.publish("t", {"a": 1}, key="k", type="com.example.thing", subject="s-1")
    [sent] = recording.sent
    assert sent.id == mid
    assert sent.key == "k"
    assert sent.event.type == "com.example.thing"
    assert sent.event.subject == "s-1"
    assert sent.event.extensions["partitionkey"] == "k"
    assert sent.event.extensions["causationid"] == "evt-1"
    assert json.loads(sent.body) == {"a": 1}


@pytest.mark.parametrize("data", [{"a": [1, "x"]}, "plain text", b"\xff\xfe binary", 42])
def test_outgoing_survives_its_record_form(data: Any) -> None:
    out = build(
        "t",
        data,
        source="portafn://a/f",
        correlation_id="c",
        causation_id="k",
        traceparent=TRACEPARENT,
        attributes={"x": "y"},
        key="kk",
    )
    back = Outgoing.from_record(json.loads(json.dumps(out.to_record())))
    assert (back.topic, back.id, back.body, back.attributes, back.key) == (
        out.topic,
        out.id,
        out.body,
        out.attributes,
        out.key,
    )
    assert back.event.extensions == out.event.extensions
    assert back.event.data == out.event.data
    assert to_message(back).body == out.body


def test_child_traceparent_keeps_the_trace_and_refuses_garbage() -> None:
    child = child_traceparent(TRACEPARENT)
    assert child is not None
    assert child.startswith(f"00-{TRACE_ID}-")
    assert child.endswith("-01")
    assert child_traceparent("nonsense") is None


def test_message_types_reach_the_consumer_unchanged() -> None:
    app = App("typed")
    got: list[Message[int]] = []

    @app.queue("numbers")
    def numbers(msg: Message[int]) -> None:
        got.append(msg)

    runtime = Runtime(app)
    runtime.context("f", "c", None).publish("numbers", 7, key="n")
    assert got[0].data == 7
    assert got[0].ordering_key == "n"
    assert got[0].delivery_attempt == 1
