"""AWS event records to portafn's CloudEvents-shaped model.

Attribute mapping follows the CloudEvents adapter specs for AWS where they exist:

=================  ===============================  ===========================================  ==========================
source             id                               source                                       type
=================  ===============================  ===========================================  ==========================
SQS                messageId                        eventSourceARN                               com.amazonaws.sqs.message
SNS                Sns.MessageId                    Sns.TopicArn                                 com.amazonaws.sns.<Type>
S3                 x-amz-request-id.x-amz-id-2      aws:s3.<region>.<bucket>                     com.amazonaws.s3.<eventName>
Kinesis            eventID                          eventSourceARN                               com.amazonaws.kinesis.record
DynamoDB Streams   eventID                          eventSourceARN                               com.amazonaws.dynamodb.<eventName>
EventBridge        id                               source                                       detail-type (see below)
=================  ===============================  ===========================================  ==========================

The original record is always kept in ``raw``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from portafn.errors import EventFormatError
from portafn.events import Change, ChangeKind, Event, Message, Schedule, StorageEvent, StorageObject
from portafn_aws.dynamodb_keys import decode_key, item_to_python
from portafn_aws.dynamodb_store import INTERNAL, PK, SK

RecordSource = Literal["sqs", "sns", "s3", "dynamodb", "kinesis"]
PROVIDER = "aws"

_RECORD_SOURCES: dict[str, RecordSource] = {
    "aws:sqs": "sqs",
    "aws:sns": "sns",
    "aws:s3": "s3",
    "aws:dynamodb": "dynamodb",
    "aws:kinesis": "kinesis",
}


# -- shapes ----------------------------------------------------------------------------------


def record_source(record: Mapping[str, Any]) -> RecordSource:
    """Which service a ``Records`` entry came from (``eventSource``, or SNS's ``EventSource``)."""
    tag = record.get("eventSource") or record.get("EventSource")
    found = _RECORD_SOURCES.get(str(tag))
    unclaimed = UNCLAIMED_RECORD_SOURCES.get(str(tag))
    if unclaimed is not None:
        raise EventFormatError(
            PROVIDER, "Records[].eventSource", f"{unclaimed} events are not claimed by portafn"
        )
    if found is None:
        raise EventFormatError(
            PROVIDER, "Records[].eventSource", f"unknown source {tag!r}", keys=record.keys()
        )
    return found


def _context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx = event.get("requestContext")
    return ctx if isinstance(ctx, Mapping) else {}


def _has(event: Mapping[str, Any], *names: str) -> bool:
    return all(name in event for name in names)


# Event kinds Lambda can deliver that portafn does not claim: (kind, the field that tells it, the
# top-level key without which it cannot match, how to tell it). Checked before the claimed shapes,
# because some of them look like a claimed one: a WebSocket message carries ``httpMethod`` (it
# would pass for a REST request), and API Gateway authorizer requests carry a REST or HTTP API
# payload. The key lets ``refuse_unclaimed`` run only the tests that can match, on every request.
UNCLAIMED: tuple[tuple[str, str, str, Callable[[Mapping[str, Any]], bool]], ...] = (
    (
        "API Gateway WebSocket",
        "requestContext.eventType",
        "requestContext",
        # CONNECT, MESSAGE or DISCONNECT. Not connectionId alone: REST requests may carry one (null
        # eventType), as the REST sample of aws-lambda-dotnet shows.
        lambda e: bool(_context(e).get("eventType")),
    ),
    (
        "API Gateway Lambda authorizer",
        "type",
        "type",
        lambda e: e.get("type") in ("TOKEN", "REQUEST") and ("methodArn" in e or "routeArn" in e),
    ),
    (
        "VPC Lattice",
        "requestContext.serviceNetworkArn",
        "requestContext",
        lambda e: "serviceNetworkArn" in _context(e),
    ),
    ("VPC Lattice", "raw_path", "raw_path", lambda e: _has(e, "raw_path", "method")),
    (
        "Kinesis Data Firehose",
        "deliveryStreamArn",
        "deliveryStreamArn",
        lambda e: _has(e, "deliveryStreamArn", "records"),
    ),
    (
        "Cognito user pool trigger",
        "triggerSource",
        "triggerSource",
        lambda e: _has(e, "triggerSource", "userPoolId"),
    ),
    (
        "Cognito Sync trigger",
        "datasetRecords",
        "datasetRecords",
        lambda e: _has(e, "identityPoolId", "datasetRecords"),
    ),
    ("AppSync resolver", "fieldName", "fieldName", lambda e: _has(e, "typeName", "fieldName")),
    (
        "CloudFormation custom resource",
        "RequestType",
        "RequestType",
        lambda e: _has(e, "RequestType", "ResponseURL"),
    ),
    ("CloudWatch Logs subscription", "awslogs", "awslogs", lambda e: "awslogs" in e),
    (
        "Kafka (MSK or self-managed)",
        "eventSource",
        "eventSource",
        lambda e: e.get("eventSource") in ("aws:kafka", "aws:SelfManagedKafka", "SelfManagedKafka"),
    ),
    (
        "Amazon MQ",
        "eventSource",
        "eventSource",
        lambda e: e.get("eventSource") in ("aws:amq", "aws:mq", "aws:rmq"),
    ),
    (
        "S3 Batch Operations",
        "tasks",
        "tasks",
        lambda e: _has(e, "invocationSchemaVersion", "tasks"),
    ),
    (
        "Secrets Manager rotation",
        "Step",
        "Step",
        lambda e: _has(e, "SecretId", "ClientRequestToken", "Step"),
    ),
    ("CodePipeline job", "CodePipeline.job", "CodePipeline.job", lambda e: "CodePipeline.job" in e),
    (
        "AWS Config rule",
        "configRuleName",
        "configRuleName",
        lambda e: _has(e, "configRuleName", "invokingEvent"),
    ),
    ("Amazon Lex", "bot", "bot", lambda e: "bot" in e and ("currentIntent" in e or "sessionState" in e)),
)
# The unclaimed kinds by the key each needs, with their place in ``UNCLAIMED`` (the first match wins).
_Rule = tuple[int, str, str, Callable[[Mapping[str, Any]], bool]]


def _by_key() -> dict[str, list[_Rule]]:
    out: dict[str, list[_Rule]] = {}
    for place, (kind, field, gate, matches) in enumerate(UNCLAIMED):
        out.setdefault(gate, []).append((place, kind, field, matches))
    return out


_UNCLAIMED_BY_KEY = _by_key()
_UNCLAIMED_KEYS = frozenset(_UNCLAIMED_BY_KEY)

# ``Records[].eventSource`` values of services whose records portafn does not claim.
UNCLAIMED_RECORD_SOURCES: dict[str, str] = {
    "aws:ses": "SES email receiving",
    "aws:codecommit": "CodeCommit trigger",
}


def refuse_unclaimed(event: Mapping[str, Any]) -> None:
    """Raise ``EventFormatError`` naming the kind when ``event`` is one portafn does not claim.

    Such an event would otherwise be served as the claimed shape it resembles (a WebSocket
    message as a REST request) or be refused without saying what it was.
    """
    # Only the kinds whose key the event holds are tested: one or two for a claimed event.
    found = [
        rule
        for gate in _UNCLAIMED_KEYS.intersection(event.keys())
        for rule in _UNCLAIMED_BY_KEY[gate]
        if rule[3](event)
    ]
    if found:
        _, kind, field, _ = min(found, key=lambda rule: rule[0])
        raise EventFormatError(
            PROVIDER, field, f"{kind} events are not claimed by portafn", keys=event.keys()
        )


def is_eventbridge(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is an EventBridge (CloudWatch Events) envelope."""
    return "detail-type" in event and "source" in event and "detail" in event


def is_scheduled(event: Mapping[str, Any]) -> bool:
    """Whether an EventBridge envelope is a scheduled rule firing."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def is_s3_via_eventbridge(event: Mapping[str, Any]) -> bool:
    """Whether an EventBridge envelope is an S3 object created/deleted notification."""
    return event.get("source") == "aws.s3" and event.get("detail-type") in (
        "Object Created",
        "Object Deleted",
    )


def arn_name(arn: str | None) -> str:
    """The resource name at the end of an ARN (``...:my-queue``, ``...:stream/my-stream``)."""
    if not arn:
        return ""
    last = arn.rsplit(":", 1)[-1]
    return last.split("/", 1)[1] if "/" in last else last


def table_from_stream_arn(arn: str | None) -> str | None:
    """The table name in a DynamoDB stream ARN (``arn:aws:dynamodb:r:a:table/NAME/stream/...``)."""
    if not arn or ":table/" not in arn:
        return None
    return arn.split(":table/", 1)[1].split("/", 1)[0]


def rule_name(event: Mapping[str, Any]) -> str | None:
    """The EventBridge rule a scheduled event came from (first ``rule/`` resource)."""
    for res in event.get("resources") or []:
        if isinstance(res, str) and ":rule/" in res:
            return res.split(":rule/", 1)[1].rsplit("/", 1)[-1]
    return None


# -- helpers ---------------------------------------------------------------------------------


def _need(obj: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in obj or obj[name] is None:
        raise EventFormatError(PROVIDER, f"{where}{name}", "missing", keys=obj.keys())
    return obj[name]


def _decode_data(body: bytes) -> Any:
    """Best-effort data for untyped handlers: JSON if it parses, else text, else the bytes."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    try:
        return json.loads(text)
    except ValueError:
        return text


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _epoch(value: Any, *, millis: bool) -> datetime | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(number / 1000 if millis else number, tz=UTC)


def _trace_extensions(attributes: Mapping[str, str]) -> dict[str, Any]:
    ext: dict[str, Any] = {}
    for name in ("traceparent", "tracestate", "correlationid"):
        if name in attributes:
            ext[name] = attributes[name]
    return ext


# -- CloudEvents in message attributes -------------------------------------------------------
#
# What ``ctx.publish`` sends through SNS (and SQS with raw delivery) is a CloudEvent in binary
# mode: the payload is the message body and the context travels as message attributes named
# ``ce-<attribute>`` (as the CloudEvents HTTP binding names its headers), except ``traceparent``,
# which keeps its W3C name so OpenTelemetry's SQS/SNS instrumentation reads it too. SNS and SQS
# carry at most 10 attributes, shared with the user's: the context goes first as separate
# attributes (``id``, ``source``, ``type`` and the trace ids lead, so filter policies can use them),
# and whatever does not fit goes as one JSON object in ``ce-context``.

CE_PREFIX = "ce-"
CE_PACKED = "ce-context"
TRACEPARENT = "traceparent"
MAX_MESSAGE_ATTRIBUTES = 10  # SNS and SQS both
# SNS messages are text: a binary payload is sent base64 with this content type, and read back.
BASE64_CONTENT_TYPE = "application/octet-stream; encoding=base64"
# The order in which context attributes get a message attribute of their own.
_CE_ORDER = (
    "id",
    "source",
    "type",
    "correlationid",
    "causationid",
    "traceparent",
    "time",
    "datacontenttype",
    "subject",
    "partitionkey",
)


def cloudevent_attributes(event: Event[Any], attributes: Mapping[str, str]) -> dict[str, str]:
    """The message attributes carrying ``event``'s context next to the user's ``attributes``.

    Raises ``ValueError`` when the user's attributes leave no room for the context (at most 9).
    """
    from portafn.cloudevents import format_time

    context: dict[str, Any] = {"id": event.id, "source": event.source, "type": event.type}
    if event.time is not None:
        context["time"] = format_time(event.time)
    for name in ("datacontenttype", "subject", "dataschema"):
        value = getattr(event, name)
        if value is not None:
            context[name] = value
    context.update(event.extensions)
    room = MAX_MESSAGE_ATTRIBUTES - len(attributes)
    if room < 1:
        raise ValueError(
            f"SNS and SQS carry {MAX_MESSAGE_ATTRIBUTES} message attributes and the CloudEvent "
            f"context needs at least one: pass at most {MAX_MESSAGE_ATTRIBUTES - 1} attributes"
        )
    ordered = [n for n in _CE_ORDER if isinstance(context.get(n), str) and context[n]]
    ordered += sorted(n for n in context if n not in _CE_ORDER)
    single = ordered if len(ordered) <= room else ordered[: room - 1]
    out = dict(attributes)
    for name in single:
        value = context[name]
        if not isinstance(value, str) or not value:
            # Only non-empty strings can be String attributes; anything else is packed as JSON.
            continue
        out[TRACEPARENT if name == TRACEPARENT else CE_PREFIX + name] = value
    packed = {
        n: context[n] for n in ordered if (TRACEPARENT if n == TRACEPARENT else CE_PREFIX + n) not in out
    }
    if packed:
        out[CE_PACKED] = json.dumps(packed, separators=(",", ":"), default=str)
    return out


def split_cloudevent(attributes: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The CloudEvent context carried in message attributes, and the user's own attributes.

    The context is empty (and every attribute the user's) unless the attributes carry a
    ``ce-id``: a message portafn did not publish is left as it came.
    """
    context: dict[str, Any] = {}
    packed = attributes.get(CE_PACKED)
    if packed:
        try:
            parsed = json.loads(packed)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            context.update(parsed)
    for name, value in attributes.items():
        if name.startswith(CE_PREFIX) and name != CE_PACKED:
            context[name[len(CE_PREFIX) :]] = value
    if not isinstance(context.get("id"), str):
        return {}, dict(attributes)
    if TRACEPARENT in attributes:
        context[TRACEPARENT] = attributes[TRACEPARENT]
    user = {k: v for k, v in attributes.items() if not k.startswith(CE_PREFIX) and k != TRACEPARENT}
    return context, user


def _carried_body(context: dict[str, Any], body: bytes) -> bytes:
    """The payload: base64-decoded when the publisher had to encode a binary payload as text."""
    if context.get("datacontenttype") != BASE64_CONTENT_TYPE:
        return body
    context["datacontenttype"] = "application/octet-stream"
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise EventFormatError(PROVIDER, "Message", "is not the base64 its content type says") from None


_CE_FIELDS = ("id", "source", "type", "time", "datacontenttype", "subject", "dataschema", "specversion")


def _apply_cloudevent(fields: dict[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """``Message`` keyword arguments overridden by a carried CloudEvent context."""
    if not context:
        return fields
    out = dict(fields)
    out["id"] = str(context["id"])
    for name in ("source", "type", "subject", "datacontenttype", "dataschema"):
        if isinstance(context.get(name), str) and context[name]:
            out[name] = context[name]
    when = _iso(context.get("time"))
    if when is not None:
        out["time"] = when
    extensions = dict(out.get("extensions") or {})
    extensions.update({k: v for k, v in context.items() if k not in _CE_FIELDS})
    out["extensions"] = extensions
    if isinstance(context.get("partitionkey"), str) and not out.get("ordering_key"):
        out["ordering_key"] = context["partitionkey"]
    return out


# -- SQS and SNS -----------------------------------------------------------------------------


def sqs_attributes(record: Mapping[str, Any]) -> dict[str, str]:
    """SQS message attributes as strings (binary ones base64, as SQS shows them)."""
    out: dict[str, str] = {}
    for name, attr in (record.get("messageAttributes") or {}).items():
        if not isinstance(attr, Mapping):
            continue
        value = attr.get("stringValue")
        if value is None:
            value = attr.get("binaryValue")
        if value is not None:
            out[str(name)] = value if isinstance(value, str) else base64.b64encode(value).decode()
    return out


def sqs_message(record: Mapping[str, Any]) -> Message[Any]:
    """One SQS record as a ``Message`` (``body`` exactly as delivered)."""
    message_id = str(_need(record, "messageId", "Records[]."))
    body_text = _need(record, "body", "Records[].")
    body = str(body_text).encode("utf-8")
    system = record.get("attributes") or {}
    context, attributes = split_cloudevent(sqs_attributes(record))
    body = _carried_body(context, body)
    arn = record.get("eventSourceARN")
    ext = _trace_extensions(attributes)
    if system.get("AWSTraceHeader"):
        ext["awstraceheader"] = system["AWSTraceHeader"]
    try:
        attempt = max(1, int(system.get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        attempt = 1
    fields: dict[str, Any] = {
        "id": message_id,
        "source": str(arn or "aws:sqs"),
        "type": "com.amazonaws.sqs.message",
        "time": _epoch(system.get("SentTimestamp"), millis=True),
        "ordering_key": system.get("MessageGroupId"),
        "extensions": ext,
    }
    return Message(
        **_apply_cloudevent(fields, context),
        data=_decode_data(body),
        body=body,
        attributes=attributes,
        delivery_attempt=attempt,
        queue=arn_name(arn) or None,
        raw=record,
    )


def _sns_envelope(sns: Mapping[str, Any], where: str, raw: Any, delivery_attempt: int = 1) -> Message[Any]:
    message_id = str(_need(sns, "MessageId", where))
    text = _need(sns, "Message", where)
    body = str(text).encode("utf-8")
    carried: dict[str, str] = {}
    for name, attr in (sns.get("MessageAttributes") or {}).items():
        if isinstance(attr, Mapping) and attr.get("Value") is not None:
            carried[str(name)] = str(attr["Value"])
    context, attributes = split_cloudevent(carried)
    body = _carried_body(context, body)
    topic_arn = sns.get("TopicArn")
    fields: dict[str, Any] = {
        "id": message_id,
        "source": str(topic_arn or "aws:sns"),
        "type": f"com.amazonaws.sns.{sns.get('Type') or 'Notification'}",
        "subject": sns.get("Subject") or None,
        "time": _iso(sns.get("Timestamp")),
        "ordering_key": sns.get("MessageGroupId"),
        "extensions": _trace_extensions(attributes),
    }
    return Message(
        **_apply_cloudevent(fields, context),
        data=_decode_data(body),
        body=body,
        attributes=attributes,
        delivery_attempt=delivery_attempt,
        queue=arn_name(topic_arn) or None,
        raw=raw,
    )


def sns_message(record: Mapping[str, Any]) -> Message[Any]:
    """An SNS record delivered to Lambda directly. ``queue`` holds the topic name."""
    sns = _need(record, "Sns", "Records[].")
    if not isinstance(sns, Mapping):
        raise EventFormatError(PROVIDER, "Records[].Sns", "must be an object", keys=record.keys())
    return _sns_envelope(sns, "Records[].Sns.", record)


def sns_envelope_in_sqs(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The SNS notification an SQS record carries (a topic subscribed without raw delivery), if any."""
    body = record.get("body")
    if not isinstance(body, str) or not body.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, dict) and parsed.get("Type") == "Notification" and "TopicArn" in parsed:
        return parsed
    return None


def sns_via_sqs_message(record: Mapping[str, Any]) -> Message[Any]:
    """An SNS notification delivered through an SQS queue, unwrapped to the published message."""
    envelope = sns_envelope_in_sqs(record)
    if envelope is None:
        raise EventFormatError(PROVIDER, "Records[].body", "is not an SNS notification", keys=record.keys())
    system = record.get("attributes") or {}
    try:
        attempt = max(1, int(system.get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        attempt = 1
    return _sns_envelope(envelope, "Records[].body.", record, attempt)


def s3_in_sqs(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """S3 notification records an SQS message carries (S3 -> SQS), if any."""
    body = record.get("body")
    if not isinstance(body, str) or '"aws:s3"' not in body:
        return []
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    records = parsed.get("Records") if isinstance(parsed, dict) else None
    if not isinstance(records, list):
        return []
    return [r for r in records if isinstance(r, Mapping) and r.get("eventSource") == "aws:s3"]


# -- S3 --------------------------------------------------------------------------------------


def s3_action(event_name: str) -> Literal["created", "deleted"] | None:
    """``created`` for ObjectCreated:*, ``deleted`` for ObjectRemoved:*, None for other S3 events."""
    if event_name.startswith("ObjectCreated:"):
        return "created"
    if event_name.startswith("ObjectRemoved:"):
        return "deleted"
    return None


def s3_event(record: Mapping[str, Any]) -> StorageEvent:
    """One S3 notification record; the key is URL-decoded (S3 sends it form-encoded)."""
    s3 = _need(record, "s3", "Records[].")
    bucket = _need(_need(s3, "bucket", "Records[].s3."), "name", "Records[].s3.bucket.")
    obj = _need(s3, "object", "Records[].s3.")
    key = unquote_plus(str(_need(obj, "key", "Records[].s3.object.")))
    event_name = str(record.get("eventName") or "")
    action = s3_action(event_name)
    if action is None:
        raise EventFormatError(
            PROVIDER, "Records[].eventName", f"{event_name!r} is neither ObjectCreated nor ObjectRemoved"
        )
    response = record.get("responseElements") or {}
    request_id = response.get("x-amz-request-id")
    id2 = response.get("x-amz-id-2")
    event_id = f"{request_id}.{id2}" if request_id and id2 else str(obj.get("sequencer") or request_id or key)
    size = obj.get("size")
    return StorageEvent(
        id=event_id,
        source=f"{record.get('eventSource', 'aws:s3')}.{record.get('awsRegion', '')}.{bucket}",
        type=f"com.amazonaws.s3.{event_name}",
        subject=key,
        time=_iso(record.get("eventTime")),
        data=StorageObject(
            bucket=str(bucket),
            key=key,
            size=int(size) if isinstance(size, int | float) else None,
            etag=obj.get("eTag") or obj.get("etag") or None,
            version=obj.get("versionId") or None,
        ),
        action=action,
        raw=record,
    )


def s3_eventbridge_event(event: Mapping[str, Any]) -> StorageEvent:
    """An S3 "Object Created"/"Object Deleted" notification delivered by EventBridge."""
    detail = _need(event, "detail", "")
    bucket = _need(_need(detail, "bucket", "detail."), "name", "detail.bucket.")
    obj = _need(detail, "object", "detail.")
    key = str(_need(obj, "key", "detail.object."))
    size = obj.get("size")
    return StorageEvent(
        id=str(_need(event, "id", "")),
        source=str(event.get("source")),
        type=str(event.get("detail-type")),
        subject=key,
        time=_iso(event.get("time")),
        data=StorageObject(
            bucket=str(bucket),
            key=key,
            size=int(size) if isinstance(size, int | float) else None,
            etag=obj.get("etag") or None,
            version=obj.get("version-id") or None,
        ),
        action="created" if event.get("detail-type") == "Object Created" else "deleted",
        extensions=_eventbridge_extensions(event),
        raw=event,
    )


# -- EventBridge -----------------------------------------------------------------------------


def _eventbridge_extensions(event: Mapping[str, Any]) -> dict[str, Any]:
    ext: dict[str, Any] = {}
    if event.get("account"):
        ext["awsaccount"] = str(event["account"])
    if event.get("region"):
        ext["awsregion"] = str(event["region"])
    return ext


def eventbridge_type(source: str, detail_type: str) -> str:
    """The CloudEvent ``type`` of an EventBridge event.

    A detail-type without whitespace (``com.example.order.shipped``, as applications publish) is
    the type as is. AWS services use phrases (``EC2 Instance State-change Notification``), which
    are not valid types, so those become ``<source>.<phrase with each space run as '-'>``:
    ``aws.ec2.EC2-Instance-State-change-Notification``.
    """
    if detail_type and not any(c.isspace() for c in detail_type):
        return detail_type
    return f"{source}." + "-".join(detail_type.split())


def is_published_cloudevent(detail: Any) -> bool:
    """Whether an EventBridge ``detail`` is a structured CloudEvent (what ``ctx.publish`` puts)."""
    return (
        isinstance(detail, Mapping)
        and detail.get("specversion") == "1.0"
        and isinstance(detail.get("id"), str)
        and isinstance(detail.get("type"), str)
        and isinstance(detail.get("source"), str)
    )


def eventbridge_event(event: Mapping[str, Any]) -> Event[Any]:
    """An EventBridge event: ``type`` from its ``detail-type`` (see ``eventbridge_type``), ``data``
    its ``detail``.

    A ``detail`` that is a structured CloudEvent (sent by ``ctx.publish`` with the EventBridge
    publisher) is that CloudEvent: its own id, source, type, extensions and data.
    """
    detail = event.get("detail")
    if is_published_cloudevent(detail):
        from portafn.cloudevents import from_dict

        inner = from_dict(detail)
        extensions = {**_eventbridge_extensions(event), **inner.extensions}
        return inner.model_copy(update={"extensions": extensions, "raw": event})
    resources = [r for r in event.get("resources") or [] if isinstance(r, str)]
    source = str(_need(event, "source", ""))
    return Event(
        id=str(_need(event, "id", "")),
        source=source,
        type=eventbridge_type(source, str(_need(event, "detail-type", ""))),
        subject=resources[0] if resources else None,
        time=_iso(event.get("time")),
        datacontenttype="application/json",
        data=event.get("detail"),
        extensions=_eventbridge_extensions(event),
        raw=event,
    )


def schedule_event(event: Mapping[str, Any], cron: str | None = None) -> Schedule:
    """A scheduled rule firing; ``scheduled_time`` is the event's ``time``."""
    when = _iso(event.get("time"))
    resources = [r for r in event.get("resources") or [] if isinstance(r, str)]
    return Schedule(
        id=str(_need(event, "id", "")),
        source=resources[0] if resources else str(event.get("source") or "aws.events"),
        type="com.amazonaws.events.scheduled",
        subject=rule_name(event),
        time=when,
        scheduled_time=when or datetime.now(UTC),
        cron=cron,
        extensions=_eventbridge_extensions(event),
        raw=event,
    )


# -- Kinesis ---------------------------------------------------------------------------------


def kinesis_message(record: Mapping[str, Any]) -> Message[Any]:
    """A Kinesis record: ``body`` is the base64-decoded data, ``ordering_key`` its partition key."""
    kinesis = _need(record, "kinesis", "Records[].")
    data = _need(kinesis, "data", "Records[].kinesis.")
    try:
        body = base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError):
        raise EventFormatError(PROVIDER, "Records[].kinesis.data", "is not base64") from None
    sequence = str(_need(kinesis, "sequenceNumber", "Records[].kinesis."))
    arn = record.get("eventSourceARN")
    partition_key = kinesis.get("partitionKey")
    return Message(
        id=str(record.get("eventID") or sequence),
        source=str(arn or "aws:kinesis"),
        type="com.amazonaws.kinesis.record",
        time=_epoch(kinesis.get("approximateArrivalTimestamp"), millis=False),
        data=_decode_data(body),
        body=body,
        attributes={"partitionKey": str(partition_key or ""), "sequenceNumber": sequence},
        queue=arn_name(arn) or None,
        ordering_key=str(partition_key) if partition_key is not None else None,
        raw=record,
    )


def _identifier(value: Any) -> str:
    """An identifier as Lambda wants it back: a non-empty string, or "" when there is none."""
    return value if isinstance(value, str) else ""


def sqs_message_id(record: Mapping[str, Any]) -> str:
    """The ``messageId`` Lambda wants back in ``batchItemFailures`` for an SQS record ("" if none)."""
    return _identifier(record.get("messageId"))


def kinesis_sequence(record: Mapping[str, Any]) -> str:
    """The sequence number Lambda wants back in ``batchItemFailures`` for a Kinesis record."""
    kinesis = record.get("kinesis")
    return _identifier(kinesis.get("sequenceNumber")) if isinstance(kinesis, Mapping) else ""


# -- DynamoDB Streams ------------------------------------------------------------------------

_KINDS: dict[str, ChangeKind] = {"INSERT": "insert", "MODIFY": "modify", "REMOVE": "remove"}


def change_event(
    record: Mapping[str, Any],
    *,
    table: str | None = None,
    key_fields: tuple[str, str | None] | None = None,
) -> Change[Any]:
    """A DynamoDB Streams record as a ``Change`` with typed old and new images.

    ``table`` is the logical table name (the physical name less the store's prefix); without it
    the name in the ARN is used. For tables written by portafn's DynamoDB store, the key is read
    from the store's own key attributes and named by ``key_fields`` (partition, sort).
    """
    ddb = _need(record, "dynamodb", "Records[].")
    name = str(_need(record, "eventName", "Records[]."))
    kind = _KINDS.get(name)
    if kind is None:
        raise EventFormatError(PROVIDER, "Records[].eventName", f"{name!r} is not INSERT, MODIFY or REMOVE")
    keys = _need(ddb, "Keys", "Records[].dynamodb.")
    old = _image(ddb.get("OldImage"))
    new = _image(ddb.get("NewImage"))
    if PK in keys:
        pk_field, sk_field = key_fields or ("pk", "sk")
        key: dict[str, Any] = {pk_field: decode_key(str(keys[PK]["S"]))}
        if SK in keys and sk_field is not None:
            key[sk_field] = decode_key(str(keys[SK]["S"]))
    else:
        key = item_to_python(keys)
    arn = record.get("eventSourceARN")
    when = _epoch(ddb.get("ApproximateCreationDateTime"), millis=False)
    ext: dict[str, Any] = {}
    identity = record.get("userIdentity")
    if isinstance(identity, Mapping) and identity.get("principalId") == "dynamodb.amazonaws.com":
        ext["ttlexpired"] = True  # DynamoDB's TTL process made this delete
    return Change(
        id=str(record.get("eventID") or ddb.get("SequenceNumber") or ""),
        source=str(arn or "aws:dynamodb"),
        type=f"com.amazonaws.dynamodb.{name}",
        subject=json.dumps(key, sort_keys=True, default=str),
        time=when,
        kind=kind,
        table=table or table_from_stream_arn(arn) or str(arn or ""),
        key=key,
        old=old,
        new=new,
        extensions=ext,
        raw=record,
    )


def _image(image: Any) -> dict[str, Any] | None:
    if not isinstance(image, Mapping):
        return None
    return {k: v for k, v in item_to_python(image).items() if k not in INTERNAL}


def dynamodb_sequence(record: Mapping[str, Any]) -> str:
    """The sequence number Lambda wants back in ``batchItemFailures`` for a stream record."""
    ddb = record.get("dynamodb")
    return _identifier(ddb.get("SequenceNumber")) if isinstance(ddb, Mapping) else ""
