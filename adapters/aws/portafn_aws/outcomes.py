"""What a handler's success, retry or dead letter becomes on AWS.

**Batches** (SQS, Kinesis, DynamoDB Streams) answer with a partial batch response, so one bad
message does not fail its neighbours. Lambda reads ``{"batchItemFailures": [{"itemIdentifier":
...}]}`` when the event source mapping has ``ReportBatchItemFailures`` on (``portafn package``
turns it on). The rules follow the service semantics:

- SQS standard queues: every record runs; each failure is reported by ``messageId``.
- SQS FIFO queues: order within a message group matters, so after the first failure the rest of
  the batch is not run and is reported failed too (it comes back in order).
- Kinesis and DynamoDB Streams: records are ordered per shard and Lambda resumes from the lowest
  reported sequence number, so processing stops at the first failure and reports that record.

A record without its identifier (an SQS record with no ``messageId``, a stream record with no
sequence number) fails the whole batch before any record runs, with an ``EventFormatError`` naming
the record and the field. Such a record cannot be reported alone: Lambda reads an empty or unknown
``itemIdentifier`` as the failure of the whole batch, and without ``ReportBatchItemFailures`` a
success would delete it unprocessed. Raising says why, runs no handler twice, and lets Lambda retry
the batch and then dead-letter it by the queue's redrive policy (or the mapping's ``OnFailure``).

When every record failed, the invocation raises ``BatchFailed`` instead: without
``ReportBatchItemFailures`` an answer would count as success and the messages would be lost,
while a raise makes Lambda retry the whole batch either way.

**Dead letters** (a handler raising ``DeadLetter``, or an error whose outcome is dead letter, see
``portafn.reliability.outcomes``) go to their dead-letter destination at once, without spending
the retry budget:

- **SQS** (and SNS or S3 delivered through SQS): the record's body and message attributes are
  sent to the queue's dead-letter queue, and the record is then reported as a success, so Lambda
  deletes it from the source queue. The DLQ is found, in this order, from
  ``PORTAFN_DLQ_URL_<QUEUE>`` (the source queue's name upper-cased, other characters as ``_``:
  ``orders-prod`` -> ``PORTAFN_DLQ_URL_ORDERS_PROD``), the source queue's ``RedrivePolicy``
  (its ``deadLetterTargetArn``, which ``portafn package`` sets), or the name ``<queue>-dlq``
  (``<queue>-dlq.fifo`` for a FIFO queue). FIFO messages keep their ``MessageGroupId``; the
  ``MessageDeduplicationId`` is the source ``messageId``.
- **SNS, S3, schedules and EventBridge** (asynchronous invocations, ``run_async``): the whole
  Lambda event is sent as JSON to ``PORTAFN_DLQ_URL`` (the function's dead-letter queue, also its
  ``OnFailure`` destination in the template), and the invocation returns success. Without
  ``PORTAFN_DLQ_URL`` the error is raised, so Lambda retries (``MaximumRetryAttempts``) and then
  hands the event to the function's ``OnFailure`` destination.
- **Kinesis and DynamoDB Streams**: a dead letter stops the batch like any failure, and the event
  source mapping's ``BisectBatchOnFunctionError``, ``MaximumRetryAttempts`` and
  ``DestinationConfig.OnFailure`` move the record aside (skipping a record by hand would break
  the shard's order).

The dead-lettered message carries the reason in the ``portafn-dead-letter-reason`` attribute
when the message has room for one more attribute (SQS allows 10). If the send fails, the record
is reported as failed (retry): a message is never lost.

**Retries**: ``Retry(delay=...)`` on SQS sets the message's visibility timeout to the delay
(``ChangeMessageVisibility``) before it is reported as failed; if that call fails, the queue's
own visibility timeout applies.

The SQS client is made once, on first use; ``portafn.reliability`` is imported on the first
failure only, as neither is free on a cold start.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from portafn.errors import EventFormatError, PortafnError
from portafn.lazy import Lazy
from portafn.log import get_logger

_log = get_logger("portafn.aws.outcomes")

Ordering = Literal["independent", "fifo", "stream"]
DLQ_URL_ENV = "PORTAFN_DLQ_URL"
REASON_ATTRIBUTE = "portafn-dead-letter-reason"
MAX_VISIBILITY_S = 43_200  # SQS's maximum visibility timeout, 12 hours
MAX_ATTRIBUTES = 10  # SQS message attributes per message


# -- batches -----------------------------------------------------------------------------------


class BatchFailed(PortafnError):
    """Every record of a batch failed; the first error is the cause."""

    def __init__(self, count: int, first: BaseException) -> None:
        self.count = count
        super().__init__(f"all {count} records of the batch failed; first: {type(first).__name__}: {first}")


@dataclass
class BatchResult:
    """What happened to a batch: identifiers that failed, and why (for tests and logs)."""

    failures: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    processed: int = 0
    dead_lettered: list[str] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        """The partial batch response Lambda reads."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}


DeadLetterSend = Callable[[Mapping[str, Any], BaseException], None]
DelaySet = Callable[[Mapping[str, Any], float], None]


