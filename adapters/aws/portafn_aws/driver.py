"""The AWS test driver: neutral requests and events in Lambda's native shapes, through the handler.

Named by the ``aws`` plugin (``portafn_aws.plugin``), so ``pytest --portafn-providers aws`` runs an
app's contract tests through the same ``LambdaHandler`` (and the same translations) Lambda runs:
HTTP as API Gateway HTTP API (payload 2.0) events, queue messages as SQS batches, topics as SNS,
schedules as EventBridge scheduled events, storage as S3 notifications, changes as DynamoDB
Streams records, other events as EventBridge events.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

from pydantic import BaseModel

from portafn.app import App, Function
from portafn.events import ATTACHED_CHANGE_TYPE, Change, Event, Message, StorageEvent
from portafn.http import HttpRequest, HttpResponse, is_text_type
from portafn.reliability.publish import Outgoing
from portafn.testing.drivers import Delivery, no_native_attached
from portafn_aws.dynamodb_keys import encode_key, item_to_dynamo
from portafn_aws.dynamodb_store import ETAG, PK, SK, physical_name, prefix_from_url
from portafn_aws.entry import LambdaHandler
from portafn_aws.outcomes import BatchFailed
from portafn_aws.publish import SnsPublisher

ACCOUNT = "123456789012"
REGION = "us-east-1"


class DriverContext:
    """The attributes of Lambda's context object that handlers read."""

    def __init__(self, function_name: str, timeout_s: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = "512"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation's deadline."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class RecordedActions:
    """``QueueActions`` that keep what the adapter would send to SQS, for the contract suite
    (a real SQS is the business of tests/aws/test_outcomes.py)."""

    def __init__(self) -> None:
        self.dead_letters: list[tuple[Mapping[str, Any], BaseException]] = []
        self.delays: list[tuple[Mapping[str, Any], float]] = []

    def dead_letter(self, record: Mapping[str, Any], error: BaseException) -> None:
        """Keep the record as sent to its queue's DLQ."""
        self.dead_letters.append((record, error))

    def dead_letter_event(self, event: Mapping[str, Any], error: BaseException) -> None:
        """Keep the event as sent to the function's DLQ (``PORTAFN_DLQ_URL``)."""
        self.dead_letters.append((event, error))

    def delay(self, record: Mapping[str, Any], seconds: float) -> None:
        """Keep the visibility change."""
        self.delays.append((record, seconds))


class AwsDriver:
    """One Lambda serving every function of ``app``, invoked in process."""

    provider = "aws"

    def __init__(self, app: App) -> None:
        self.app = app
        self.actions = RecordedActions()
        self.handler = LambdaHandler(app, actions=self.actions)
        # Deployed, each event function is a Lambda of its own (PORTAFN_FUNCTION); so here too.
        self._handlers: dict[str, LambdaHandler] = {}

    def _context(self) -> DriverContext:
        return DriverContext(self.app.name)

    # -- HTTP ------------------------------------------------------------------------------

    def http(self, request: HttpRequest) -> HttpResponse:
        """The request as an HTTP API (2.0) event; the answer back as a response."""
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        binary = bool(request.body) and not is_text_type(request.headers.get("content-type"))
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": request.path,
            "rawQueryString": urlencode([(k, v) for k, vs in request.query.items() for v in vs]),
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "portafn",
                "domainName": "portafn.execute-api.us-east-1.amazonaws.com",
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.client or "127.0.0.1",
                    "userAgent": headers.get("user-agent", "portafn"),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "isBase64Encoded": binary,
        }
        if request.body:
            event["body"] = base64.b64encode(request.body).decode() if binary else request.body.decode()
        out = self.handler(event, self._context())
        body = out.get("body") or ""
        raw = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
        response = HttpResponse(raw, status=int(out["statusCode"]), headers=out.get("headers") or {})
        response.cookies.extend(out.get("cookies") or [])
        return response

    # -- events ----------------------------------------------------------------------------

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """The event in its native AWS shape, through the handler; failures as Lambda sees them."""
        if event.type == ATTACHED_CHANGE_TYPE:
            return no_native_attached(self.provider)
        native = self.native(function, event)
        handler = self._handlers.get(function.name)
        if handler is None:
            handler = self._handlers[function.name] = LambdaHandler(
                self.app, function.name, actions=self.actions
            )
        sent = len(self.actions.dead_letters)
        try:
            result = handler(native, self._context())
        except BatchFailed as exc:
            cause = exc.__cause__ or exc
            return Delivery(ok=False, error=type(cause).__name__, retry=True)
        except Exception as exc:
            return Delivery(ok=False, error=type(exc).__name__, retry=True)
        if isinstance(result, dict) and result.get("batchItemFailures"):
            return Delivery(ok=False, error="batchItemFailures", retry=True, result=result)
        if len(self.actions.dead_letters) > sent:
            # The adapter forwarded the message to the dead-letter queue and answered success.
            _, error = self.actions.dead_letters[-1]
            return Delivery(ok=False, error=type(error).__name__, dead_letter=True)
        return Delivery(ok=True, result=result)

    def native(self, function: Function, event: Event[Any]) -> dict[str, Any]:
        """The AWS event that carries ``event`` to ``function``."""
        trigger: Any = function.trigger
        kind = function.kind
        if kind == "queue":
            return {"Records": [_sqs_record(trigger.queue, event)]}
        if kind == "topic":
            return {"Records": [_sns_record(trigger.topic, event)]}
        if kind == "schedule":
            return _eventbridge(event, "aws.events", "Scheduled Event", {}, rule=function.name)
        if kind == "storage":
            assert isinstance(event, StorageEvent)
            return {"Records": [_s3_record(event)]}
        if kind == "changes":
            assert isinstance(event, Change)
            return {"Records": [_stream_record(trigger.table, event)]}
        return _eventbridge(event, event.source, event.type, _plain(event.data))


