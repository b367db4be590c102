"""What the adapter does to a message beyond the batch response: dead-letter it now, or delay it.

A handler that raises ``DeadLetter`` (or an error whose outcome is dead letter) asks for the
message to go to its dead-letter destination at once, without spending the retry budget:

- **SQS** (and SNS or S3 delivered through SQS): the record's body and message attributes are
  sent to the queue's dead-letter queue, and the record is then reported as a success, so Lambda
  deletes it from the source queue. The DLQ is found, in this order, from
  ``PORTAFN_DLQ_URL_<QUEUE>`` (the source queue's name upper-cased, other characters as ``_``:
  ``orders-prod`` -> ``PORTAFN_DLQ_URL_ORDERS_PROD``), the source queue's ``RedrivePolicy``
  (its ``deadLetterTargetArn``, which ``portafn package`` sets), or the name ``<queue>-dlq``
  (``<queue>-dlq.fifo`` for a FIFO queue). FIFO messages keep their ``MessageGroupId``; the
  ``MessageDeduplicationId`` is the source ``messageId``.
- **SNS, S3, schedules and EventBridge** (asynchronous invocations): the whole Lambda event is
  sent as JSON to ``PORTAFN_DLQ_URL`` (the function's dead-letter queue, also its ``OnFailure``
  destination in the template), and the invocation returns success. Without ``PORTAFN_DLQ_URL``
  the error is raised, so Lambda retries (``MaximumRetryAttempts``) and then hands the event to
  the function's ``OnFailure`` destination.
- **Kinesis and DynamoDB Streams** never come here: a dead letter stops the batch like any
  failure, and the event source mapping's ``BisectBatchOnFunctionError``, ``MaximumRetryAttempts``
  and ``DestinationConfig.OnFailure`` move the record aside (skipping a record by hand would break
  the shard's order).

The dead-lettered message carries the reason in the ``portafn-dead-letter-reason`` attribute
when the message has room for one more attribute (SQS allows 10). If the send fails, the adapter
reports the record as failed (retry): a message is never lost. ``Retry(delay=...)`` on SQS sets the
message's visibility timeout to the delay (``ChangeMessageVisibility``) before it is reported as
failed; if that call fails, the queue's own visibility timeout applies.

The SQS client is made once, on first use.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from portafn.reliability.outcomes import reason_of

DLQ_URL_ENV = "PORTAFN_DLQ_URL"
REASON_ATTRIBUTE = "portafn-dead-letter-reason"
MAX_VISIBILITY_S = 43_200  # SQS's maximum visibility timeout, 12 hours


class QueueActions(Protocol):
    """The adapter's side actions on messages; the real one speaks to SQS, tests may record."""

    def dead_letter(self, record: Mapping[str, Any], error: BaseException) -> None:
        """Send one SQS record to its queue's dead-letter queue; raise if it was not sent."""
        ...

    def dead_letter_event(self, event: Mapping[str, Any], error: BaseException) -> None:
        """Send an asynchronous invocation's event to the function's dead-letter queue; raise if
        it was not sent (or there is none)."""
        ...

    def delay(self, record: Mapping[str, Any], seconds: float) -> None:
        """Make an SQS record visible again only after ``seconds``."""
        ...


def dlq_env_name(queue: str) -> str:
    """``PORTAFN_DLQ_URL_<QUEUE>`` for a queue name."""
    return f"{DLQ_URL_ENV}_" + re.sub(r"[^A-Za-z0-9]", "_", queue).upper()


def dlq_name(queue: str) -> str:
    """The conventional dead-letter queue name of ``queue`` (``<queue>-dlq``, FIFO kept FIFO)."""
    if queue.endswith(".fifo"):
        return queue[: -len(".fifo")] + "-dlq.fifo"
    return queue + "-dlq"


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(region, account, name) of an SQS queue ARN."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "sqs":
        raise ValueError("not an SQS queue ARN")
    return parts[3], parts[4], parts[5]


def _reason(error: BaseException) -> str:
    reason = reason_of(error) or type(error).__name__
    return reason[:1024]


