"""Which function the Lambda entry hands each event to: the record-source table and typed lookups.

Events are built here in Lambda's shapes; each test names the function that must run (and that
its neighbours did not), or the error that names the wiring mistake.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from portafn_aws import lambda_handler
from portafn_aws.entry import RECORD_SOURCES, NoFunctionFor

from portafn import App, Event, Message, StorageEvent
from portafn.errors import EventFormatError

ARN = "arn:aws:{service}:us-east-1:123456789012:{name}"


def routed_app() -> tuple[App, list[str]]:
    """An app whose every function records its own name when it runs."""
    ran: list[str] = []
    app = App("routing")

    @app.queue("jobs")
    def jobs_queue(msg: Message[Any]) -> None:
        ran.append("jobs_queue")

    @app.topic("jobs")  # the same name as the queue: the event's source decides
    def jobs_topic(msg: Message[Any]) -> None:
        ran.append("jobs_topic")

    @app.topic("alerts")
    def alerts(msg: Message[Any]) -> None:
        ran.append("alerts")

    @app.storage("uploads", on="created")
    def uploaded(ev: StorageEvent) -> None:
        ran.append("uploaded")

    @app.storage("uploads", on="deleted")
    def removed(ev: StorageEvent) -> None:
        ran.append("removed")

    @app.storage("archive", on="created")
    def archived(ev: StorageEvent) -> None:
        ran.append("archived")

    @app.event("com.example.order.shipped")
    def shipped(ev: Event[Any]) -> None:
        ran.append("shipped")

    @app.event("com.example.order.paid")
    def paid(ev: Event[Any]) -> None:
        ran.append("paid")

    return app, ran


def sqs(queue: str, body: str, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "rh",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1735689600000"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": ARN.format(service="sqs", name=queue),
    }


def sns(topic: str) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "Sns": {
            "Type": "Notification",
            "MessageId": "n-1",
            "TopicArn": ARN.format(service="sns", name=topic),
            "Message": "{}",
            "Timestamp": "2025-01-01T00:00:00.000Z",
        },
    }


def s3(bucket: str, event_name: str) -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-01-01T00:00:00.000Z",
        "eventName": event_name,
        "responseElements": {"x-amz-request-id": "r", "x-amz-id-2": "i"},
        "s3": {"bucket": {"name": bucket}, "object": {"key": "a.txt", "size": 1}},
    }


def eventbridge(source: str, detail_type: str, detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def test_every_record_source_has_one_handler() -> None:
    assert set(RECORD_SOURCES) == {"sqs", "sns", "s3", "kinesis", "dynamodb"}


def test_a_queue_and_a_topic_of_one_name_get_their_own_events() -> None:
    app, ran = routed_app()
    handler = lambda_handler(app)
    assert handler({"Records": [sqs("jobs", "{}")]}) == {"batchItemFailures": []}
    handler({"Records": [sns("jobs")]})
    assert ran == ["jobs_queue", "jobs_topic"]


def test_sns_and_s3_carried_by_sqs_reach_the_topic_and_storage_functions() -> None:
    app, ran = routed_app()
    handler = lambda_handler(app)
    topic_arn = ARN.format(service="sns", name="alerts")
    envelope = {"Type": "Notification", "MessageId": "n", "TopicArn": topic_arn, "Message": "{}"}
    carried_s3 = json.dumps({"Records": [s3("uploads", "ObjectRemoved:Delete")]})
    out = handler({"Records": [sqs("inbox", json.dumps(envelope), "m-1"), sqs("inbox", carried_s3, "m-2")]})
    assert out == {"batchItemFailures": []}
    assert ran == ["alerts", "removed"]


def test_storage_goes_by_bucket_and_action() -> None:
    app, ran = routed_app()
    handler = lambda_handler(app)
    handler({"Records": [s3("uploads", "ObjectCreated:Put")]})
    handler({"Records": [s3("uploads", "ObjectRemoved:Delete")]})
    handler({"Records": [s3("archive", "ObjectCreated:Copy")]})
    handler(eventbridge("aws.s3", "Object Deleted", {"bucket": {"name": "uploads"}, "object": {"key": "k"}}))
    assert ran == ["uploaded", "removed", "archived", "removed"]
    with pytest.raises(NoFunctionFor, match=r"S3 bucket 'archive' \(deleted\)"):
        handler({"Records": [s3("archive", "ObjectRemoved:Delete")]})


def test_eventbridge_events_go_by_type() -> None:
    app, ran = routed_app()
    handler = lambda_handler(app)
    handler(eventbridge("shop", "com.example.order.paid", {"n": 1}))
    handler(eventbridge("shop", "com.example.order.shipped", {"n": 2}))
    assert ran == ["paid", "shipped"]
    with pytest.raises(
        NoFunctionFor, match=re.escape("no event function for detail-type 'com.example.order.lost'")
    ):
        handler(eventbridge("shop", "com.example.order.lost", {}))


def test_a_lambda_serving_one_function_refuses_another_kind_by_name() -> None:
    app, ran = routed_app()
    only_topic = lambda_handler(app, "alerts")
    only_topic({"Records": [sns("some-other-topic")]})  # one function per Lambda: the name is moot
    assert ran == ["alerts"]
    with pytest.raises(NoFunctionFor, match="this Lambda serves 'alerts', a topic function; it cannot take"):
        only_topic({"Records": [s3("uploads", "ObjectCreated:Put")]})


def test_an_sqs_message_nobody_takes_fails_its_record_by_name() -> None:
    app, _ = routed_app()
    with pytest.raises(Exception, match="all 1 records") as info:
        lambda_handler(app)({"Records": [sqs("nobody", "plain text")]})
    assert isinstance(info.value.__cause__, NoFunctionFor)
    assert "SQS queue 'nobody'" in str(info.value.__cause__)


def test_an_unknown_record_source_is_a_format_error() -> None:
    app, _ = routed_app()
    with pytest.raises(EventFormatError) as info:
        lambda_handler(app)({"Records": [{"eventSource": "aws:ses"}]})
    assert info.value.field == "Records[].eventSource"
