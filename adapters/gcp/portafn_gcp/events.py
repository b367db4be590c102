"""Google Cloud events into the neutral model, and legacy background events into CloudEvents.

Cloud Functions (2nd gen) delivers every event as a CloudEvent: Pub/Sub ``messagePublished``,
Cloud Storage ``object.v1.finalized``/``deleted``, Firestore ``document.v1.*`` (JSON or protobuf
``DocumentEventData``), Cloud Scheduler (through a Pub/Sub topic, or ``job.v1.executed``). Older
senders post legacy background events or raw Pub/Sub push bodies; ``legacy_to_cloudevent`` and
``raw_pubsub_to_cloudevent`` map them the way functions-framework does (a table of mappings), and
``cloudevent_to_legacy`` goes back. A payload of the wrong shape raises ``EventFormatError``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portafn.app import Function
from portafn.cloudevents import CloudEventFormatError, format_time, from_dict, parse_time
from portafn.errors import EventFormatError
from portafn.events import Change, ChangeKind, Event, Message, Schedule, StorageEvent, StorageObject, now_utc
from portafn.triggers import EventTrigger
from portafn_gcp import firestore_keys as fk

PROVIDER = "gcp"

PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
STORAGE_DELETED = "google.cloud.storage.object.v1.deleted"
SCHEDULER_EXECUTED = "google.cloud.scheduler.job.v1.executed"
FIRESTORE_PREFIX = "google.cloud.firestore.document.v1."
_FIRESTORE_KINDS: dict[str, ChangeKind | None] = {
    "written": None,  # insert, modify or remove: told by which images are present
    "created": "insert",
    "updated": "modify",
    "deleted": "remove",
}

# Legacy event type -> CloudEvent type (functions-framework conformance "mapping.md").
LEGACY_TO_CE_TYPE: dict[str, str] = {
    "google.pubsub.topic.publish": PUBSUB_PUBLISHED,
    "providers/cloud.pubsub/eventTypes/topic.publish": PUBSUB_PUBLISHED,
    "google.storage.object.finalize": STORAGE_FINALIZED,
    "google.storage.object.delete": STORAGE_DELETED,
    "google.storage.object.archive": "google.cloud.storage.object.v1.archived",
    "google.storage.object.metadataUpdate": "google.cloud.storage.object.v1.metadataUpdated",
    "providers/cloud.storage/eventTypes/object.change": STORAGE_FINALIZED,
    "providers/cloud.firestore/eventTypes/document.write": FIRESTORE_PREFIX + "written",
    "providers/cloud.firestore/eventTypes/document.create": FIRESTORE_PREFIX + "created",
    "providers/cloud.firestore/eventTypes/document.update": FIRESTORE_PREFIX + "updated",
    "providers/cloud.firestore/eventTypes/document.delete": FIRESTORE_PREFIX + "deleted",
    "providers/firebase.auth/eventTypes/user.create": "google.firebase.auth.user.v1.created",
    "providers/firebase.auth/eventTypes/user.delete": "google.firebase.auth.user.v1.deleted",
    "providers/google.firebase.analytics/eventTypes/event.log": "google.firebase.analytics.log.v1.written",
    "providers/google.firebase.database/eventTypes/ref.create": "google.firebase.database.ref.v1.created",
    "providers/google.firebase.database/eventTypes/ref.write": "google.firebase.database.ref.v1.written",
    "providers/google.firebase.database/eventTypes/ref.update": "google.firebase.database.ref.v1.updated",
    "providers/google.firebase.database/eventTypes/ref.delete": "google.firebase.database.ref.v1.deleted",
    # Not in functions-framework-python's table; functions-framework-dotnet maps it so.
    "google.firebase.remoteconfig.update": "google.firebase.remoteconfig.remoteConfig.v1.updated",
}
# The inverse keeps the current legacy names (the older aliases map to the same CloudEvent type).
CE_TO_LEGACY_TYPE: dict[str, str] = {
    ce: legacy
    for legacy, ce in LEGACY_TO_CE_TYPE.items()
    if legacy
    not in (
        "providers/cloud.pubsub/eventTypes/topic.publish",
        "providers/cloud.storage/eventTypes/object.change",
    )
}

PUBSUB_SERVICE = "pubsub.googleapis.com"
STORAGE_SERVICE = "storage.googleapis.com"
FIRESTORE_SERVICE = "firestore.googleapis.com"
FIREBASE_AUTH_SERVICE = "firebaseauth.googleapis.com"
FIREBASE_DB_SERVICE = "firebasedatabase.googleapis.com"
FIREBASE_SERVICE = "firebase.googleapis.com"
PUBSUB_MESSAGE_TYPE = "type.googleapis.com/google.pubsub.v1.PubsubMessage"
# CloudEvents Pub/Sub protocol binding, binary mode: context attributes as "ce-" attributes.
CE_PREFIX = "ce-"
CONTENT_TYPE = "content-type"

# Legacy event type prefix -> the service its CloudEvent source names.
_LEGACY_SERVICE = (
    ("providers/cloud.firestore/", FIRESTORE_SERVICE),
    ("providers/google.firebase.analytics/", FIREBASE_SERVICE),
    ("providers/firebase.auth/", FIREBASE_AUTH_SERVICE),
    ("providers/google.firebase.database/", FIREBASE_DB_SERVICE),
    ("providers/cloud.pubsub/", PUBSUB_SERVICE),
    ("providers/cloud.storage/", STORAGE_SERVICE),
    ("google.pubsub", PUBSUB_SERVICE),
    ("google.storage", STORAGE_SERVICE),
)
# Service -> how a legacy resource splits into CloudEvent source resource and subject.
_RESOURCE_SPLIT = {
    FIREBASE_SERVICE: re.compile(r"^(projects/[^/]+)/(events/[^/]+)$"),
    FIREBASE_DB_SERVICE: re.compile(r"^projects/_/(instances/[^/]+)/(refs/.+)$"),
    FIRESTORE_SERVICE: re.compile(r"^(projects/[^/]+/databases/\(default\))/(documents/.+)$"),
    STORAGE_SERVICE: re.compile(r"^(projects/[^/]/buckets/[^/]+)/(objects/.+)$"),
}
_AUTH_META_TO_CE = {"createdAt": "createTime", "lastSignedInAt": "lastSignInTime"}
_TOPIC_IN_PATH = re.compile(r"projects/[^/?]+/topics/[^/?]+")
_SOURCE = re.compile(r"^//([^/]+)/(.+)$")


# -- legacy background events <-> CloudEvents ----------------------------------------------------


def is_legacy_event(body: Any) -> bool:
    """Whether a JSON body is a legacy background event (either of its two shapes)."""
    return isinstance(body, Mapping) and (
        isinstance(body.get("context"), Mapping) or ("eventType" in body and "eventId" in body)
    )


def is_raw_pubsub_push(body: Any) -> bool:
    """Whether a JSON body is a Pub/Sub push request (``{"message": ..., "subscription": ...}``)."""
    return (
        isinstance(body, Mapping)
        and "context" not in body
        and "subscription" in body
        and isinstance(body.get("message"), Mapping)
    )


def normalize_legacy(body: Mapping[str, Any]) -> dict[str, Any]:
    """A legacy event in its ``{"context": ..., "data": ...}`` shape (the flat shape is older)."""
    if not is_legacy_event(body):
        raise EventFormatError(PROVIDER, "context", "not a legacy background event", keys=body.keys())
    if isinstance(body.get("context"), Mapping):
        return {"context": dict(body["context"]), "data": body.get("data")}
    context = {k: body[k] for k in ("eventId", "timestamp", "eventType", "resource") if k in body}
    return {"context": context, "data": body.get("data")}


def legacy_to_cloudevent(body: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudEvent (JSON format) for a legacy background event, as functions-framework maps it."""
    event = normalize_legacy(body)
    ctx = event["context"]
    legacy_type = ctx.get("eventType")
    if not isinstance(legacy_type, str) or legacy_type not in LEGACY_TO_CE_TYPE:
        raise EventFormatError(PROVIDER, "context.eventType", f"no CloudEvent type for {legacy_type!r}")
    _require_strings(ctx, ("eventId", "timestamp"), "context.")
    service, resource, subject = _split_resource(legacy_type, ctx.get("resource"))
    parts = _Parts(service, resource, subject, _copy(event["data"]))
    adjust = _TO_CLOUDEVENT.get(service)
    if adjust is not None:
        adjust(parts, ctx, body)
    out: dict[str, Any] = {
        "specversion": "1.0",
        "type": LEGACY_TO_CE_TYPE[legacy_type],
        "source": f"//{parts.service}/{parts.resource}",
        "id": ctx["eventId"],
        "time": ctx["timestamp"],
        "datacontenttype": "application/json",
        "data": parts.data,
    }
    if parts.subject:
        out["subject"] = parts.subject
    return out


