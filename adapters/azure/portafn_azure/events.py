"""Azure Functions trigger objects translated to portafn's CloudEvents model.

Each function takes what the azure-functions library's converter hands a function (``QueueMessage``,
``ServiceBusMessage``, ``TimerRequest``, ``InputStream``, ``EventGridEvent``/``CloudEvent``,
``DocumentList``) and reads it through public attributes only, so the same code serves the 1.x and
2.x lines of the library. The original object is kept in ``raw``. A payload of the wrong shape
raises ``EventFormatError`` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from portafn.cloudevents import parse_time
from portafn.errors import EventFormatError
from portafn.events import (
    ATTACHED_CHANGE_TYPE,
    Change,
    Event,
    Message,
    Schedule,
    StorageEvent,
    StorageObject,
    now_utc,
)

PROVIDER = "azure"
BLOB_TYPES = {"Microsoft.Storage.BlobCreated": "created", "Microsoft.Storage.BlobDeleted": "deleted"}
_SYSTEM = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})


def _fail(field: str, problem: str, keys: Iterable[str] | None = None) -> EventFormatError:
    return EventFormatError(PROVIDER, field, problem, keys=keys)


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")


def _time(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parse_time(str(value), field)
    except EventFormatError:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise _fail(field, "is not a timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _body_bytes(msg: Any, field: str) -> bytes:
    get_body = getattr(msg, "get_body", None)
    if not callable(get_body):
        raise _fail(field, f"expected a message with get_body(), got {type(msg).__name__}")
    body = get_body()
    if isinstance(body, str):
        return body.encode("utf-8")
    if not isinstance(body, bytes | bytearray):
        raise _fail(field, "body is not bytes")
    return bytes(body)


def unwrap(body: bytes) -> tuple[Event[Any], bytes, dict[str, str]] | None:
    """The CloudEvent a message body holds in the JSON event format (what portafn publishes), with
    its data as payload bytes and the ``portafnattributes`` it carries; None for any other body.

    JSON data comes back as compact JSON (``ctx.publish`` sends it so), text as UTF-8, and
    ``data_base64`` as its bytes.
    """
    import base64

    from portafn.cloudevents import from_dict
    from portafn.factories import encode_payload

    if not body.lstrip().startswith(b"{") or b'"specversion"' not in body:
        return None
    try:
        obj = json.loads(body)
        if not isinstance(obj, dict) or "specversion" not in obj:
            return None
        event = from_dict(obj)
    except (ValueError, EventFormatError):
        return None  # not a CloudEvent after all: the body is the payload
    attributes: dict[str, str] = {}
    packed = event.extensions.pop("portafnattributes", None)
    if isinstance(packed, str):
        try:
            loaded = json.loads(packed)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            attributes = {str(k): str(v) for k, v in loaded.items()}
    ctype = (event.datacontenttype or "").split(";")[0].strip().lower()
    if "data_base64" in obj:
        payload = base64.b64decode(obj["data_base64"])
    elif "data" not in obj or obj["data"] is None:
        payload = b""
    elif ctype.startswith("text/") and isinstance(obj["data"], str):
        payload = obj["data"].encode("utf-8")
    else:
        payload = encode_payload(obj["data"]) if not isinstance(obj["data"], str) else _json_text(obj["data"])
    return event, payload, attributes


def _json_text(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _from_cloudevent(
    unwrapped: tuple[Event[Any], bytes, dict[str, str]],
    *,
    queue: str,
    attempt: int,
    received: datetime,
    raw: Any,
    attributes: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Message[Any]:
    event, payload, carried = unwrapped
    ext = dict(event.extensions) | dict(extensions or {})
    key = ext.get("partitionkey")
    return Message[Any](
        id=event.id,
        source=event.source,
        type=event.type,
        subject=event.subject,
        time=event.time or received,
        datacontenttype=event.datacontenttype,
        dataschema=event.dataschema,
        data=_decoded(payload) if payload else None,
        body=payload,
        attributes=carried | dict(attributes or {}),
        delivery_attempt=attempt,
        queue=queue,
        ordering_key=str(key) if key is not None else None,
        extensions=ext,
        raw=raw,
    )


def queue_message(msg: Any, queue: str) -> Message[Any]:
    """A Storage queue message. ``dequeue_count`` becomes ``delivery_attempt``.

    A body that is a CloudEvent in the JSON format (what ``ctx.publish`` sends) gives the event's
    id, source, type, extensions (``correlationid``, ``causationid``, ``traceparent``) and the
    attributes it carries, with its data as ``body``; any other body is the payload as it is, with
    the queue message id.
    """
    body = _body_bytes(msg, "QueueMessage.body")
    msg_id = getattr(msg, "id", None)
    if not msg_id:
        raise _fail("QueueMessage.id", "missing (the host sends it as trigger metadata 'Id')")
    dequeue = getattr(msg, "dequeue_count", None)
    attempt = int(dequeue) if isinstance(dequeue, int) and dequeue > 0 else 1
    received = _time(getattr(msg, "insertion_time", None), "QueueMessage.insertion_time") or now_utc()
    extensions: dict[str, Any] = {}
    if getattr(msg, "pop_receipt", None):
        extensions["popreceipt"] = msg.pop_receipt
    unwrapped = unwrap(body)
    if unwrapped is not None:
        return _from_cloudevent(
            unwrapped, queue=queue, attempt=attempt, received=received, raw=msg, extensions=extensions
        )
    return Message[Any](
        id=str(msg_id),
        source=f"/azure/storage/queues/{queue}",
        type="Microsoft.Storage.QueueMessage",
        time=received,
        datacontenttype="application/json" if isinstance(_decoded(body), dict | list) else None,
        data=_decoded(body),
        body=body,
        delivery_attempt=attempt,
        queue=queue,
        extensions=extensions,
        raw=msg,
    )


# Application properties ctx.publish adds on Service Bus; on receipt they are extensions again.
_TRACE_PROPERTIES = ("correlationid", "causationid", "traceparent")


def servicebus_message(msg: Any, entity: str) -> Message[Any]:
    """A Service Bus queue or topic message. ``delivery_count`` becomes ``delivery_attempt``.

    A CloudEvent body (what ``ctx.publish`` sends) is read as for Storage queues; its
    application properties are the attributes, less the trace properties portafn adds.
    """
    body = _body_bytes(msg, "ServiceBusMessage.body")
    msg_id = getattr(msg, "message_id", None)
    if not msg_id:
        raise _fail("ServiceBusMessage.message_id", "missing")
    props = getattr(msg, "application_properties", None) or getattr(msg, "user_properties", None) or {}
    if not isinstance(props, Mapping):
        raise _fail("ServiceBusMessage.application_properties", "is not a mapping")
    count = getattr(msg, "delivery_count", None)
    attempt = int(count) if isinstance(count, int) and count > 0 else 1
    received = (
        _time(getattr(msg, "enqueued_time_utc", None), "ServiceBusMessage.enqueued_time_utc") or now_utc()
    )
    unwrapped = unwrap(body)
    if unwrapped is not None:
        attributes = {str(k): str(v) for k, v in props.items() if str(k) not in _TRACE_PROPERTIES}
        message = _from_cloudevent(
            unwrapped, queue=entity, attempt=attempt, received=received, raw=msg, attributes=attributes
        )
        session = getattr(msg, "session_id", None)
        if session and message.ordering_key is None:
            message.ordering_key = str(session)
        return message
    extensions: dict[str, Any] = {}
    if getattr(msg, "correlation_id", None):
        extensions["correlationid"] = str(msg.correlation_id)
    return Message[Any](
        id=str(msg_id),
        source=f"/azure/servicebus/{entity}",
        type="Microsoft.ServiceBus.Message",
        subject=getattr(msg, "label", None) or getattr(msg, "subject", None) or None,
        time=received,
        datacontenttype=getattr(msg, "content_type", None) or None,
        data=_decoded(body),
        body=body,
        attributes={str(k): str(v) for k, v in props.items()},
        delivery_attempt=attempt,
        queue=entity,
        ordering_key=getattr(msg, "session_id", None) or None,
        extensions=extensions,
        raw=msg,
    )


def timer_request(timer: Any, function: str, cron: str | None) -> Schedule:
    """A timer firing. ``past_due`` is the host's ``IsPastDue``."""
    past_due = getattr(timer, "past_due", None)
    if not isinstance(past_due, bool):
        raise _fail("TimerRequest.past_due", "missing or not a bool")
    status = getattr(timer, "schedule_status", None) or {}
    if not isinstance(status, Mapping):
        raise _fail("TimerRequest.schedule_status", "is not an object")
    now = now_utc()
    # The host's "Last" is the previous occurrence; this run is "now" (or late, when past due).
    return Schedule(
        id=str(uuid.uuid4()),
        source=f"/azure/functions/timers/{function}",
        type="Microsoft.Azure.Functions.Timer",
        time=now,
        scheduled_time=now.replace(second=0, microsecond=0),
        past_due=past_due,
        cron=cron,
        extensions={k.lower(): str(v) for k, v in status.items() if isinstance(k, str) and v is not None},
        raw=timer,
    )