def _text(event: Event[Any]) -> str:
    if isinstance(event, Message) and event.body:
        return event.body.decode("utf-8", errors="replace")
    data = _plain(event.data)
    if isinstance(data, str):
        return data
    import json

    return json.dumps(data)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _published(event: Event[Any]) -> Outgoing | None:
    """The ``Outgoing`` a message came from, when ``ctx.publish`` made it (the contract client
    delivers what an app published); None for messages made up by a test."""
    raw = getattr(event, "raw", None)
    return raw if isinstance(raw, Outgoing) else None


def _payload(topic: str, event: Event[Any]) -> tuple[str, str, dict[str, str]]:
    """(message id, text, attributes) as SNS/SQS would deliver them. A published message is
    shaped by the real SNS publisher (the CloudEvent context in attributes, binary payloads
    base64) and gets a broker-made id, as SNS gives one; a test's own message passes as it is."""
    outgoing = _published(event)
    if outgoing is not None:
        request = SnsPublisher(topic_arn_prefix=f"arn:aws:sns:{REGION}:{ACCOUNT}:").request(
            outgoing, f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"
        )
        attributes = {k: str(v["StringValue"]) for k, v in request["MessageAttributes"].items()}
        return str(uuid.uuid4()), str(request["Message"]), attributes
    attributes = dict(event.attributes) if isinstance(event, Message) else {}
    return event.id, _text(event), attributes


def _sqs_record(queue: str, event: Event[Any]) -> dict[str, Any]:
    # A published message reaches a queue function by a raw-delivery SNS subscription: the
    # payload as the body and the SNS message attributes as SQS message attributes.
    message_id, text, attributes = _payload(queue, event)
    attempt = event.delivery_attempt if isinstance(event, Message) else 1
    return {
        "messageId": message_id,
        "receiptHandle": "rh-" + message_id,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(attempt),
            "SentTimestamp": str(int((event.time.timestamp() if event.time else time.time()) * 1000)),
        },
        "messageAttributes": {k: {"stringValue": v, "dataType": "String"} for k, v in attributes.items()},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def _sns_record(topic: str, event: Event[Any]) -> dict[str, Any]:
    message_id, text, attributes = _payload(topic, event)
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic_arn,
            "Subject": event.subject,
            "Message": text,
            "Timestamp": (event.time or _now()).isoformat().replace("+00:00", "Z"),
            "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items()},
        },
    }


def _eventbridge(
    event: Event[Any], source: str, detail_type: str, detail: Any, rule: str | None = None
) -> dict[str, Any]:
    when = getattr(event, "scheduled_time", None) or event.time or _now()
    resources = [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"] if rule else []
    return {
        "version": "0",
        "id": event.id,
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": when.isoformat().replace("+00:00", "Z"),
        "region": REGION,
        "resources": resources,
        "detail": detail if detail is not None else {},
    }


def _s3_record(event: StorageEvent) -> dict[str, Any]:
    obj = event.data
    assert obj is not None
    name = "ObjectCreated:Put" if event.action == "created" else "ObjectRemoved:Delete"
    record_obj: dict[str, Any] = {"key": quote_plus(obj.key), "sequencer": "0"}
    if obj.size is not None:
        record_obj["size"] = obj.size
    if obj.etag:
        record_obj["eTag"] = obj.etag
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": (event.time or _now()).isoformat().replace("+00:00", "Z"),
        "eventName": name,
        "responseElements": {"x-amz-request-id": event.id, "x-amz-id-2": "portafn"},
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": obj.bucket}, "object": record_obj},
    }


def _stream_record(table: Any, change: Change[Any]) -> dict[str, Any]:
    spec = table.spec
    keys: dict[str, Any] = {PK: {"S": encode_key(change.key[spec.partition_key])}}
    if spec.sort_key is not None:
        keys[SK] = {"S": encode_key(change.key[spec.sort_key])}
    ddb: dict[str, Any] = {
        "ApproximateCreationDateTime": int((change.time or _now()).timestamp()),
        "Keys": keys,
        "SequenceNumber": change.id,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    for field, image in (("OldImage", change.old), ("NewImage", change.new)):
        if image is not None:
            ddb[field] = {**item_to_dynamo(_plain(image)), **keys, ETAG: {"S": "driver"}}
    physical = physical_name(prefix_from_url(os.environ.get("PORTAFN_STORE")), table.name)
    return {
        "eventID": change.id,
        "eventName": {"insert": "INSERT", "modify": "MODIFY", "remove": "REMOVE"}[change.kind],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": ddb,
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}/stream/2025-01-01T00:00:00.000",
    }


def _now() -> Any:
    from portafn.events import now_utc

    return now_utc()