def run_batch(
    records: Sequence[Mapping[str, Any]],
    handle: Callable[[Mapping[str, Any]], Any],
    identify: Callable[[Mapping[str, Any]], str],
    ordering: Ordering,
    *,
    dead_letter: DeadLetterSend | None = None,
    delay: DelaySet | None = None,
    id_field: str = "itemIdentifier",
) -> dict[str, Any]:
    """Run ``handle`` on each record and answer with the failures, as ``ordering`` requires.

    ``identify(record)`` is the record's ``itemIdentifier``, read from its ``id_field``; a record
    without one fails the batch before any record runs (see the module docs).
    ``dead_letter(record, error)`` forwards a record whose handler asked for dead letter (raise if
    it could not); ``delay(record, seconds)`` applies a ``Retry`` delay. Streams use neither.
    """
    require_identifiers(records, identify, id_field)
    result = BatchResult()
    for index, record in enumerate(records):
        try:
            handle(record)
        except Exception as error:
            item = {"item": identify(record), "index": index}
            if ordering != "stream" and _forwarded(record, error, dead_letter, item):
                result.dead_lettered.append(identify(record))
                result.processed += 1
                continue
            _apply_delay(record, error, delay)
            result.errors.append(error)
            result.failures.append(identify(record))
            _log.warning("record failed: %s", type(error).__name__, extra=item)
            if ordering == "fifo":
                result.failures.extend(identify(r) for r in records[index + 1 :])
            if ordering != "independent":
                break
        else:
            result.processed += 1
    if records and result.processed == 0 and result.errors:
        raise BatchFailed(len(records), result.errors[0]) from result.errors[0]
    return result.response()


def require_identifiers(
    records: Sequence[Mapping[str, Any]], identify: Callable[[Mapping[str, Any]], str], id_field: str
) -> None:
    """Raise ``EventFormatError`` for the first record without an identifier to report it by."""
    for index, record in enumerate(records):
        if not identify(record):
            raise EventFormatError(
                "aws",
                f"Records[{index}].{id_field}",
                "missing or empty, so the record cannot be reported alone in batchItemFailures; "
                "the whole batch fails, unprocessed, for Lambda to retry",
                keys=record.keys(),
            )


def _forwarded(
    record: Mapping[str, Any],
    error: BaseException,
    dead_letter: DeadLetterSend | None,
    item: Mapping[str, Any],
) -> bool:
    """Whether a record that asked for dead letter was sent there (and so counts as done)."""
    from portafn.reliability.outcomes import Outcome, outcome_of, reason_of

    if dead_letter is None or outcome_of(error) is not Outcome.DEAD_LETTER:
        return False
    try:
        dead_letter(record, error)
    except Exception as send_error:
        # The DLQ did not take it: report a failure, so SQS keeps the message.
        _log.warning("dead letter not sent, retrying instead: %s", type(send_error).__name__, extra=item)
        return False
    _log.warning("record sent to the dead-letter queue: %s", reason_of(error), extra=item)
    return True


def _apply_delay(record: Mapping[str, Any], error: BaseException, delay: DelaySet | None) -> None:
    """Hide a record asking for ``Retry(delay=...)`` for that long, when the source can."""
    from portafn.reliability.outcomes import Outcome, outcome_of, retry_delay

    seconds = retry_delay(error)
    if delay is None or seconds is None or outcome_of(error) is not Outcome.RETRY:
        return
    try:
        delay(record, seconds)
    except Exception as delay_error:
        _log.warning("retry delay not applied: %s", type(delay_error).__name__)


# -- asynchronous invocations ----------------------------------------------------------------


def run_async(event: Mapping[str, Any], run: Callable[[], Any], actions: Callable[[], QueueActions]) -> Any:
    """Run an asynchronously invoked handler; a dead letter goes to the function's DLQ.

    ``actions`` is called only when a dead letter has to be sent, so a healthy invocation makes
    no SQS client.
    """
    try:
        return run()
    except Exception as exc:
        from portafn.reliability.outcomes import Outcome, outcome_of

        if outcome_of(exc) is not Outcome.DEAD_LETTER:
            raise
        try:
            actions().dead_letter_event(event, exc)
        except Exception as send_error:
            # No DLQ, or it refused: raise, so Lambda retries and then uses OnFailure.
            _log.warning("dead letter not sent, raising instead: %s", type(send_error).__name__)
            raise exc from None
        _log.warning("event sent to the dead-letter queue: %s", exc)
        return None


# -- the SQS side actions --------------------------------------------------------------------


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
    from portafn.reliability.outcomes import reason_of

    reason = reason_of(error) or type(error).__name__
    return reason[:1024]


def _sqs_client() -> Any:
    import boto3

    return boto3.session.Session().client("sqs")


class SqsQueueActions:
    """``QueueActions`` against SQS through boto3 (the client made once, on first use)."""

    def __init__(self) -> None:
        self._client: Lazy[Any] = Lazy(_sqs_client)
        self._dlq_urls: dict[str, str] = {}
        self._queue_urls: dict[str, str] = {}

    @property
    def client(self) -> Any:
        """The boto3 SQS client."""
        return self._client.get()

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
        url = os.environ.get(dlq_env_name(name)) or self._redrive_target(source_arn)
        if not url:
            url = self.client.get_queue_url(QueueName=dlq_name(name), QueueOwnerAWSAccountId=account)[
                "QueueUrl"
            ]
        self._dlq_urls[source_arn] = url
        return url

    def _redrive_target(self, source_arn: str) -> str | None:
        """The URL of the source queue's ``RedrivePolicy`` target, if it has one."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.queue_url(source_arn), AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        target = json.loads(attributes.get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
        return self.queue_url(str(target)) if target else None

    # -- actions -------------------------------------------------------------------------------

    def dead_letter(self, record: Mapping[str, Any], error: BaseException) -> None:
        """Send the record's body and attributes to its queue's DLQ."""
        source = str(record.get("eventSourceARN") or "")
        attributes = _sqs_send_attributes(record.get("messageAttributes") or {})
        if len(attributes) < MAX_ATTRIBUTES:
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
