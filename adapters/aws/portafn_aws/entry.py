"""The Lambda handler built from an ``App``: ``handler = lambda_handler(app)``.

One Lambda may serve one function (``lambda_handler(app, "nightly")`` or the ``PORTAFN_FUNCTION``
environment variable) or all of them. Serving all, it routes by the event's shape:

- HTTP (API Gateway v1/v2, function URLs, ALB): by method and path, through the app's router;
- ``Records``: by the first record's ``eventSource``, through ``RECORD_SOURCES`` (one handler per
  service), each finding its function with the App's typed lookups:

  - SQS: the queue function whose queue name is the last segment of ``eventSourceARN``; if none,
    an SNS notification inside the body goes to the topic function of its ``TopicArn``, and S3
    notifications inside the body go to the matching storage functions;
  - Kinesis: the queue function named like the stream;
  - SNS: the topic function named like the topic;
  - S3: the storage function of the bucket and action;
  - DynamoDB Streams: the changes function whose table's physical name (the ``dynamodb://``
    URL's ``prefix`` plus the table name) is the table in ``eventSourceARN``;

- EventBridge: scheduled events go to the only schedule function, or the one whose name is the
  rule's name or its last ``-``-separated part (``orders-prod-nightly`` serves ``nightly``); S3
  notifications to the storage function of the bucket and action; any other event to the event
  function whose type is the ``detail-type``.

Event kinds portafn does not claim (WebSocket, authorizers, Firehose, Cognito triggers and the
others in ``events.UNCLAIMED``) raise ``EventFormatError`` naming the kind, before any routing.

Outcomes: a handler raising ``DeadLetter`` on SQS has its message sent to the queue's DLQ and
reported as done; on SNS, S3, schedules and EventBridge (asynchronous invocations) the event goes
to ``PORTAFN_DLQ_URL`` and the invocation succeeds, else the error is raised for Lambda's retries
and on-failure destination; on the streams it is a failure. See ``portafn_aws.outcomes``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel

from portafn.app import App, Function
from portafn.errors import EventFormatError, PortafnError
from portafn.events import Event, StorageEvent
from portafn.lazy import Lazy
from portafn.log import get_logger
from portafn.runtime import Invocation, Runtime, on_platform
from portafn.triggers import ChangesTrigger, ScheduleTrigger, Trigger
from portafn_aws import events as ev
from portafn_aws.dynamodb_store import DynamoDBStore, physical_name, prefix_from_url
from portafn_aws.http import from_response, http_source, to_request
from portafn_aws.outcomes import QueueActions, SqsQueueActions, run_async, run_batch

FUNCTION_ENV = "PORTAFN_FUNCTION"
LAMBDA_ENV = "AWS_LAMBDA_FUNCTION_NAME"  # set by Lambda in every execution environment
_log = get_logger("portafn.aws")
T = TypeVar("T", bound=Trigger)


class NoFunctionFor(PortafnError):
    """No registered function takes this event (a deployment wiring mistake, named plainly)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """One ``Records`` invocation: the records, the invocation, and the whole event (for DLQs)."""

    records: Sequence[Mapping[str, Any]]
    inv: Invocation
    event: Mapping[str, Any]


