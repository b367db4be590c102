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

    def response(self) -> dict[str, Any]:
        """The partial batch response Lambda reads."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}


def run_batch(
    records: Sequence[Mapping[str, Any]],
    handle: Callable[[Mapping[str, Any]], Any],
    identify: Callable[[Mapping[str, Any]], str],
    ordering: Ordering,
) -> dict[str, Any]:
    """Run ``handle`` on each record and answer with the failures, as ``ordering`` requires."""
    result = BatchResult()
    for index, record in enumerate(records):
        try:
            handle(record)
            result.processed += 1
        except Exception as exc:
            result.errors.append(exc)
            result.failures.append(identify(record))
            _log.warning(
                "record failed: %s",
                type(exc).__name__,
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
