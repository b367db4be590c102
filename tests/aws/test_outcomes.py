"""Message outcomes on AWS against moto's real SQS: dead letter to the DLQ, retry with a delay.

Messages are sent to real queues, received with boto3, and handed to ``lambda_handler`` in the
shape Lambda's SQS integration uses; what the adapter sends to the dead-letter queue is read
back from it. The streams and asynchronous sources are checked through the same entry.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import boto3
import pytest
from portafn_aws import lambda_handler
from portafn_aws.driver import AwsDriver
from portafn_aws.outcomes import REASON_ATTRIBUTE, BatchFailed, dlq_env_name, dlq_name

from portafn import App, Message
from portafn.dev.servers import RunningServer
from portafn.factories import make_message
from portafn.reliability import DeadLetter, Retry
from tests.aws.test_publish import lambda_sqs_record, make_queue

REGION = "us-east-1"


def decide_app(queue: str) -> App:
    app = App("outcome-tests")

    @app.queue(queue)
    def decide(msg: Message[dict[str, Any]]) -> None:
        do = (msg.data or {}).get("do")
        if do == "dead-letter":
            raise DeadLetter("cannot ever process this")
        if do == "retry-later":
            raise Retry("not yet", delay=120)
        if do == "retry":
            raise Retry("not yet")

    @app.topic(queue)
    def decide_topic(msg: Message[dict[str, Any]]) -> None:
        if (msg.data or {}).get("do") == "dead-letter":
            raise DeadLetter("cannot ever process this")

    return app


def receive(sqs: Any, url: str, *, wait: int = 5, visibility: int | None = None) -> list[dict[str, Any]]:
    """What the queue holds now (long polling on the server: ``wait`` seconds at most)."""
    extra = {"VisibilityTimeout": visibility} if visibility is not None else {}
    got: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        **extra,
    ).get("Messages", [])
    return got


def send_and_receive(
    sqs: Any, url: str, arn: str, bodies: list[dict[str, Any]], *, visibility: int | None = None
) -> list[dict[str, Any]]:
    """Send ``bodies`` (with one attribute each) and receive them as Lambda records, in order."""
    for i, body in enumerate(bodies):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(body),
            MessageAttributes={"n": {"DataType": "String", "StringValue": str(i)}},
        )
    got = receive(sqs, url, visibility=visibility)
    assert len(got) == len(bodies)
    got.sort(key=lambda m: int(m["MessageAttributes"]["n"]["StringValue"]))
    return [lambda_sqs_record(m, arn) for m in got]


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


def test_dead_letter_goes_to_the_redrive_target_and_is_not_retried(
    moto_env: RunningServer, queue: str
) -> None:
    sqs = boto3.client("sqs")
    dlq_url, dlq_arn = make_queue(sqs, f"{queue}-elsewhere")
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    url, arn = make_queue(sqs, queue, RedrivePolicy=policy)
    records = send_and_receive(sqs, url, arn, [{"do": "dead-letter"}, {"do": "ok"}])

    result = lambda_handler(decide_app(queue))({"Records": records})

    assert result == {"batchItemFailures": []}  # reported done, so Lambda deletes it from the queue
    [dead] = receive(sqs, dlq_url)
    assert json.loads(dead["Body"]) == {"do": "dead-letter"}
    assert dead["MessageAttributes"]["n"]["StringValue"] == "0"  # the original attributes
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "cannot ever process this"


def test_dead_letter_queue_by_convention_and_by_environment(
    moto_env: RunningServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    conventional_url, _ = make_queue(sqs, dlq_name(queue))
    url, arn = make_queue(sqs, queue)  # no redrive policy: <queue>-dlq
    [record] = send_and_receive(sqs, url, arn, [{"do": "dead-letter"}])
    assert lambda_handler(decide_app(queue))({"Records": [record]}) == {"batchItemFailures": []}
    assert len(receive(sqs, conventional_url)) == 1

    chosen_url, _ = make_queue(sqs, f"{queue}-chosen")
    monkeypatch.setenv(dlq_env_name(queue), chosen_url)
    [record] = send_and_receive(sqs, url, arn, [{"do": "dead-letter"}])
    assert lambda_handler(decide_app(queue))({"Records": [record]}) == {"batchItemFailures": []}
    assert len(receive(sqs, chosen_url)) == 1
    assert receive(sqs, conventional_url, wait=0) == []


def test_a_dead_letter_that_cannot_be_sent_is_retried_not_lost(moto_env: RunningServer, queue: str) -> None:
    sqs = boto3.client("sqs")
    url, arn = make_queue(sqs, queue)  # and no <queue>-dlq exists
    records = send_and_receive(sqs, url, arn, [{"do": "dead-letter"}, {"do": "ok"}])
    result = lambda_handler(decide_app(queue))({"Records": records})
    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    with pytest.raises(BatchFailed):  # alone in its batch: the whole invocation fails
        lambda_handler(decide_app(queue))({"Records": records[:1]})


def test_fifo_dead_letter_keeps_the_group(moto_env: RunningServer, queue: str) -> None:
    sqs = boto3.client("sqs")
    name = f"{queue}.fifo"
    dlq_url, _ = make_queue(sqs, dlq_name(name), FifoQueue="true")
    url, arn = make_queue(sqs, name, FifoQueue="true")
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"do": "dead-letter"}),
        MessageGroupId="g-1",
        MessageDeduplicationId="d-1",
    )
    [message] = receive(sqs, url)
    assert lambda_handler(decide_app(name))({"Records": [lambda_sqs_record(message, arn)]}) == {
        "batchItemFailures": []
    }
    [dead] = receive(sqs, dlq_url)
    assert dead["Attributes"]["MessageGroupId"] == "g-1"


def test_retry_with_a_delay_hides_the_message_for_that_long(moto_env: RunningServer, queue: str) -> None:
    sqs = boto3.client("sqs")
    url, arn = make_queue(sqs, queue)
    # Received with visibility 0: without the adapter's ChangeMessageVisibility both come back at once.
    bodies = [{"do": "retry-later"}, {"do": "retry"}, {"do": "ok"}]
    records = send_and_receive(sqs, url, arn, bodies, visibility=0)
    result = lambda_handler(decide_app(queue))({"Records": records})
    assert result == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records[:2]]}
    # (Lambda would delete the successful one; here it stays, visible like the plain retry.)
    visible = sorted(json.dumps(json.loads(m["Body"])) for m in receive(sqs, url, wait=1))
    assert visible == sorted(json.dumps(b) for b in bodies[1:])  # the delayed one is hidden


def test_async_dead_letter_goes_to_the_functions_queue(
    moto_env: RunningServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    dlq_url, _ = make_queue(sqs, f"{queue}-fn-dlq")
    sns_event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "m-1",
                    "TopicArn": f"arn:aws:sns:{REGION}:123456789012:{queue}",
                    "Message": json.dumps({"do": "dead-letter"}),
                    "Timestamp": "2025-01-01T00:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    handler = lambda_handler(decide_app(queue))
    with pytest.raises(DeadLetter):  # no PORTAFN_DLQ_URL: Lambda's retries and OnFailure take it
        handler(sns_event)
    monkeypatch.setenv("PORTAFN_DLQ_URL", dlq_url)
    assert handler(sns_event) is None  # sent to the function's DLQ; the invocation succeeds
    [dead] = receive(sqs, dlq_url)
    assert json.loads(dead["Body"]) == sns_event
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "cannot ever process this"


def test_a_stream_dead_letter_stops_the_batch_like_a_failure() -> None:
    app = App("stream-outcomes")

    @app.queue("clicks")
    def clicks(msg: Message[dict[str, Any]]) -> None:
        if (msg.data or {}).get("do") == "dead-letter":
            raise DeadLetter("poison")

    def record(seq: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "eventSource": "aws:kinesis",
            "eventID": f"shardId-000:{seq}",
            "eventSourceARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/clicks",
            "kinesis": {
                "sequenceNumber": seq,
                "partitionKey": "k",
                "data": base64.b64encode(json.dumps(body).encode()).decode(),
                "approximateArrivalTimestamp": 1735689600.0,
            },
        }

    records = [record("1", {"do": "ok"}), record("2", {"do": "dead-letter"}), record("3", {"do": "ok"})]
    # Reported from the dead letter on: the mapping's bisect, retry limit and OnFailure apply.
    assert lambda_handler(app)({"Records": records}) == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_the_contract_driver_reports_dead_letter_where_the_adapter_forwards() -> None:
    driver = AwsDriver(decide_app("outcomes"))
    queue_fn = driver.app.function("decide")
    topic_fn = driver.app.function("decide_topic")
    for fn in (queue_fn, topic_fn):
        delivery = driver.deliver(fn, make_message({"do": "dead-letter"}, queue="outcomes"))
        assert (delivery.ok, delivery.dead_letter, delivery.retry, delivery.error) == (
            False,
            True,
            False,
            "DeadLetter",
        )
    retried = driver.deliver(queue_fn, make_message({"do": "retry-later"}, queue="outcomes"))
    assert (retried.retry, retried.dead_letter) == (True, False)
    assert [seconds for _, seconds in driver.actions.delays] == [120]