class LambdaHandler:
    """A callable ``(event, context)`` that Lambda's Python runtime invokes."""

    def __init__(self, app: App, function: str | None = None, *, actions: QueueActions | None = None) -> None:
        self.app = app
        self.runtime = Runtime(app, "aws")
        # The SQS client behind the real actions is made only when a message needs one.
        self._actions: Lazy[QueueActions] = Lazy(SqsQueueActions)
        if actions is not None:
            self._actions = Lazy(lambda: actions)
        name = function or os.environ.get(FUNCTION_ENV) or None
        # Resolve now so a wrong name fails at init (Lambda reports an init error), not per call.
        self.function: Function | None = app.function(name) if name else None
        if on_platform(LAMBDA_ENV):
            self.prepare()

    def prepare(self) -> None:
        """Do now what the first invocation would otherwise do: run the start-up hooks, open the
        store and make its client (importing the SDK).

        Inside Lambda this runs when the handler is built, during the init phase, which Lambda
        runs at full CPU before the first request arrives (and ahead of time for provisioned
        concurrency and SnapStart); ``PORTAFN_PREPARE=0`` leaves it to the first invocation. A
        failure here is logged and left for the first invocation to meet and answer as usual.
        """
        store = self.runtime.prepare()
        if isinstance(store, DynamoDBStore):
            try:
                _ = store.client  # made on first use: botocore's import and the client's set-up
            except Exception:
                _log.warning("making the DynamoDB client at init failed", exc_info=True)

    # -- entry -----------------------------------------------------------------------------

    def __call__(self, event: Any, context: Any = None) -> Any:
        """Handle one Lambda invocation."""
        invocation = _invocation(context)
        if type(event) is not dict and not isinstance(event, Mapping):
            raise EventFormatError(
                "aws", "event", f"expected a JSON object, got {type(event).__name__}", keys=()
            )
        # First: some unclaimed kinds look like a claimed one (a WebSocket message has httpMethod).
        ev.refuse_unclaimed(event)
        source = http_source(event)
        if source is not None:
            request = to_request(event, source)
            return from_response(self.runtime.handle_http(request, invocation), source, event)
        records = event.get("Records")
        if isinstance(records, list):
            return self._records(Batch(records, invocation, event))
        if ev.is_eventbridge(event):
            return run_async(event, lambda: self._eventbridge(event, invocation), self._actions.get)
        raise EventFormatError("aws", "event", "not an event shape this adapter knows", keys=event.keys())

    @property
    def actions(self) -> QueueActions:
        """What the handler does to messages beyond its answer (dead-letter, delay): SQS."""
        return self._actions.get()

    # -- records: one handler per source (RECORD_SOURCES) ----------------------------------------

    def _records(self, batch: Batch) -> Any:
        if not batch.records:
            return None
        if not all(isinstance(r, Mapping) for r in batch.records):
            raise EventFormatError(
                "aws", "Records", "every record must be an object", keys=batch.event.keys()
            )
        handle = RECORD_SOURCES[ev.record_source(batch.records[0])]
        return handle(self, batch)

    def _sqs_records(self, batch: Batch) -> Any:
        fifo = str(batch.records[0].get("eventSourceARN", "")).endswith(".fifo")
        return run_batch(
            batch.records,
            lambda r: self._sqs(r, batch.inv),
            ev.sqs_message_id,
            "fifo" if fifo else "independent",
            dead_letter=lambda r, e: self.actions.dead_letter(r, e),
            delay=lambda r, seconds: self.actions.delay(r, seconds),
            id_field="messageId",
        )

    def _kinesis_records(self, batch: Batch) -> Any:
        return run_batch(
            batch.records,
            lambda r: self._kinesis(r, batch.inv),
            ev.kinesis_sequence,
            "stream",
            id_field="kinesis.sequenceNumber",
        )

    def _stream_records(self, batch: Batch) -> Any:
        return run_batch(
            batch.records,
            lambda r: self._change(r, batch.inv),
            ev.dynamodb_sequence,
            "stream",
            id_field="dynamodb.SequenceNumber",
        )

    def _sns_records(self, batch: Batch) -> Any:
        return self._each_async(batch, self._sns)

    def _s3_records(self, batch: Batch) -> Any:
        return self._each_async(batch, self._s3)

    def _each_async(self, batch: Batch, handle: Callable[[Mapping[str, Any], Invocation], Any]) -> Any:
        # SNS and S3 invoke Lambda asynchronously: a raise makes Lambda retry, then dead-letter.
        results = [
            run_async(batch.event, partial(handle, record, batch.inv), self._actions.get)
            for record in batch.records
        ]
        return _jsonable(results[0]) if len(results) == 1 else None

    # -- one record ------------------------------------------------------------------------

    def _sqs(self, record: Mapping[str, Any], inv: Invocation) -> None:
        # What an SQS body may carry, tried in order: the queue's own message, an SNS
        # notification (topic subscription), S3 notifications (bucket notification to SQS).
        for carried in (self._sqs_message, self._sns_in_sqs, self._s3_in_sqs):
            if carried(record, inv):
                return
        queue = ev.arn_name(record.get("eventSourceARN"))
        raise NoFunctionFor(f"no queue function for SQS queue {queue!r}; functions: {self._names()}")

    def _sqs_message(self, record: Mapping[str, Any], inv: Invocation) -> bool:
        if self.function is not None:
            target = self.function if self.function.kind == "queue" else None
        else:
            found = self._consumers("queue", ev.arn_name(record.get("eventSourceARN")))
            target = found[0] if found else None
        if target is None:
            return False
        self.runtime.handle_event(target, ev.sqs_message(record), inv)
        return True

    def _sns_in_sqs(self, record: Mapping[str, Any], inv: Invocation) -> bool:
        envelope = ev.sns_envelope_in_sqs(record)
        if envelope is None or not self._serves("topic"):
            return False
        topic = ev.arn_name(envelope.get("TopicArn"))
        fn = self._pick("topic", self._consumers("topic", topic), f"SNS topic {topic!r} via SQS")
        self.runtime.handle_event(fn, ev.sns_via_sqs_message(record), inv)
        return True

    def _s3_in_sqs(self, record: Mapping[str, Any], inv: Invocation) -> bool:
        inner = ev.s3_in_sqs(record)
        if not inner or not self._serves("storage"):
            return False
        for s3_record in inner:
            self._s3(s3_record, inv)
        return True

    def _sns(self, record: Mapping[str, Any], inv: Invocation) -> Any:
        msg = ev.sns_message(record)
        fn = self._pick("topic", self._consumers("topic", msg.queue), f"SNS topic {msg.queue!r}")
        return self.runtime.handle_event(fn, msg, inv)

    def _kinesis(self, record: Mapping[str, Any], inv: Invocation) -> None:
        msg = ev.kinesis_message(record)
        fn = self._pick("queue", self._consumers("queue", msg.queue), f"Kinesis stream {msg.queue!r}")
        self.runtime.handle_event(fn, msg, inv)

    def _s3(self, record: Mapping[str, Any], inv: Invocation) -> Any:
        return self._storage(ev.s3_event(record), inv)

    def _storage(self, storage: StorageEvent, inv: Invocation) -> Any:
        bucket, action = storage.bucket, storage.action
        found = self.app.storage_functions(bucket, action)
        fn = self._pick("storage", found, f"S3 bucket {bucket!r} ({action})")
        return self.runtime.handle_event(fn, storage, inv)

    def _change(self, record: Mapping[str, Any], inv: Invocation) -> None:
        physical = ev.table_from_stream_arn(record.get("eventSourceARN"))
        fn = self._pick("changes", self._change_functions(physical), f"DynamoDB table {physical!r}")
        table = _trigger(fn, ChangesTrigger).table
        spec = table.spec
        change = ev.change_event(record, table=table.name, key_fields=(spec.partition_key, spec.sort_key))
        self.runtime.handle_event(fn, change, inv)

    # -- EventBridge -----------------------------------------------------------------------

    def _eventbridge(self, event: Mapping[str, Any], inv: Invocation) -> Any:
        if ev.is_scheduled(event) and self._serves("schedule"):
            fn = self._schedule_function(ev.rule_name(event))
            schedule = ev.schedule_event(event, _trigger(fn, ScheduleTrigger).cron.expression)
            return _jsonable(self.runtime.handle_event(fn, schedule, inv))
        if ev.is_s3_via_eventbridge(event) and self._serves("storage"):
            return _jsonable(self._storage(ev.s3_eventbridge_event(event), inv))
        cloud_event = ev.eventbridge_event(event)
        found = self.app.event_functions(cloud_event.type)
        fn = self._pick("event", found, f"detail-type {cloud_event.type!r}")
        return _jsonable(self.runtime.handle_event(fn, cloud_event, inv))

    def _schedule_function(self, rule: str | None) -> Function:
        if self.function is not None:
            return self.function
        schedules = self.app.by_kind("schedule")
        if len(schedules) == 1:
            return schedules[0]
        for fn in schedules:
            if rule is not None and (rule == fn.name or rule.endswith("-" + fn.name)):
                return fn
        raise NoFunctionFor(
            f"scheduled event from rule {rule!r} matches no schedule function by name; "
            f"schedule functions: {', '.join(f.name for f in schedules) or 'none'}"
        )

    # -- finding the function --------------------------------------------------------------

    def _serves(self, kind: str) -> bool:
        """Whether this Lambda may take an event for a ``kind`` function."""
        return self.function is None or self.function.kind == kind

    def _pick(self, kind: str, found: Sequence[Function], what: str) -> Function:
        """The function this Lambda serves, if it is one; else the first of ``found``."""
        if self.function is not None:
            if self.function.kind != kind:
                raise NoFunctionFor(
                    f"this Lambda serves {self.function.name!r}, a {self.function.kind} function; "
                    f"it cannot take {what}"
                )
            return self.function
        if not found:
            raise NoFunctionFor(f"no {kind} function for {what}; functions: {self._names()}")
        return found[0]

    def _consumers(self, kind: str, name: str | None) -> list[Function]:
        """The ``kind`` (queue or topic) functions on ``name``: a queue and a topic may share it."""
        if name is None:
            return []
        return [fn for fn in self.app.consumers(name) if fn.kind == kind]

    def _change_functions(self, physical: str | None) -> list[Function]:
        """The functions on the changes of the table DynamoDB calls ``physical``."""
        prefix = prefix_from_url(os.environ.get("PORTAFN_STORE"))
        for table in self.app.watched_tables().values():
            if physical_name(prefix, table.name) == physical:
                return self.app.change_functions(table)
        return []

    def _names(self) -> str:
        return ", ".join(f"{f.name} ({f.kind})" for f in self.app.functions.values()) or "none"