@dataclass(slots=True)
class _Parts:
    """A conversion in progress: the service, its resource and subject, and the event data."""

    service: str
    resource: str
    subject: str
    data: Any


def _require_strings(mapping: Mapping[str, Any], names: tuple[str, ...], prefix: str = "") -> None:
    for name in names:
        if not isinstance(mapping.get(name), str):
            raise EventFormatError(PROVIDER, prefix + name, "missing or not a string", keys=mapping.keys())


def _rename(mapping: Any, names: Mapping[str, str]) -> None:
    # Firebase Auth's metadata fields are named differently in the two formats.
    if isinstance(mapping, dict):
        for old, new in names.items():
            if old in mapping:
                mapping[new] = mapping.pop(old)


def _pubsub_to_cloudevent(parts: _Parts, ctx: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    # The legacy data is the message itself; the CloudEvent wraps it with its id and publish time.
    if not isinstance(parts.data, dict):
        raise EventFormatError(PROVIDER, "data", "a Pub/Sub event needs a message object")
    parts.data.setdefault("messageId", ctx["eventId"])
    parts.data.setdefault("publishTime", ctx["timestamp"])
    parts.data = {"message": parts.data}


def _auth_to_cloudevent(parts: _Parts, ctx: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    if isinstance(parts.data, dict):
        _rename(parts.data.get("metadata"), _AUTH_META_TO_CE)
        if "uid" in parts.data:
            parts.subject = f"users/{parts.data['uid']}"


def _database_to_cloudevent(parts: _Parts, ctx: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    # The CloudEvent source names the database's location, which only the legacy domain tells.
    domain = body.get("domain")
    if not isinstance(domain, str):
        raise EventFormatError(PROVIDER, "domain", "a Firebase Realtime Database event needs its domain")
    location = "us-central1" if domain == "firebaseio.com" else domain.split(".")[0]
    parts.resource = f"projects/_/locations/{location}/{parts.resource}"


_TO_CLOUDEVENT: dict[str, Callable[[_Parts, Mapping[str, Any], Mapping[str, Any]], None]] = {
    PUBSUB_SERVICE: _pubsub_to_cloudevent,
    FIREBASE_AUTH_SERVICE: _auth_to_cloudevent,
    FIREBASE_DB_SERVICE: _database_to_cloudevent,
}
"""Service -> what its legacy event needs beyond the common mapping (functions-framework's table)."""


def _split_resource(legacy_type: str, resource: Any) -> tuple[str, str, str]:
    service = ""
    if isinstance(resource, Mapping):
        service = str(resource.get("service") or "")
        resource = resource.get("name")
    if not isinstance(resource, str):
        raise EventFormatError(PROVIDER, "context.resource", "missing or not a string")
    if not service:
        service = next((svc for prefix, svc in _LEGACY_SERVICE if legacy_type.startswith(prefix)), "")
        if not service:
            raise EventFormatError(PROVIDER, "context.eventType", f"no service known for {legacy_type!r}")
    pattern = _RESOURCE_SPLIT.get(service)
    if pattern is None:
        return service, resource, ""
    m = pattern.fullmatch(resource)
    if m is None:
        raise EventFormatError(PROVIDER, "context.resource", f"does not look like a {service} resource")
    return service, m.group(1), m.group(2)


def cloudevent_to_legacy(ce: Mapping[str, Any]) -> dict[str, Any]:
    """The legacy background event a CloudEvent (JSON format) maps back to."""
    _require_strings(ce, ("id", "type", "source", "time"))
    legacy_type = CE_TO_LEGACY_TYPE.get(ce["type"])
    if legacy_type is None:
        raise EventFormatError(PROVIDER, "type", f"no legacy event type for {ce['type']!r}")
    m = _SOURCE.fullmatch(ce["source"])
    if m is None:
        raise EventFormatError(PROVIDER, "source", "expected //SERVICE/RESOURCE")
    parts = _Parts(m.group(1), m.group(2), str(ce.get("subject")), _copy(ce.get("data")))
    resource = _TO_LEGACY.get(parts.service, _path_resource)(parts)
    context = {"eventId": ce["id"], "timestamp": ce["time"], "eventType": legacy_type, "resource": resource}
    return {"context": context, "data": parts.data}


def _pubsub_to_legacy(parts: _Parts) -> Any:
    data = parts.data
    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        data = parts.data = data["message"]
    if isinstance(data, dict):
        # The legacy context carries these; the message keeps only its own fields.
        data.pop("messageId", None)
        data.pop("publishTime", None)
    return {"service": parts.service, "name": parts.resource, "type": PUBSUB_MESSAGE_TYPE}


def _auth_to_legacy(parts: _Parts) -> Any:
    if isinstance(parts.data, dict):
        _rename(parts.data.get("metadata"), {new: old for old, new in _AUTH_META_TO_CE.items()})
    return parts.resource


def _storage_to_legacy(parts: _Parts) -> Any:
    kind = parts.data.get("kind") if isinstance(parts.data, dict) else None
    return {"name": f"{parts.resource}/{parts.subject}", "service": parts.service, "type": kind}


def _database_to_legacy(parts: _Parts) -> Any:
    return f"{re.sub('/locations/[^/]+', '', parts.resource)}/{parts.subject}"


def _path_resource(parts: _Parts) -> Any:
    return f"{parts.resource}/{parts.subject}"


_TO_LEGACY: dict[str, Callable[[_Parts], Any]] = {
    PUBSUB_SERVICE: _pubsub_to_legacy,
    FIREBASE_AUTH_SERVICE: _auth_to_legacy,
    STORAGE_SERVICE: _storage_to_legacy,
    FIREBASE_DB_SERVICE: _database_to_legacy,
}
"""Service -> the legacy ``resource`` of its event (and any change its data needs); others use the path."""


def raw_pubsub_to_cloudevent(body: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """The CloudEvent for a Pub/Sub push request, keeping what functions-framework drops.

    The whole push body becomes ``data`` (ordering key and delivery attempt included). The
    source names the topic when the push URL carries it, else the subscription.
    """
    if not is_raw_pubsub_push(body):
        raise EventFormatError(PROVIDER, "message", "not a Pub/Sub push request", keys=body.keys())
    message = body["message"]
    message_id = message.get("messageId", message.get("message_id"))
    if not isinstance(message_id, str) or not message_id:
        raise EventFormatError(PROVIDER, "message.messageId", "missing", keys=message.keys())
    topic = _TOPIC_IN_PATH.search(path or "")
    resource = topic.group(0) if topic else str(body.get("subscription") or "")
    out: dict[str, Any] = {
        "specversion": "1.0",
        "type": PUBSUB_PUBLISHED,
        "source": f"//{PUBSUB_SERVICE}/{resource}",
        "id": message_id,
        "datacontenttype": "application/json",
        "data": _copy(dict(body)),
    }
    published = message.get("publishTime", message.get("publish_time"))
    if isinstance(published, str):
        out["time"] = published
    return out


def _copy(value: Any) -> Any:
    # A deep copy of JSON values, so conversions never change the caller's event.
    result: Any = json.loads(json.dumps(value))
    return result


def cloudevent(body: Mapping[str, Any], path: str = "") -> Event[Any]:
    """Any JSON event body (CloudEvent JSON, legacy event, or Pub/Sub push) as an ``Event``."""
    if is_raw_pubsub_push(body):
        event = from_dict(raw_pubsub_to_cloudevent(body, path))
    elif is_legacy_event(body):
        event = from_dict(legacy_to_cloudevent(body))
    else:
        event = from_dict(body)
    event.raw = body
    return event


# -- CloudEvents into the neutral model -----------------------------------------------------------


# Trigger kind -> the CloudEvent types its functions take; an ``event`` function takes the one type
# its Eventarc trigger filters on (so another reaches it only through a wrong trigger or a direct POST).
_ACCEPTS: dict[str, Callable[[str], bool]] = {
    "queue": lambda t: t == PUBSUB_PUBLISHED,
    "topic": lambda t: t == PUBSUB_PUBLISHED,
    "storage": lambda t: t in (STORAGE_FINALIZED, STORAGE_DELETED),
    "changes": lambda t: t.startswith(FIRESTORE_PREFIX),
    "schedule": lambda t: t in (SCHEDULER_EXECUTED, PUBSUB_PUBLISHED),
}

# CloudEvent type prefix -> the kind of event its readers know it by (first match wins).
EVENT_KINDS: tuple[tuple[str, str], ...] = (
    ("google.cloud.pubsub.", "Pub/Sub"),
    ("google.cloud.storage.", "Cloud Storage"),
    ("google.cloud.firestore.", "Firestore"),
    ("google.cloud.scheduler.", "Cloud Scheduler"),
    ("google.cloud.audit.log.", "Cloud Audit Logs"),
    ("google.firebase.auth.", "Firebase Authentication"),
    ("google.firebase.database.", "Firebase Realtime Database"),
    ("google.firebase.analytics.", "Google Analytics for Firebase"),
    ("google.firebase.remoteconfig.", "Firebase Remote Config"),
    ("google.firebase.firebasealerts.", "Firebase Alerts"),
    ("google.firebase.testlab.", "Firebase Test Lab"),
    ("google.cloud.", "Google Cloud"),
)


def event_kind(event_type: str) -> str:
    """The kind of event a CloudEvent type names (``Firebase Authentication``), or ``unknown``."""
    return next((kind for prefix, kind in EVENT_KINDS if event_type.startswith(prefix)), "unknown")


def _takes(fn: Function, event_type: str) -> bool:
    """Whether ``fn``'s trigger takes events of ``event_type``."""
    if isinstance(fn.trigger, EventTrigger):
        return event_type == fn.trigger.type
    accepts = _ACCEPTS.get(fn.kind)
    return accepts is None or accepts(event_type)


def translate(fn: Function, event: Event[Any]) -> Event[Any]:
    """The event a function of this trigger kind receives (an ``event`` function gets it as it came).

    An event of a kind the function's trigger does not take (a Firebase Authentication event
    routed to a queue function) raises ``EventFormatError`` naming the kind and the type.
    """
    if not _takes(fn, event.type):
        raise EventFormatError(
            PROVIDER,
            "type",
            f"a {event_kind(event.type)} event ({event.type!r}) is not taken by {fn.kind} function {fn.name!r}",
        )
    translator = _TRANSLATORS.get(fn.kind)
    return translator(fn, event) if translator is not None else event


def _as_message(fn: Function, event: Event[Any]) -> Event[Any]:
    return to_message(event)


def _as_storage_event(fn: Function, event: Event[Any]) -> Event[Any]:
    return to_storage_event(event)


def _as_change(fn: Function, event: Event[Any]) -> Event[Any]:
    table: Any = getattr(fn.trigger, "table", None)
    spec = getattr(table, "spec", table)
    return to_change(
        event,
        table=str(getattr(table, "name", "")) or None,
        partition_key=getattr(spec, "partition_key", None),
        sort_key=getattr(spec, "sort_key", None),
    )


def _as_schedule(fn: Function, event: Event[Any]) -> Event[Any]:
    cron: Any = getattr(fn.trigger, "cron", None)
    return to_schedule(event, cron=str(getattr(cron, "expression", cron)))


_TRANSLATORS: dict[str, Callable[[Function, Event[Any]], Event[Any]]] = {
    "queue": _as_message,
    "topic": _as_message,
    "storage": _as_storage_event,
    "changes": _as_change,
    "schedule": _as_schedule,
}
"""Trigger kind -> how its functions receive a Google CloudEvent."""


def _base(event: Event[Any]) -> dict[str, Any]:
    return {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": event.specversion,
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": event.datacontenttype,
        "dataschema": event.dataschema,
        "extensions": dict(event.extensions),
        "raw": event.raw if event.raw is not None else event,
    }


def _data_object(event: Event[Any], what: str) -> dict[str, Any]:
    data = event.data
    if isinstance(data, bytes | bytearray):
        try:
            data = json.loads(data)
        except ValueError:
            raise EventFormatError(PROVIDER, "data", f"{what} data is not JSON") from None
    if not isinstance(data, dict):
        raise EventFormatError(PROVIDER, "data", f"{what} data must be an object, got {type(data).__name__}")
    return data


def to_message(event: Event[Any]) -> Message[Any]:
    """A Pub/Sub ``messagePublished`` CloudEvent as a ``Message`` (body = the decoded bytes)."""
    if event.type != PUBSUB_PUBLISHED:
        raise EventFormatError(PROVIDER, "type", f"expected {PUBSUB_PUBLISHED}, got {event.type!r}")
    data = _data_object(event, "Pub/Sub")
    message = data.get("message")
    if not isinstance(message, Mapping):
        raise EventFormatError(PROVIDER, "data.message", "missing or not an object", keys=data.keys())
    encoded = message.get("data", "")
    if not isinstance(encoded, str):
        raise EventFormatError(PROVIDER, "data.message.data", "must be a base64 string")
    try:
        body = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise EventFormatError(PROVIDER, "data.message.data", "is not valid base64") from None
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, Mapping) or not all(isinstance(v, str) for v in attributes.values()):
        raise EventFormatError(PROVIDER, "data.message.attributes", "must map names to strings")
    attempt = data.get("deliveryAttempt", message.get("deliveryAttempt", 1))
    try:
        delivery_attempt = max(1, int(attempt or 1))
    except (TypeError, ValueError):
        raise EventFormatError(PROVIDER, "data.deliveryAttempt", "is not a number") from None
    ordering = message.get("orderingKey", message.get("ordering_key"))
    published = message.get("publishTime", message.get("publish_time"))
    base = _base(event)
    if isinstance(published, str):
        base["time"] = parse_time(published, "data.message.publishTime")
    queue = _resource_name(event.source, data.get("subscription"))
    context, attributes = split_attributes(attributes)
    if context:
        _apply_context(base, context)
    return Message[Any](
        **base,
        data=_best_effort(body),
        body=body,
        attributes=attributes,
        delivery_attempt=delivery_attempt,
        queue=queue,
        ordering_key=ordering if isinstance(ordering, str) and ordering else None,
    )


def split_attributes(attributes: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Pub/Sub attributes as (CloudEvent context by attribute name without ``ce-``, the rest).

    Only a message that carries ``ce-specversion`` and ``ce-id`` is read as a CloudEvent; any
    other message keeps all its attributes.
    """
    if not (attributes.get(CE_PREFIX + "specversion") and attributes.get(CE_PREFIX + "id")):
        return {}, dict(attributes)
    context: dict[str, str] = {}
    rest: dict[str, str] = {}
    for name, value in attributes.items():
        if name.startswith(CE_PREFIX):
            context[name[len(CE_PREFIX) :]] = value
        elif name == CONTENT_TYPE:
            context["datacontenttype"] = value
        else:
            rest[name] = value
    return context, rest


_CE_ATTRIBUTES = ("id", "source", "type", "subject", "datacontenttype", "dataschema")


def _apply_context(base: dict[str, Any], context: Mapping[str, str]) -> None:
    """A message published as a CloudEvent (``ce-`` attributes, as ``ctx.publish`` sends it) is
    that CloudEvent: its id, source, type, time and extensions, so that consumers dedupe on the
    publisher's id and carry its correlation and trace; the Pub/Sub message stays in ``raw``."""
    for name in _CE_ATTRIBUTES:
        if context.get(name):
            base[name] = context[name]
    if context.get("time"):
        base["time"] = parse_time(context["time"], "data.message.attributes.ce-time")
    skip = {*_CE_ATTRIBUTES, "time", "specversion"}
    base["extensions"] = {**base["extensions"], **{k: v for k, v in context.items() if k not in skip}}


def _best_effort(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _resource_name(source: str, subscription: Any) -> str | None:
    # The topic (or subscription) short name: the queue a portafn function names.
    m = re.search(r"/topics/([^/]+)$", source)
    if m:
        return m.group(1)
    if isinstance(subscription, str) and "/subscriptions/" in subscription:
        return subscription.rsplit("/", 1)[1]
    return None


def to_storage_event(event: Event[Any]) -> StorageEvent:
    """A Cloud Storage object ``finalized``/``deleted`` CloudEvent as a ``StorageEvent``."""
    data = _data_object(event, "Cloud Storage")
    if event.type == STORAGE_FINALIZED:
        # The legacy object.change event maps to finalized even for a deletion; its state says which.
        action = "deleted" if data.get("resourceState") == "not_exists" else "created"
    elif event.type == STORAGE_DELETED:
        action = "deleted"
    else:
        raise EventFormatError(PROVIDER, "type", f"not a storage created/deleted event: {event.type!r}")
    bucket, name = data.get("bucket"), data.get("name")
    if not isinstance(bucket, str) or not bucket:
        raise EventFormatError(PROVIDER, "data.bucket", "missing", keys=data.keys())
    if not isinstance(name, str) or not name:
        raise EventFormatError(PROVIDER, "data.name", "missing", keys=data.keys())
    size = data.get("size")
    try:
        size_int = int(size) if size is not None else None
    except (TypeError, ValueError):
        raise EventFormatError(PROVIDER, "data.size", "is not a number") from None
    generation = data.get("generation")
    obj = StorageObject(
        bucket=bucket,
        key=name,
        size=size_int,
        etag=data.get("etag") if isinstance(data.get("etag"), str) else None,
        content_type=data.get("contentType") if isinstance(data.get("contentType"), str) else None,
        version=str(generation) if generation is not None else None,
    )
    return StorageEvent(**{**_base(event), "data": obj}, action=action)


def to_schedule(event: Event[Any], cron: str | None = None) -> Schedule:
    """A Cloud Scheduler tick: a ``job.v1.executed`` event, or the Pub/Sub message a job published."""
    if event.type not in (SCHEDULER_EXECUTED, PUBSUB_PUBLISHED):
        raise EventFormatError(PROVIDER, "type", f"not a scheduler event: {event.type!r}")
    base = _base(event)
    if event.type == PUBSUB_PUBLISHED:
        base["time"] = to_message(event).time  # the publish time is when the job fired
    if event.data is not None and not isinstance(event.data, dict | bytes | bytearray):
        raise EventFormatError(PROVIDER, "data", "scheduler data must be an object")
    if isinstance(event.data, dict) and isinstance(event.data.get("customData"), str):
        base["extensions"]["customdata"] = event.data["customData"]
    scheduled = {"scheduled_time": base["time"]} if base["time"] is not None else {}
    return Schedule(**base, **scheduled, cron=cron)


# -- Firestore document events ---------------------------------------------------------------------


def document_event_data(event: Event[Any]) -> dict[str, Any]:
    """``DocumentEventData`` in its JSON form, decoding the protobuf form when that is what came."""
    data = event.data
    if isinstance(data, bytes | bytearray) and "json" not in (event.datacontenttype or ""):
        try:
            from google.events.cloud.firestore_v1 import DocumentEventData
        except ImportError:  # pragma: no cover - google-events is a dependency of portafn-gcp
            raise EventFormatError(PROVIDER, "data", "protobuf Firestore events need google-events") from None
        try:
            message = DocumentEventData.deserialize(bytes(data))
        except Exception:
            raise EventFormatError(PROVIDER, "data", "is not a protobuf DocumentEventData") from None
        decoded: dict[str, Any] = json.loads(DocumentEventData.to_json(message))
        return decoded
    return _data_object(event, "Firestore")


def to_change(
    event: Event[Any],
    *,
    table: str | None = None,
    partition_key: str | None = None,
    sort_key: str | None = None,
) -> Change[Any]:
    """A Firestore document event as a ``Change`` (old/new as plain JSON documents).

    Documents the Firestore store wrote are unwrapped to the item, and their key comes from the
    document id; any other document keeps its fields, keyed by its id.
    """
    if not event.type.startswith(FIRESTORE_PREFIX):
        raise EventFormatError(PROVIDER, "type", f"not a Firestore document event: {event.type!r}")
    verb = event.type[len(FIRESTORE_PREFIX) :].split(".", 1)[0]
    if verb not in _FIRESTORE_KINDS:
        raise EventFormatError(PROVIDER, "type", f"unknown Firestore event {event.type!r}")
    data = document_event_data(event)
    # An absent image may arrive as {} (JSON) or as a Document with every field empty (protobuf).
    old_doc = data.get("oldValue") or None
    new_doc = data.get("value") or None
    for name, doc in (("oldValue", old_doc), ("value", new_doc)):
        if doc is not None and (not isinstance(doc, Mapping) or not isinstance(doc.get("name", ""), str)):
            raise EventFormatError(PROVIDER, f"data.{name}", "must be a Document object")
    old_doc = old_doc if old_doc and old_doc.get("name") else None
    new_doc = new_doc if new_doc and new_doc.get("name") else None
    old = decode_fields(old_doc.get("fields") or {}) if old_doc else None
    new = decode_fields(new_doc.get("fields") or {}) if new_doc else None
    kind = _FIRESTORE_KINDS[verb] or (
        "insert" if old is None and new is not None else "remove" if new is None else "modify"
    )
    if old is None and new is None:
        raise EventFormatError(PROVIDER, "data", "a document event has value or oldValue", keys=data.keys())
    path = str((new_doc or old_doc or {}).get("name") or event.subject or "")
    collection, doc_id = _document_path(path)
    stored = new if new is not None else old
    old, new = fk.unwrap(old), fk.unwrap(new)
    key: dict[str, Any]
    try:
        parsed = fk.key_of(doc_id, stored)
        key = {partition_key or "pk": parsed.pk}
        if parsed.sk is not None:
            key[sort_key or "sk"] = parsed.sk
    except ValueError:
        key = {"id": doc_id}
    return Change[Any](**_base(event), kind=kind, table=table or collection, key=key, old=old, new=new)


def _document_path(name: str) -> tuple[str, str]:
    # ".../documents/<collection>/<id>" (subcollections: the last pair).
    tail = name.split("/documents/", 1)[-1]
    parts = [p for p in tail.split("/") if p]
    if len(parts) < 2:
        raise EventFormatError(PROVIDER, "data.value.name", "is not a document path")
    return parts[-2], parts[-1]


def decode_fields(fields: Any) -> dict[str, Any]:
    """Firestore ``fields`` (JSON form of ``Value``s) as a plain JSON document."""
    if not isinstance(fields, Mapping):
        raise EventFormatError(PROVIDER, "fields", "must be an object")
    return {str(k): decode_value(v) for k, v in fields.items()}


def decode_value(value: Any) -> Any:
    """One Firestore ``Value`` as plain JSON (timestamps and bytes stay strings)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise EventFormatError(PROVIDER, "fields", "a Value has exactly one kind")
    ((kind, inner),) = value.items()
    if kind == "nullValue":
        return None
    try:
        if kind == "integerValue":
            return int(inner)
        if kind == "doubleValue":
            return float(inner)
    except (TypeError, ValueError):
        raise EventFormatError(PROVIDER, "fields", f"bad {kind}") from None
    if kind in ("booleanValue", "stringValue", "timestampValue", "bytesValue", "referenceValue"):
        return inner
    if kind == "geoPointValue":
        return dict(inner)
    if kind == "arrayValue":
        return [decode_value(v) for v in (inner or {}).get("values", [])]
    if kind == "mapValue":
        return decode_fields((inner or {}).get("fields", {}))
    raise EventFormatError(PROVIDER, "fields", f"unknown Value kind {kind!r}")


# -- the neutral model back into Google's events (drivers and tests send these) ---------------------


def _iso(event: Event[Any]) -> str:
    when = event.time or now_utc()
    return format_time(when)


def message_to_cloudevent(msg: Message[Any], *, project: str = "portafn-local") -> dict[str, Any]:
    """The Pub/Sub ``messagePublished`` CloudEvent (JSON format) that would carry ``msg``."""
    topic = msg.queue or "topic"
    message: dict[str, Any] = {
        "data": base64.b64encode(msg.body).decode("ascii"),
        "messageId": msg.id,
        "publishTime": _iso(msg),
    }
    if msg.attributes:
        message["attributes"] = dict(msg.attributes)
    if msg.ordering_key:
        message["orderingKey"] = msg.ordering_key
    data: dict[str, Any] = {
        "message": message,
        "subscription": f"projects/{project}/subscriptions/{topic}-sub",
    }
    if msg.delivery_attempt > 1:
        data["deliveryAttempt"] = msg.delivery_attempt
    return {
        "specversion": "1.0",
        "id": msg.id,
        "source": f"//{PUBSUB_SERVICE}/projects/{project}/topics/{topic}",
        "type": PUBSUB_PUBLISHED,
        "time": message["publishTime"],
        "datacontenttype": "application/json",
        "data": data,
    }


def storage_to_cloudevent(ev: StorageEvent) -> dict[str, Any]:
    """The Cloud Storage ``finalized``/``deleted`` CloudEvent that would carry ``ev``."""
    obj = ev.data
    if obj is None:
        raise EventFormatError(PROVIDER, "data", "a storage event needs its object")
    data: dict[str, Any] = {"kind": "storage#object", "bucket": obj.bucket, "name": obj.key}
    if obj.size is not None:
        data["size"] = str(obj.size)
    if obj.etag is not None:
        data["etag"] = obj.etag
    if obj.content_type is not None:
        data["contentType"] = obj.content_type
    if obj.version is not None:
        data["generation"] = obj.version
    return {
        "specversion": "1.0",
        "id": ev.id,
        "source": f"//{STORAGE_SERVICE}/projects/_/buckets/{obj.bucket}",
        "subject": f"objects/{obj.key}",
        "type": STORAGE_DELETED if ev.action == "deleted" else STORAGE_FINALIZED,
        "time": _iso(ev),
        "datacontenttype": "application/json",
        "data": data,
    }


def schedule_to_cloudevent(
    ev: Schedule, *, project: str = "portafn-local", job: str = "job"
) -> dict[str, Any]:
    """The Pub/Sub message a Cloud Scheduler job publishes for ``ev`` (how packaging wires schedules)."""
    msg = Message[Any](
        id=ev.id,
        source=ev.source,
        type=PUBSUB_PUBLISHED,
        time=ev.scheduled_time,
        queue=f"portafn-schedule-{job}",
    )
    return message_to_cloudevent(msg, project=project)


def change_to_cloudevent(
    change: Change[Any], *, partition_key: str, sort_key: str | None, project: str = "portafn-local"
) -> dict[str, Any]:
    """The Firestore ``document.v1.written`` event (JSON form) the Firestore store's write would raise."""
    from portafn.store.port import Key, TableSpec

    spec = TableSpec(change.table, partition_key, sort_key)
    key = Key(change.key[partition_key], change.key.get(sort_key) if sort_key else None)
    name = f"projects/{project}/databases/(default)/documents/{change.table}/{fk.doc_id(key)}"

    def document(doc: Any) -> dict[str, Any] | None:
        if doc is None:
            return None
        plain = doc.model_dump(mode="json") if hasattr(doc, "model_dump") else dict(doc)
        fields = encode_fields(fk.envelope(spec, key, plain))
        return {"name": name, "fields": fields, "createTime": _iso(change), "updateTime": _iso(change)}

    data: dict[str, Any] = {}
    old, new = document(change.old), document(change.new)
    if old is not None:
        data["oldValue"] = old
    if new is not None:
        data["value"] = new
    return {
        "specversion": "1.0",
        "id": change.id,
        "source": f"//{FIRESTORE_SERVICE}/projects/{project}/databases/(default)",
        "subject": f"documents/{change.table}/{fk.doc_id(key)}",
        "type": FIRESTORE_PREFIX + "written",
        "time": _iso(change),
        "datacontenttype": "application/json",
        "data": data,
    }


def encode_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A plain JSON document as Firestore ``fields`` (JSON form of ``Value``s)."""
    return {str(k): encode_value(v) for k, v in doc.items()}


def encode_value(value: Any) -> dict[str, Any]:
    """One plain JSON value as a Firestore ``Value``."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, datetime):
        return {"timestampValue": format_time(value)}
    if isinstance(value, Mapping):
        return {"mapValue": {"fields": encode_fields(value)}}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [encode_value(v) for v in value]}}
    raise TypeError(f"cannot encode {type(value).__name__} as a Firestore value")


__all__ = [
    "CloudEventFormatError",
    "change_to_cloudevent",
    "cloudevent",
    "cloudevent_to_legacy",
    "legacy_to_cloudevent",
    "message_to_cloudevent",
    "normalize_legacy",
    "raw_pubsub_to_cloudevent",
    "schedule_to_cloudevent",
    "storage_to_cloudevent",
    "to_change",
    "to_message",
    "to_schedule",
    "to_storage_event",
    "translate",
]