def blob_stream(blob: Any, container: str) -> StorageEvent:
    """A blob trigger's ``InputStream``: the container and the blob path within it."""
    name = getattr(blob, "name", None)
    if not isinstance(name, str) or not name:
        raise _fail("InputStream.name", "missing (the host sends 'container/path')")
    prefix, _, key = name.partition("/")
    if not key or prefix != container:
        key = name if prefix != container else key
    props = getattr(blob, "blob_properties", None) or {}
    props = props if isinstance(props, Mapping) else {}
    length = getattr(blob, "length", None)
    if length is None and props.get("ContentLength") is not None:
        length = int(props["ContentLength"])
    uri = getattr(blob, "uri", None)
    return StorageEvent(
        id=str(props.get("ETag") or uuid.uuid4()),
        source=f"/azure/storage/blobs/{container}",
        type="Microsoft.Storage.BlobCreated",
        subject=f"/blobServices/default/containers/{container}/blobs/{key}",
        time=_time(props.get("LastModified"), "Properties.LastModified") or now_utc(),
        data=StorageObject(
            bucket=container,
            key=key,
            size=int(length) if length is not None else None,
            etag=str(props["ETag"]) if props.get("ETag") else None,
            content_type=str(props["ContentType"]) if props.get("ContentType") else None,
        ),
        action="created",
        extensions={"uri": uri} if uri else {},
        raw=blob,
    )


