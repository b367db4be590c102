"""The Lambda handler built from an ``App``: ``handler = lambda_handler(app)``.

One Lambda may serve one function (``lambda_handler(app, "nightly")`` or the ``PORTAFN_FUNCTION``
environment variable) or all of them. Serving all, it routes by the event's shape:

- HTTP (API Gateway v1/v2, function URLs, ALB): by method and path, through the app's router;
- SQS: the queue function whose queue name is the last segment of ``eventSourceARN``; if none,
  an SNS notification inside the body goes to the topic function of its ``TopicArn``, and S3
  notifications inside the body go to the matching storage functions;
- Kinesis: the queue function named like the stream;
- SNS: the topic function named like the topic;
- S3 (direct or via EventBridge): the storage function of the bucket and action;
- DynamoDB Streams: the changes function whose table's physical name (the ``dynamodb://`` URL's
  ``prefix`` plus the table name) is the table in ``eventSourceARN``;
- EventBridge scheduled events: the only schedule function, or the one whose name is the rule's
  name or its last ``-``-separated part (``orders-prod-nightly`` serves ``nightly``);
- other EventBridge events: the event function whose type is the ``detail-type``.

Outcomes: a handler raising ``DeadLetter`` on SQS has its message sent to the queue's DLQ and
reported as done; on SNS, S3, schedules and EventBridge (asynchronous invocations) the event goes
to ``PORTAFN_DLQ_URL`` and the invocation succeeds, else the error is raised for Lambda's retries
and on-failure destination; on the streams it is a failure. See ``portafn_aws.deadletter``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from portafn.app import App, Function
from portafn.errors import EventFormatError, PortafnError
from portafn.events import Event
from portafn.log import get_logger
from portafn.runtime import Invocation, Runtime
from portafn_aws import events as ev
from portafn_aws.batch import run_batch
from portafn_aws.dynamodb_store import physical_name, prefix_from_url
from portafn_aws.http import from_response, http_source, to_request

if TYPE_CHECKING:
    from portafn_aws.deadletter import QueueActions

FUNCTION_ENV = "PORTAFN_FUNCTION"
_log = get_logger("portafn.aws")


class NoFunctionFor(PortafnError):
    """No registered function takes this event (a deployment wiring mistake, named plainly)."""


class LambdaHandler:
    """A callable ``(event, context)`` that Lambda's Python runtime invokes."""

    def __init__(self, app: App, function: str | None = None, *, actions: QueueActions | None = None) -> None:
        self.app = app
        self.runtime = Runtime(app, "aws")
        self._actions = actions
        name = function or os.environ.get(FUNCTION_ENV) or None
        # Resolve now so a wrong name fails at init (Lambda reports an init error), not per call.
        self.function: Function | None = app.function(name) if name else None

    # -- entry -----------------------------------------------------------------------------

    def __call__(self, event: Any, context: Any = None) -> Any:
        """Handle one Lambda invocation."""
        invocation = _invocation(context)
        if not isinstance(event, Mapping):
            raise EventFormatError(
                "aws", "event", f"expected a JSON object, got {type(event).__name__}", keys=()
            )
        source = http_source(event)
        if source is not None:
            request = to_request(event, source)
            return from_response(self.runtime.handle_http(request, invocation), source, event)
        records = event.get("Records")
        if isinstance(records, list):
            return self._records(records, invocation, event)
        if ev.is_eventbridge(event):
            return self._async(event, lambda: self._eventbridge(event, invocation))
        raise EventFormatError("aws", "event", "not an event shape this adapter knows", keys=event.keys())

    @property
    def actions(self) -> QueueActions:
        """What the handler does to messages beyond its answer (dead-letter, delay): SQS."""
        if self._actions is None:
            from portafn_aws.deadletter import SqsQueueActions

            self._actions = SqsQueueActions()
        return self._actions

    def _async(self, event: Mapping[str, Any], run: Callable[[], Any]) -> Any:
        """Run an asynchronously invoked handler; a dead letter goes to the function's DLQ."""
        try:
            return run()
        except Exception as exc:
            from portafn.reliability.outcomes import Outcome, outcome_of

            if outcome_of(exc) is not Outcome.DEAD_LETTER:
                raise
            try:
                self.actions.dead_letter_event(event, exc)
            except Exception as send_error:
                # No DLQ, or it refused: raise, so Lambda retries and then uses OnFailure.
                _log.warning("dead letter not sent, raising instead: %s", type(send_error).__name__)
                raise exc from None
            _log.warning("event sent to the dead-letter queue: %s", exc)
            return None

    # -- records ---------------------------------------------------------------------------

    def _records(self, records: list[Any], inv: Invocation, event: Mapping[str, Any]) -> Any:
        if not records:
            return None
        if not all(isinstance(r, Mapping) for r in records):
            raise EventFormatError("aws", "Records", "every record must be an object", keys=event.keys())
        source = ev.record_source(records[0])
        if source == "sqs":
            fifo = str(records[0].get("eventSourceARN", "")).endswith(".fifo")
            return run_batch(
                records,
                lambda r: self._sqs(r, inv),
                lambda r: str(r.get("messageId", "")),
                "fifo" if fifo else "independent",
                dead_letter=lambda r, e: self.actions.dead_letter(r, e),
                delay=lambda r, seconds: self.actions.delay(r, seconds),
            )
        if source == "kinesis":
            return run_batch(records, lambda r: self._kinesis(r, inv), ev.kinesis_sequence, "stream")
        if source == "dynamodb":
            return run_batch(records, lambda r: self._change(r, inv), ev.dynamodb_sequence, "stream")
        results = []
        for record in records:
            # SNS and S3 invoke Lambda asynchronously: a raise makes Lambda retry, then dead-letter.
            if source == "sns":
                results.append(self._async(event, partial(self._sns, record, inv)))
            else:
                results.append(self._async(event, partial(self._s3, record, inv)))
        return _jsonable(results[0]) if len(results) == 1 else None

    def _sns(self, record: Mapping[str, Any], inv: Invocation) -> Any:
        msg = ev.sns_message(record)
        topic = msg.queue
        fn = self._pick(("topic",), lambda f: _trigger_attr(f, "topic") == topic, f"SNS topic {topic!r}")
        return self.runtime.handle_event(fn, msg, inv)

    def _sqs(self, record: Mapping[str, Any], inv: Invocation) -> None:
        queue = ev.arn_name(record.get("eventSourceARN"))
        selected = self.function
        target = selected if selected is not None and selected.kind == "queue" else None
        if selected is None:
            target = self._find(("queue",), lambda f: _trigger_attr(f, "queue") == queue)
        if target is not None:
            self.runtime.handle_event(target, ev.sqs_message(record), inv)
            return
        envelope = ev.sns_envelope_in_sqs(record)
        if envelope is not None and (selected is None or selected.kind == "topic"):
            topic = ev.arn_name(envelope.get("TopicArn"))
            fn = self._pick(
                ("topic",), lambda f: _trigger_attr(f, "topic") == topic, f"SNS topic {topic!r} via SQS"
            )
            self.runtime.handle_event(fn, ev.sns_via_sqs_message(record), inv)
            return
        inner = ev.s3_in_sqs(record)
        if inner and (selected is None or selected.kind == "storage"):
            for s3_record in inner:
                self._s3(s3_record, inv)
            return
        raise NoFunctionFor(f"no queue function for SQS queue {queue!r}; functions: {self._names()}")

    def _kinesis(self, record: Mapping[str, Any], inv: Invocation) -> None:
        msg = ev.kinesis_message(record)
        fn = self._pick(
            ("queue",), lambda f: _trigger_attr(f, "queue") == msg.queue, f"Kinesis stream {msg.queue!r}"
        )
        self.runtime.handle_event(fn, msg, inv)

    def _s3(self, record: Mapping[str, Any], inv: Invocation) -> Any:
        storage = ev.s3_event(record)
        return self._storage(storage, inv)

    def _storage(self, storage: Any, inv: Invocation) -> Any:
        bucket, action = storage.bucket, storage.action
        fn = self._pick(
            ("storage",),
            lambda f: _trigger_attr(f, "bucket") == bucket and _trigger_attr(f, "on") == action,
            f"S3 bucket {bucket!r} ({action})",
        )
        return self.runtime.handle_event(fn, storage, inv)

    def _change(self, record: Mapping[str, Any], inv: Invocation) -> None:
        physical = ev.table_from_stream_arn(record.get("eventSourceARN"))
        prefix = prefix_from_url(os.environ.get("PORTAFN_STORE"))
        fn = self._pick(
            ("changes",),
            lambda f: physical_name(prefix, _trigger_attr(f, "table").name) == physical,
            f"DynamoDB table {physical!r}",
        )
        table = _trigger_attr(fn, "table")
        spec = table.spec
        change = ev.change_event(record, table=table.name, key_fields=(spec.partition_key, spec.sort_key))
        self.runtime.handle_event(fn, change, inv)

    # -- EventBridge -----------------------------------------------------------------------

    def _eventbridge(self, event: Mapping[str, Any], inv: Invocation) -> Any:
        if ev.is_scheduled(event) and (self.function is None or self.function.kind == "schedule"):
            fn = self._schedule_function(ev.rule_name(event))
            schedule = ev.schedule_event(event, _trigger_attr(fn, "cron").expression)
            return _jsonable(self.runtime.handle_event(fn, schedule, inv))
        if ev.is_s3_via_eventbridge(event) and (self.function is None or self.function.kind == "storage"):
            return _jsonable(self._storage(ev.s3_eventbridge_event(event), inv))
        cloud_event = ev.eventbridge_event(event)
        fn = self._pick(
            ("event",),
            lambda f: _trigger_attr(f, "type") == cloud_event.type,
            f"detail-type {cloud_event.type!r}",
        )
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

    # -- routing helpers -------------------------------------------------------------------

    def _find(self, kinds: tuple[str, ...], match: Callable[[Function], bool]) -> Function | None:
        for fn in self.app.functions.values():
            if fn.kind in kinds and match(fn):
                return fn
        return None

    def _pick(self, kinds: tuple[str, ...], match: Callable[[Function], bool], what: str) -> Function:
        if self.function is not None:
            if self.function.kind not in kinds:
                raise NoFunctionFor(
                    f"this Lambda serves {self.function.name!r}, a {self.function.kind} function; "
                    f"it cannot take {what}"
                )
            return self.function
        found = self._find(kinds, match)
        if found is None:
            raise NoFunctionFor(f"no {'/'.join(kinds)} function for {what}; functions: {self._names()}")
        return found

    def _names(self) -> str:
        return ", ".join(f"{f.name} ({f.kind})" for f in self.app.functions.values()) or "none"


def lambda_handler(app: App, function: str | None = None) -> LambdaHandler:
    """The Lambda handler for ``app``: all its functions, or only ``function`` (or ``$PORTAFN_FUNCTION``)."""
    return LambdaHandler(app, function)


def _trigger_attr(fn: Function, name: str) -> Any:
    """A trigger's field by name (None when this kind of trigger has no such field)."""
    return getattr(fn.trigger, name, None)


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
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Event):
        return value.model_dump(mode="json")
    return value