class SqsQueueActions:
    """``QueueActions`` against SQS through boto3 (the client made once, on first use)."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()
        self._dlq_urls: dict[str, str] = {}
        self._queue_urls: dict[str, str] = {}

    @property
    def client(self) -> Any:
        """The boto3 SQS client."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.session.Session().client("sqs")
        return self._client

    # -- finding queues ------------------------------------------------------------------------

    def queue_url(self, arn: str) -> str:
        """The URL of the queue with ``arn``."""
        url = self._queue_urls.get(arn)
        if url is None:
            _, account, name = _arn_parts(arn)
            url = self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            self._queue_urls[arn] = url
        return url

    def dlq_url(self, source_arn: str) -> str:
        """The dead-letter queue URL of the source queue (see the module docs for the order)."""
        cached = self._dlq_urls.get(source_arn)
        if cached is not None:
            return cached
        _, account, name = _arn_parts(source_arn)
        url = os.environ.get(dlq_env_name(name))
        if not url:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.queue_url(source_arn), AttributeNames=["RedrivePolicy"]
            ).get("Attributes", {})
            target = json.loads(attributes.get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
            if target:
                url = self.queue_url(str(target))
            else:
                url = self.client.get_queue_url(QueueName=dlq_name(name), QueueOwnerAWSAccountId=account)[
                    "QueueUrl"
                ]
        self._dlq_urls[source_arn] = url
        return url

    # -- actions -------------------------------------------------------------------------------

    def dead_letter(self, record: Mapping[str, Any], error: BaseException) -> None:
        """Send the record's body and attributes to its queue's DLQ."""
        source = str(record.get("eventSourceARN") or "")
        attributes = _sqs_send_attributes(record.get("messageAttributes") or {})
        if len(attributes) < 10:
            attributes[REASON_ATTRIBUTE] = {"DataType": "String", "StringValue": _reason(error)}
        request: dict[str, Any] = {
            "QueueUrl": self.dlq_url(source),
            "MessageBody": str(record.get("body") or ""),
        }
        if attributes:
            request["MessageAttributes"] = attributes
        if source.endswith(".fifo"):
            system = record.get("attributes") or {}
            request["MessageGroupId"] = str(system.get("MessageGroupId") or "portafn")
            request["MessageDeduplicationId"] = str(record.get("messageId") or "")[:128]
        self.client.send_message(**request)

    def dead_letter_event(self, event: Mapping[str, Any], error: BaseException) -> None:
        """Send the invocation's event as JSON to ``PORTAFN_DLQ_URL``."""
        url = os.environ.get(DLQ_URL_ENV)
        if not url:
            raise LookupError(f"{DLQ_URL_ENV} is not set; Lambda's retries and OnFailure destination apply")
        self.client.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(event, separators=(",", ":"), default=str),
            MessageAttributes={REASON_ATTRIBUTE: {"DataType": "String", "StringValue": _reason(error)}},
        )

    def delay(self, record: Mapping[str, Any], seconds: float) -> None:
        """``ChangeMessageVisibility`` to ``seconds`` (0 to 12 hours)."""
        self.client.change_message_visibility(
            QueueUrl=self.queue_url(str(record.get("eventSourceARN") or "")),
            ReceiptHandle=str(record.get("receiptHandle") or ""),
            VisibilityTimeout=max(0, min(MAX_VISIBILITY_S, round(seconds))),
        )


def _sqs_send_attributes(received: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Lambda's ``messageAttributes`` (camelCase, binary as base64) as ``SendMessage`` wants them."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in received.items():
        if not isinstance(attr, Mapping):
            continue
        data_type = str(attr.get("dataType") or "String")
        if attr.get("stringValue") is not None:
            out[str(name)] = {"DataType": data_type, "StringValue": str(attr["stringValue"])}
        elif attr.get("binaryValue") is not None:
            value = attr["binaryValue"]
            raw = value if isinstance(value, bytes) else base64.b64decode(str(value))
            out[str(name)] = {"DataType": data_type, "BinaryValue": raw}
    return out
