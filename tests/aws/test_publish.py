"""ctx.publish on AWS against moto's real server: SNS (standard, FIFO, raw delivery) and EventBridge.

Each test publishes from a function invoked through the Lambda entry (``lambda_handler``), reads
what the broker delivered to an SQS queue with boto3, and hands that record back to
``lambda_handler`` as Lambda's SQS or EventBridge integration would, asserting that the consumer
gets the data, the user's attributes, and the CloudEvent's id, correlation and causation ids.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from portafn_aws import lambda_handler
from portafn_aws.publish import AwsPublishError, EventBridgePublisher, SnsPublisher, make_publisher
from pydantic import BaseModel

from portafn import App, Context, Event, Message
from portafn.dev.servers import RunningServer
from portafn.reliability import PublishError
from portafn.reliability.publish import build

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
REGION = "us-east-1"


class Order(BaseModel):
    customer_id: str
    order_id: str


def http_event(path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API (2.0) POST, as Lambda receives it."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": f"req-{uuid.uuid4()}",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1735689600000,
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def make_app(topic: str, seen: list[tuple[Message[Any] | Event[Any], Context]]) -> App:
    """An app whose HTTP function publishes on ``topic`` and whose consumers record what arrives."""
    app = App("publish-tests")

    @app.http("POST", "/orders")
    def create(body: Order, ctx: Context) -> dict[str, str]:
        message_id = ctx.publish(topic, body, key=body.customer_id, attributes={"origin": "http"})
        return {"id": message_id, "request_id": ctx.request_id}

    @app.topic(topic)
    def on_topic(msg: Message[Order], ctx: Context) -> None:
        seen.append((msg, ctx))

    @app.queue(f"{topic}-raw")
    def on_queue(msg: Message[Order], ctx: Context) -> None:
        seen.append((msg, ctx))

    @app.event(topic)
    def on_event(ev: Event[Order], ctx: Context) -> None:
        seen.append((ev, ctx))

    return app


def post_order(handler: Any, correlation: str) -> dict[str, str]:
    out = handler(
        http_event(
            "/orders",
            {"customer_id": "c-1", "order_id": "o-1"},
            {"x-correlation-id": correlation, "traceparent": TRACEPARENT},
        )
    )
    assert out["statusCode"] == 200, out
    answer: dict[str, str] = json.loads(out["body"])
    return answer


def make_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive_one(sqs: Any, url: str) -> dict[str, Any]:
    """One message from the queue (long polling on the server, no sleeping here)."""
    got = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=5,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    assert len(got) == 1, f"expected one message on {url}, got {len(got)}"
    message: dict[str, Any] = got[0]
    return message


def lambda_sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received SQS message in the shape Lambda's SQS integration hands the function."""
    attributes = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        attributes[name] = {"stringValue": attr.get("StringValue"), "dataType": attr["DataType"]}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


@pytest.fixture
def names() -> str:
    return f"orders-{uuid.uuid4().hex[:8]}"


def assert_consumed(
    consumed: Message[Any] | Event[Any], ctx: Context, answer: dict[str, str], correlation: str
) -> None:
    assert consumed.id == answer["id"]  # the CloudEvent id, not the broker's message id
    assert isinstance(consumed.data, Order)
    assert consumed.data.order_id == "o-1"
    assert consumed.source == "portafn://publish-tests/create"
    assert consumed.type == consumed.extensions.get("type", consumed.type)
    assert consumed.extensions["correlationid"] == correlation
    assert consumed.extensions["causationid"] == answer["request_id"]
    assert consumed.extensions["partitionkey"] == "c-1"
    traceparent = consumed.extensions["traceparent"]
    assert traceparent.split("-")[1] == TRACE_ID
    assert traceparent != TRACEPARENT  # a child span of the publisher's
    assert ctx.correlation_id == correlation
    assert ctx.causation_id == answer["id"]


