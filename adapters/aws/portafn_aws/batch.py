"""Partial batch responses for SQS, Kinesis and DynamoDB Streams (``batchItemFailures``).

One bad message must not fail its neighbours. Lambda reads ``{"batchItemFailures":
[{"itemIdentifier": ...}]}`` when the event source mapping has ``ReportBatchItemFailures`` on
(``portafn package`` turns it on). The rules follow the service semantics:

- SQS standard queues: every record runs; each failure is reported by ``messageId``.
- SQS FIFO queues: order within a message group matters, so after the first failure the rest of
  the batch is not run and is reported failed too (it comes back in order).
- Kinesis and DynamoDB Streams: records are ordered per shard and Lambda resumes from the lowest
  reported sequence number, so processing stops at the first failure and reports that record.

When every record failed, the invocation raises ``BatchFailed`` instead: without
``ReportBatchItemFailures`` an answer would count as success and the messages would be lost,
while a raise makes Lambda retry the whole batch either way.

Outcomes (``portafn.reliability.outcomes``): on SQS, a record whose handler asked for dead letter
is handed to ``dead_letter`` (which sends it to the queue's DLQ) and then counts as a success, so
Lambda deletes it; if that send fails, it is reported as a failure (retried, never lost). A
``Retry(delay=...)`` calls ``delay`` (``ChangeMessageVisibility``) before it is reported. On the
streams a dead letter is a failure like any other: the event source mapping's bisect, retry limit
and on-failure destination take it, and the shard's order holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from portafn.errors import PortafnError
from portafn.log import get_logger

_log = get_logger("portafn.aws.batch")

Ordering = Literal["independent", "fifo", "stream"]


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


def run_batch(
    records: Sequence[Mapping[str, Any]],
    handle: Callable[[Mapping[str, Any]], Any],
    identify: Callable[[Mapping[str, Any]], str],
    ordering: Ordering,
    *,
    dead_letter: Callable[[Mapping[str, Any], BaseException], None] | None = None,
    delay: Callable[[Mapping[str, Any], float], None] | None = None,
) -> dict[str, Any]:
    """Run ``handle`` on each record and answer with the failures, as ``ordering`` requires.

    ``dead_letter(record, error)`` forwards a record whose handler asked for dead letter (raise if
    it could not); ``delay(record, seconds)`` applies a ``Retry`` delay. Streams use neither.
    """
    result = BatchResult()
    for index, record in enumerate(records):
        try:
            handle(record)
            result.processed += 1
            continue
        except Exception as exc:
            error = exc
        # Imported on the first failure only: portafn.reliability is not free on a cold start.
        from portafn.reliability.outcomes import Outcome, outcome_of, reason_of, retry_delay

        outcome = outcome_of(error)
        if outcome is Outcome.DEAD_LETTER and dead_letter is not None and ordering != "stream":
            try:
                dead_letter(record, error)
            except Exception as send_error:
                # The DLQ did not take it: report a failure, so SQS keeps the message.
                _log.warning(
                    "dead letter not sent, retrying instead: %s",
                    type(send_error).__name__,
                    extra={"item": identify(record), "index": index},
                )
            else:
                _log.warning(
                    "record sent to the dead-letter queue: %s",
                    reason_of(error),
                    extra={"item": identify(record), "index": index},
                )
                result.dead_lettered.append(identify(record))
                result.processed += 1
                continue
        seconds = retry_delay(error)
        if outcome is Outcome.RETRY and seconds is not None and delay is not None:
            try:
                delay(record, seconds)
            except Exception as delay_error:
                _log.warning("retry delay not applied: %s", type(delay_error).__name__)
        result.errors.append(error)
        result.failures.append(identify(record))
        _log.warning(
            "record failed: %s",
            type(error).__name__,
            extra={"item": identify(record), "index": index},
        )
        if ordering == "fifo":
            result.failures.extend(identify(r) for r in records[index + 1 :])
            break
        if ordering == "stream":
            break
    if records and result.processed == 0 and result.errors:
        raise BatchFailed(len(records), result.errors[0]) from result.errors[0]
    return result.response()