def event_grid(event: Any) -> Event[Any]:
    """An Event Grid event in either schema (library object or the delivered dict).

    Blob created/deleted events become ``StorageEvent``; everything else a plain ``Event``.
    """
    body = _grid_dict(event)
    if "specversion" in body or "specVersion" in body:
        ce = {k: v for k, v in body.items() if k != "specVersion"}
        ce.setdefault("specversion", body.get("specVersion"))
        for field in ("id", "source", "type"):
            if not isinstance(ce.get(field), str) or not ce.get(field):
                raise _fail(field, "required CloudEvents attribute is missing", keys=body.keys())
        known = {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema"}
        extensions = {k: v for k, v in ce.items() if k not in known and k not in ("data", "data_base64")}
        data: Any = ce.get("data")
        if "data_base64" in ce:
            # The CloudEvents JSON format's binary payload: hand the handler the bytes.
            try:
                data = base64.b64decode(str(ce["data_base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise _fail("data_base64", "is not base64", keys=body.keys()) from None
        attrs = {
            "id": ce["id"],
            "source": ce["source"],
            "type": ce["type"],
            "subject": ce.get("subject") or None,
            "time": _time(ce.get("time"), "time"),
            "datacontenttype": ce.get("datacontenttype"),
            "dataschema": ce.get("dataschema"),
            "extensions": extensions,
        }
    else:
        for field in ("id", "eventType", "subject"):
            if field not in body or (field != "subject" and not body.get(field)):
                raise _fail(field, "required Event Grid field is missing", keys=body.keys())
        data = body.get("data")
        attrs = {
            "id": body["id"],
            "source": body.get("topic") or "/azure/eventgrid",
            "type": body["eventType"],
            "subject": body.get("subject") or None,
            "time": _time(body.get("eventTime"), "eventTime"),
            "datacontenttype": "application/json",
            "dataschema": body.get("dataVersion") or None,
            "extensions": {"metadataversion": str(body["metadataVersion"])}
            if body.get("metadataVersion")
            else {},
        }
    action = BLOB_TYPES.get(attrs["type"])
    if action is not None and isinstance(data, Mapping):
        return StorageEvent(**attrs, data=_blob_object(data, attrs["subject"]), action=action, raw=event)
    return Event[Any](**attrs, data=data, raw=event)


def _grid_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, Mapping):
        return dict(event)
    if hasattr(event, "event_type"):  # azure.functions.EventGridEvent
        return {
            "id": getattr(event, "id", None),
            "topic": getattr(event, "topic", None),
            "subject": getattr(event, "subject", None) or "",
            "eventType": event.event_type,
            "eventTime": getattr(event, "event_time", None),
            "data": event.get_json(),
            "dataVersion": getattr(event, "data_version", None),
        }
    if hasattr(event, "specversion"):  # azure.functions.CloudEvent (1.2x+)
        out = {
            name: getattr(event, name, None)
            for name in (
                "id",
                "source",
                "type",
                "specversion",
                "time",
                "subject",
                "datacontenttype",
                "dataschema",
            )
        }
        out["data"] = event.get_json() if hasattr(event, "get_json") else getattr(event, "data", None)
        # The library keeps CloudEvents extension attributes (traceparent, ...) in extension_attrs.
        extensions = getattr(event, "extension_attrs", None) or getattr(event, "extensions", None) or {}
        if isinstance(extensions, Mapping):
            out.update({str(k): v for k, v in extensions.items()})
        return {k: v for k, v in out.items() if v is not None}
    raise _fail("event", f"expected an Event Grid event, got {type(event).__name__}")


def _blob_object(data: Mapping[str, Any], subject: str | None) -> StorageObject:
    url = data.get("url")
    container, key = "", ""
    if isinstance(subject, str) and "/containers/" in subject and "/blobs/" in subject:
        container = subject.split("/containers/", 1)[1].split("/", 1)[0]
        key = subject.split("/blobs/", 1)[1]
    elif isinstance(url, str):
        path = unquote(urlsplit(url).path).lstrip("/")
        container, _, key = path.partition("/")
    if not container or not key:
        raise _fail("subject", "a blob event names its container and blob in subject or data.url")
    size = data.get("contentLength")
    return StorageObject(
        bucket=container,
        key=key,
        size=int(size) if isinstance(size, int) else None,
        etag=data.get("eTag"),
        content_type=data.get("contentType"),
    )


def cosmos_changes(documents: Any, table: str, partition_key: str, sort_key: str | None) -> list[Change[Any]]:
    """A Cosmos DB trigger's ``DocumentList`` as changes (latest version: ``insert`` or ``modify``).

    Documents written by the portafn Cosmos store (``{"id","pk","sk","doc","m"}``) give the table's
    key and document; an outbox record attached to a partition (``{"id","pk","on","ob"}``) gives a
    change of type ``ATTACHED_CHANGE_TYPE`` keyed by partition and name; any other document is
    taken as it is, keyed by ``id``.
    """
    if (
        isinstance(documents, Mapping)
        or not isinstance(documents, Iterable)
        or isinstance(documents, str | bytes)
    ):
        raise _fail("DocumentList", f"expected a list of documents, got {type(documents).__name__}")
    out: list[Change[Any]] = []
    for index, raw_doc in enumerate(documents):
        doc = raw_doc.to_dict() if hasattr(raw_doc, "to_dict") else raw_doc
        if not isinstance(doc, Mapping) or not isinstance(doc.get("id"), str):
            raise _fail(f"DocumentList[{index}].id", "a document needs a string id")
        key: dict[str, Any]
        attached = "pk" in doc and isinstance(doc.get("ob"), Mapping) and isinstance(doc.get("on"), str)
        if attached:
            new = dict(doc["ob"])
            key = {"partition": doc["pk"], "name": doc["on"]}
            kind = "insert"
        elif "doc" in doc and "pk" in doc and isinstance(doc.get("doc"), Mapping):
            new = dict(doc["doc"])
            key = {partition_key: doc["pk"]}
            if sort_key is not None and "sk" in doc:
                key[sort_key] = doc["sk"]
            kind = "modify" if doc.get("m") else "insert"
        else:
            new = {k: v for k, v in doc.items() if k not in _SYSTEM}
            key = {"id": doc["id"]}
            kind = "modify"  # latest-version change feed cannot tell; an update is the safe reading
        ts = doc.get("_ts")
        out.append(
            Change[Any](
                id=f"{doc.get('_lsn', '')}:{doc['id']}:{doc.get('_etag', '')}",
                source=f"/azure/cosmosdb/{table}",
                type=ATTACHED_CHANGE_TYPE if attached else f"portafn.change.{kind}",
                subject=doc["id"],
                time=datetime.fromtimestamp(ts, UTC) if isinstance(ts, int | float) else None,
                kind=kind,
                table=table,
                key=key,
                new=new,
                raw=raw_doc,
            )
        )
    return out