def test_sns_publish_reaches_the_topic_function_through_an_sqs_subscription(
    moto_env: RunningServer, names: str
) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name=names)["TopicArn"]
    url, queue_arn = make_queue(sqs, f"{names}-sub")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)  # raw delivery off
    seen: list[tuple[Any, Context]] = []
    handler = lambda_handler(make_app(names, seen))

    # No PORTAFN_AWS_TOPIC_ARN_PREFIX: the ARN is built from the region and STS's account.
    answer = post_order(handler, "corr-sns-1")

    received = receive_one(sqs, url)
    envelope = json.loads(received["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == topic_arn
    assert len(envelope["MessageAttributes"]) <= 10
    assert envelope["MessageAttributes"]["ce-id"]["Value"] == answer["id"]

    result = handler({"Records": [lambda_sqs_record(received, queue_arn)]})
    assert result == {"batchItemFailures": []}
    [(consumed, ctx)] = seen
    assert isinstance(consumed, Message)
    assert consumed.attributes == {"origin": "http"}  # the user's; the context is not repeated here
    assert consumed.queue == names
    assert_consumed(consumed, ctx, answer, "corr-sns-1")


def test_raw_delivery_reaches_a_queue_function_with_the_context_in_sqs_attributes(
    moto_env: RunningServer, names: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name=names)["TopicArn"]
    monkeypatch.setenv("PORTAFN_AWS_TOPIC_ARN_PREFIX", topic_arn[: -len(names)])
    url, queue_arn = make_queue(sqs, f"{names}-raw")
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    seen: list[tuple[Any, Context]] = []
    handler = lambda_handler(make_app(names, seen))
    answer = post_order(handler, "corr-raw-1")

    received = receive_one(sqs, url)
    assert json.loads(received["Body"]) == {"customer_id": "c-1", "order_id": "o-1"}
    assert received["MessageAttributes"]["origin"]["StringValue"] == "http"

    assert handler({"Records": [lambda_sqs_record(received, queue_arn)]}) == {"batchItemFailures": []}
    [(consumed, ctx)] = seen
    assert isinstance(consumed, Message)
    assert consumed.attributes == {"origin": "http"}
    assert consumed.ordering_key == "c-1"
    assert_consumed(consumed, ctx, answer, "corr-raw-1")


def test_fifo_topic_gets_the_key_as_group_and_the_event_id_for_deduplication(
    moto_env: RunningServer, names: str
) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = f"{names}.fifo"
    topic_arn = sns.create_topic(Name=topic, Attributes={"FifoTopic": "true"})["TopicArn"]
    url, queue_arn = make_queue(sqs, f"{names}-sub.fifo", FifoQueue="true")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    publisher = SnsPublisher(topic_arn_prefix=topic_arn[: -len(topic)])
    message = build(topic, {"n": 1}, source="portafn://t/f", correlation_id="c", causation_id="x", key="c-7")

    request = publisher.request(message, topic_arn)
    assert (request["MessageGroupId"], request["MessageDeduplicationId"]) == ("c-7", message.id)
    publisher.publish(message)
    publisher.publish(message)  # an outbox relay sending again: same deduplication id

    received = receive_one(sqs, url)  # exactly one: SNS FIFO dropped the duplicate
    assert received["Attributes"]["MessageGroupId"] == "c-7"
    assert json.loads(json.loads(received["Body"])["Message"]) == {"n": 1}


def test_binary_payload_travels_base64_and_arrives_as_bytes(moto_env: RunningServer, names: str) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name=names)["TopicArn"]
    url, queue_arn = make_queue(sqs, f"{names}-bin")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    payload = b"\x00\x01\xfe\xff"
    SnsPublisher().publish(
        build(names, payload, source="portafn://t/f", correlation_id=None, causation_id=None)
    )

    seen: list[Message[Any]] = []
    app = App("binary")

    @app.topic(names)
    def take(msg: Message[Any]) -> None:
        seen.append(msg)

    received = receive_one(sqs, url)
    lambda_handler(app)({"Records": [lambda_sqs_record(received, queue_arn)]})
    [msg] = seen
    assert msg.body == payload
    assert msg.datacontenttype == "application/octet-stream"


def test_eventbridge_publish_reaches_the_event_function(
    moto_env: RunningServer, names: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus = f"{names}-bus"
    events.create_event_bus(Name=bus)
    url, queue_arn = make_queue(sqs, f"{names}-eb")
    events.put_rule(Name=f"{names}-rule", EventBusName=bus, EventPattern=json.dumps({"detail-type": [names]}))
    events.put_targets(Rule=f"{names}-rule", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    monkeypatch.setenv("PORTAFN_AWS_PUBLISH", "eventbridge")
    monkeypatch.setenv("PORTAFN_AWS_EVENT_BUS", bus)
    seen: list[tuple[Any, Context]] = []
    handler = lambda_handler(make_app(names, seen))
    answer = post_order(handler, "corr-eb-1")

    envelope = json.loads(receive_one(sqs, url)["Body"])
    assert (envelope["source"], envelope["detail-type"]) == ("portafn://publish-tests/create", names)
    assert envelope["detail"]["specversion"] == "1.0"
    assert envelope["detail"]["portafnattributes"] == {"origin": "http"}

    handler(envelope)  # what an EventBridge rule targeting the Lambda hands it
    [(consumed, ctx)] = seen
    assert not isinstance(consumed, Message)
    # moto's envelope has no "account" field (real EventBridge's has); the region is there.
    assert consumed.extensions["awsregion"] == REGION
    assert consumed.extensions["portafnattributes"] == {"origin": "http"}
    assert_consumed(consumed, ctx, answer, "corr-eb-1")


def test_a_refused_publish_is_a_typed_error_naming_only_the_code(moto_env: RunningServer, names: str) -> None:
    message = build(names, {"n": 1}, source="portafn://t/f", correlation_id=None, causation_id=None)
    with pytest.raises(AwsPublishError) as info:
        SnsPublisher().publish(message)  # no such topic
    assert info.value.code == "NotFound"
    assert not info.value.retryable
    assert str(info.value) == f"sns did not accept the message for topic {names!r}: NotFound"
    assert "portafnlocal" not in str(info.value)  # no credentials in the message


def test_an_unreachable_broker_is_a_retryable_error(
    moto_env: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portafn.dev.process import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    message = build("nowhere", {"n": 1}, source="portafn://t/f", correlation_id=None, causation_id=None)
    with pytest.raises(AwsPublishError) as info:
        EventBridgePublisher().publish(message)
    assert info.value.retryable
    assert info.value.code == "EndpointConnectionError"


def test_user_attributes_leave_room_for_the_context() -> None:
    full = {f"a{i}": "v" for i in range(10)}
    message = build("t", {}, source="portafn://t/f", correlation_id="c", causation_id="x", attributes=full)
    with pytest.raises(PublishError, match="at most 9 attributes"):
        SnsPublisher(topic_arn_prefix="arn:aws:sns:us-east-1:123456789012:").request(message, "arn")
    nine = {f"a{i}": "v" for i in range(9)}
    message = build("t", {}, source="portafn://t/f", correlation_id="c", causation_id="x", attributes=nine)
    sent = SnsPublisher(topic_arn_prefix="").request(message, "arn")["MessageAttributes"]
    assert len(sent) == 10
    assert set(json.loads(sent["ce-context"]["StringValue"])) >= {"id", "source", "type", "causationid"}


def test_the_publisher_is_registered_and_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from portafn.plugins import load, provider

    ref = provider("aws").publisher
    assert ref is not None
    assert load(ref) is make_publisher
    monkeypatch.delenv("PORTAFN_AWS_PUBLISH", raising=False)
    assert isinstance(make_publisher(), SnsPublisher)
    monkeypatch.setenv("PORTAFN_AWS_PUBLISH", "eventbridge")
    assert isinstance(make_publisher(), EventBridgePublisher)
    monkeypatch.setenv("PORTAFN_AWS_PUBLISH", "kafka")
    with pytest.raises(PublishError, match="'sns' or 'eventbridge'"):
        make_publisher()


def test_context_that_does_not_fit_travels_packed_and_reads_back_whole() -> None:
    from portafn_aws.events import cloudevent_attributes, split_cloudevent

    message = build(
        "t",
        {"n": 1},
        source="portafn://t/f",
        correlation_id="corr",
        causation_id="cause",
        traceparent=TRACEPARENT,
        key="k",
        subject="s",
        attributes={f"u{i}": str(i) for i in range(6)},
    )
    carried = cloudevent_attributes(message.event, message.attributes)
    assert len(carried) == 10
    assert {"ce-id", "ce-source", "ce-context"} <= set(carried)
    context, user = split_cloudevent(carried)
    assert user == message.attributes
    assert context["id"] == message.id
    assert {k: context[k] for k in ("correlationid", "causationid", "partitionkey", "subject")} == {
        "correlationid": "corr",
        "causationid": "cause",
        "partitionkey": "k",
        "subject": "s",
    }
    assert context["traceparent"] == message.event.extensions["traceparent"]
    # A message portafn did not publish keeps every attribute as the user's.
    assert split_cloudevent({"traceparent": TRACEPARENT, "a": "b"}) == (
        {},
        {"traceparent": TRACEPARENT, "a": "b"},
    )


def test_importing_the_publisher_and_dead_letter_modules_loads_no_sdk() -> None:
    from tests.aws.test_import_isolation import new_modules, roots

    loaded = new_modules("import portafn_aws.publish, portafn_aws.outcomes")
    assert "portafn_aws.publish" in loaded
    assert not roots(loaded) & {"boto3", "botocore", "azure", "google", "portafn_azure", "portafn_gcp"}


def test_fifo_group_ids_are_the_key_or_a_stable_hash_of_it() -> None:
    from portafn_aws.publish import group_id

    assert group_id("customer-7") == "customer-7"
    long_key = "k" * 200
    assert group_id(long_key) == group_id(long_key) != long_key
    assert len(group_id("münchen kunde")) == 64