RecordsHandler = Callable[[LambdaHandler, Batch], Any]

# eventSource (through ``events.record_source``) -> the one handler of that service's batch.
RECORD_SOURCES: dict[ev.RecordSource, RecordsHandler] = {
    "sqs": LambdaHandler._sqs_records,
    "kinesis": LambdaHandler._kinesis_records,
    "dynamodb": LambdaHandler._stream_records,
    "sns": LambdaHandler._sns_records,
    "s3": LambdaHandler._s3_records,
}


def lambda_handler(app: App, function: str | None = None) -> LambdaHandler:
    """The Lambda handler for ``app``: all its functions, or only ``function`` (or ``$PORTAFN_FUNCTION``)."""
    return LambdaHandler(app, function)


def _trigger(fn: Function, kind: type[T]) -> T:
    """``fn``'s trigger as the type its kind promises (a mismatch is a wiring mistake)."""
    trigger = fn.trigger
    if not isinstance(trigger, kind):
        raise NoFunctionFor(f"function {fn.name!r} is a {fn.kind} function, not a {kind.__name__}")
    return trigger


def _invocation(context: Any) -> Invocation:
    """What the Lambda context tells: request id and the time left (seconds)."""
    if context is None:
        return Invocation()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return Invocation(
        request_id=getattr(context, "aws_request_id", None),
        remaining_time=(lambda: max(0.0, remaining() / 1000.0)) if callable(remaining) else None,
        raw=context,
    )


def _jsonable(value: Any) -> Any:
    """A handler's return value in a form Lambda can serialise."""
    if isinstance(value, BaseModel | Event):
        return value.model_dump(mode="json")
    return value
