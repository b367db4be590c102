"""``ctx.publish`` on Azure: CloudEvents to Storage queues, Service Bus or Event Grid, where the app's
triggers listen.

Named by the ``azure`` plugin (``portafn_azure.plugin``); the runtime calls
``make_publisher(runtime)`` on the first publish. Where a message goes follows ``function_app``'s
wiring, so a function of the same app that consumes it receives it. The first rule that matches wins:

1. a topic some ``@app.topic`` function consumes: the Service Bus **topic** of that name;
2. a topic some ``@app.queue`` function consumes: that **queue** (a Storage queue, or a Service
   Bus queue with ``PORTAFN_AZURE_MESSAGING=servicebus``), as ``function_app`` wires queue triggers;
3. a CloudEvent type some ``@app.event`` function consumes (the type is the topic unless
   ``ctx.publish(..., type=...)`` says otherwise): the app's **Event Grid custom topic**, where the
   app's Event Grid triggers subscribe (filtered on the type, as ``function_app`` filters);
4. anything else (no consumer in this app): by ``PORTAFN_AZURE_MESSAGING`` (or the ``messaging``
   option of ``function_app``/``AzurePublisher``): a Storage queue (unset or ``storage``), a Service
   Bus queue (``servicebus``) or the Event Grid custom topic (``eventgrid``; the app's own queue
   functions still listen on Storage queues then).

Storage queue messages are the CloudEvent in the JSON event format (structured mode), base64
encoded: the Functions host's queue trigger decodes base64 by default (host.json
``extensions.queues.messageEncoding``), and so does ``portafn_azure.events.queue_message``. A
Storage queue message has no properties, so the attributes travel inside the event as the
``portafnattributes`` extension (a JSON object in a string). The queue name is the topic in
lower case with other characters as hyphens (``queue_name``); a missing queue is created on
first use (Azurite starts empty; the packaged ARM template creates them on Azure).

Service Bus messages carry the same JSON body (``content_type`` ``application/cloudevents+json``),
``message_id`` = the event id, ``session_id`` = ``key`` (ordering needs a session-enabled
entity), ``correlation_id`` = the correlation id, and ``application_properties`` = the attributes
plus ``correlationid``, ``causationid`` and ``traceparent`` (so subscription rules can filter on them).

Event Grid events are sent with ``azure-eventgrid``'s ``EventGridPublisherClient`` to a custom
topic whose input schema is CloudEvents 1.0 (``CloudEventSchemaV1_0``): one ``CloudEvent`` with
the message's ``id``, ``source``, ``type``, ``subject``, ``time``, ``datacontenttype`` and data
(``data`` for JSON and text, ``data_base64`` for other bytes), and the extensions
``correlationid``, ``causationid``, ``traceparent`` and ``partitionkey``. Each attribute whose name
is a valid CloudEvents extension name (1-20 lower-case ASCII letters and digits, at least one
letter, not an attribute the event already has) becomes an extension of that name, so event
subscriptions can filter on it; the others (``Tenant-Id``, ``source``, ...) travel together as the
``portafnattributes`` extension (a JSON object in a string), as on Storage queues. Event Grid
keeps no order and has no sessions, so ``key`` is only carried as ``partitionkey``.

Connections are app settings, the ones the host reads: ``AzureWebJobsStorage`` (a connection
string; ``UseDevelopmentStorage=true`` is Azurite's well-known development account on
127.0.0.1:10001; or identity-based ``AzureWebJobsStorage__queueServiceUri`` /
``__accountName`` with the ``identity`` extra), ``ServiceBusConnection`` (a connection string
or ``ServiceBusConnection__fullyQualifiedNamespace``; needs the ``servicebus`` extra), and for
Event Grid, as the Functions Event Grid output binding reads them, ``EventGridTopicEndpoint`` (the
topic endpoint, ``https://<topic>.<region>-1.eventgrid.azure.net/api/events``) with
``EventGridTopicKey`` (an access key, sent as the ``aeg-sas-key`` header), or identity-based
``EventGridConnection__topicEndpointUri`` with the ``identity`` extra; needs the ``eventgrid``
extra. No key is ever logged or put in an error message. SDK clients are made once, on first use,
and shared by threads; a broker's error propagates from ``publish`` (the outbox relay retries).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portafn.lazy import Lazy
from portafn.reliability.publish import (
    CAUSATION_EXT,
    CORRELATION_EXT,
    TRACEPARENT_EXT,
    Outgoing,
    Publisher,
    PublishError,
)
from portafn.triggers import EventTrigger, QueueTrigger, TopicTrigger

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.events import Event
    from portafn.runtime import Runtime

MESSAGING_SETTING = "PORTAFN_AZURE_MESSAGING"
STORAGE_SETTING = "AzureWebJobsStorage"
SERVICEBUS_SETTING = "ServiceBusConnection"
# The Event Grid output binding's conventional settings: the topic endpoint and its access key, or
# (identity-based) the connection prefix whose __topicEndpointUri holds the endpoint.
EVENTGRID_ENDPOINT_SETTING = "EventGridTopicEndpoint"
EVENTGRID_KEY_SETTING = "EventGridTopicKey"
EVENTGRID_CONNECTION = "EventGridConnection"
MESSAGING_KINDS = ("storage", "servicebus", "eventgrid")
ATTRIBUTES_EXT = "portafnattributes"
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
# Carried as Service Bus application properties besides the user's attributes.
TRACE_PROPERTIES = (CORRELATION_EXT, CAUSATION_EXT, TRACEPARENT_EXT)
POISON_SUFFIX = "-poison"


def queue_name(name: str) -> str:
    """The Storage queue for a topic or queue name: lower case, other characters as single hyphens
    (Storage queue names are 3-63 lower-case letters, digits and hyphens; the packager uses the
    same rule for the queues it declares)."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return re.sub(r"-{2,}", "-", text)[:63] or "x"


def poison_queue_name(queue: str) -> str:
    """The host's poison queue for a Storage queue: ``<queue>-poison``."""
    return f"{queue}{POISON_SUFFIX}"


def messaging_kind(value: str | None = None) -> str:
    """``storage``, ``servicebus`` or ``eventgrid``: ``value``, else ``PORTAFN_AZURE_MESSAGING``,
    else storage. ``eventgrid`` only changes where messages no function of the app consumes go;
    queue functions listen on Storage queues with it, as with ``storage``."""
    kind = (value or os.environ.get(MESSAGING_SETTING) or "storage").lower()
    if kind not in MESSAGING_KINDS:
        raise ValueError(f"messaging={kind!r}: use 'storage' (Storage queues), 'servicebus' or 'eventgrid'")
    return kind


# -- the message on the wire ---------------------------------------------------------------------


def envelope(event: Event[Any], body: bytes, attributes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The event in the CloudEvents JSON format with ``body`` as its data, so that the receiver
    gets ``body`` back byte for byte: compact JSON (what ``ctx.publish`` makes) as ``data``, text
    as a string, anything else (other bytes, JSON written another way) as ``data_base64``.
    ``attributes`` (if any) become the ``portafnattributes`` extension."""
    import base64

    from portafn.cloudevents import to_dict
    from portafn.factories import encode_payload

    out = to_dict(event.model_copy(update={"data": None, "datacontenttype": None}))
    declared = event.datacontenttype
    ctype = (declared or "").split(";")[0].strip().lower()
    text: str | None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    parsed: Any = None
    if text and not ctype.startswith("text/") and ctype != "application/octet-stream":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    if not body:
        if declared:
            out["datacontenttype"] = declared
    elif parsed is not None and encode_payload(parsed) == body:
        out["datacontenttype"] = "application/json"
        out["data"] = parsed
    elif text is not None and (ctype.startswith("text/") or parsed is None):
        # Text, or a hand-made message declared JSON that is not JSON: carried as the text it is.
        out["datacontenttype"] = declared if ctype.startswith("text/") else "text/plain; charset=utf-8"
        out["data"] = text
    else:
        out["datacontenttype"] = declared or "application/octet-stream"
        out["data_base64"] = base64.b64encode(body).decode("ascii")
    if attributes:
        out[ATTRIBUTES_EXT] = json.dumps(dict(attributes), separators=(",", ":"), sort_keys=True)
    return out


def envelope_bytes(event: Event[Any], body: bytes, attributes: Mapping[str, str] | None = None) -> bytes:
    """``envelope`` as compact UTF-8 JSON (what a Storage queue message holds before base64)."""
    return json.dumps(envelope(event, body, attributes), separators=(",", ":"), ensure_ascii=False).encode()


def storage_content(message: Outgoing) -> bytes:
    """The bytes a Storage queue message carries for ``message`` (base64 is the client's policy)."""
    return envelope_bytes(message.event, message.body, message.attributes)


def servicebus_fields(message: Outgoing) -> dict[str, Any]:
    """The ``azure.servicebus.ServiceBusMessage`` keyword arguments for ``message``."""
    ext = message.event.extensions
    props: dict[str | bytes, Any] = {str(k): str(v) for k, v in message.attributes.items()}
    for name in TRACE_PROPERTIES:
        if ext.get(name):
            props[name] = str(ext[name])
    fields: dict[str, Any] = {
        "body": envelope_bytes(message.event, message.body),
        "content_type": CLOUDEVENTS_JSON,
        "message_id": message.id,
        "application_properties": props,
    }
    if message.key is not None:
        fields["session_id"] = message.key
    if ext.get(CORRELATION_EXT):
        fields["correlation_id"] = str(ext[CORRELATION_EXT])
    if message.event.subject:
        fields["subject"] = message.event.subject
    return fields


def servicebus_message(message: Outgoing) -> Any:
    """The ``azure.servicebus.ServiceBusMessage`` for ``message``."""
    try:
        from azure.servicebus import ServiceBusMessage
    except ImportError as exc:
        raise PublishError(
            "publishing to Service Bus needs azure-servicebus: install portafn-azure[servicebus]"
        ) from exc
    return ServiceBusMessage(**servicebus_fields(message))


# Context attributes of the CloudEvents JSON format, and the names portafn itself sets as extensions:
# an attribute with one of these names cannot be an extension of the same name.
_CE_RESERVED = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "data",
        "tracestate",
        ATTRIBUTES_EXT,
        *TRACE_PROPERTIES,
        "partitionkey",
    }
)
MAX_EXTENSION_NAME = 20  # CloudEvents 1.0: names SHOULD NOT exceed 20 characters


def extension_name_ok(name: str) -> bool:
    """Whether ``name`` can be a CloudEvents extension attribute on Event Grid: 1-20 lower-case
    ASCII letters and digits with at least one letter (azure-core's ``CloudEvent`` rejects
    names that are not lower case and alphanumeric; a name of digits only is not lower case)."""
    return (
        0 < len(name) <= MAX_EXTENSION_NAME
        and name.isascii()
        and name.isalnum()
        and name.islower()
        and name not in _CE_RESERVED
    )


def eventgrid_event(message: Outgoing) -> dict[str, Any]:
    """The CloudEvent (JSON format) Event Grid receives for ``message``: ``envelope`` of the
    message, with each attribute that is a valid extension name as that extension and the others
    together in ``portafnattributes`` (module docstring)."""
    from portafn.cloudevents import CloudEventFormatError

    try:
        out = envelope(message.event, message.body)
    except CloudEventFormatError as exc:  # only a hand-made Outgoing (an outbox record) gets here
        raise PublishError(f"message {message.id} is not a valid CloudEvent: {exc}") from exc
    carried: dict[str, str] = {}
    for name, value in sorted(message.attributes.items()):
        if extension_name_ok(name) and name not in out:
            out[name] = value
        else:
            carried[name] = value
    if carried:
        out[ATTRIBUTES_EXT] = json.dumps(carried, separators=(",", ":"), sort_keys=True)
    bad = sorted(k for k in out if k not in _CE_RESERVED and k != "data_base64" and not extension_name_ok(k))
    if bad:
        raise PublishError(
            f"message {message.id}: extension attributes {bad} are not valid on Event Grid "
            "(1-20 lower-case letters and digits)"
        )
    return out


def eventgrid_cloudevent(message: Outgoing) -> Any:
    """The ``azure.core.messaging.CloudEvent`` the Event Grid client sends for ``message``."""
    from azure.core.messaging import CloudEvent

    return CloudEvent.from_dict(eventgrid_event(message))


# -- clients ---------------------------------------------------------------------------------------


def _setting(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _credential() -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise PublishError(
            "an identity-based connection needs azure-identity: install portafn-azure[identity]"
        ) from exc
    return DefaultAzureCredential()


class StorageQueues:
    """Sends to the Storage queues of one connection setting. The service client is made on the
    first send; queue clients once per queue; a queue that does not exist is created then."""

    def __init__(self, setting: str = STORAGE_SETTING) -> None:
        self.setting = setting
        self._service: Lazy[Any] = Lazy(self._service_client)
        self._queues: dict[str, Any] = {}
        self._lock = threading.Lock()  # guards _queues

    def _service_client(self) -> Any:
        from azure.storage.queue import QueueServiceClient

        conn = _setting(self.setting)
        if conn is not None:
            # The SDK reads UseDevelopmentStorage=true as Azurite's well-known account.
            return QueueServiceClient.from_connection_string(conn)
        uri = _setting(f"{self.setting}__queueServiceUri")
        account = _setting(f"{self.setting}__accountName")
        if uri is None and account is not None:
            uri = f"https://{account}.queue.core.windows.net"
        if uri is None:
            raise PublishError(
                f"no Storage connection: set the app setting {self.setting} (a connection string, "
                f"UseDevelopmentStorage=true for Azurite) or {self.setting}__queueServiceUri"
            )
        return QueueServiceClient(uri, credential=_credential())

    def client(self, queue: str) -> Any:
        """The queue client for ``queue`` (base64 message encoding, as the host expects)."""
        with self._lock:
            found = self._queues.get(queue)
            if found is None:
                from azure.storage.queue import BinaryBase64EncodePolicy

                found = self._service.get().get_queue_client(
                    queue, message_encode_policy=BinaryBase64EncodePolicy()
                )
                self._queues[queue] = found
            return found

    def send(self, queue: str, content: bytes) -> None:
        """Send ``content`` to ``queue``, creating the queue if it does not exist yet."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        client = self.client(queue)
        try:
            client.send_message(content)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):  # another sender made it first
                client.create_queue()
            client.send_message(content)

    def close(self) -> None:
        """Close the service client (queue clients share its transport)."""
        with self._lock:
            service = self._service.reset()
            if service is not None:
                service.close()
            self._queues = {}


class ServiceBusSenders:
    """Sends to the Service Bus queues and topics of one connection setting; the client is made on
    the first send, a sender once per entity."""

    def __init__(self, setting: str = SERVICEBUS_SETTING) -> None:
        self.setting = setting
        self._client: Lazy[Any] = Lazy(self._make_client)
        self._senders: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # guards _senders

    def _make_client(self) -> Any:
        try:
            from azure.servicebus import ServiceBusClient
        except ImportError as exc:
            raise PublishError(
                "publishing to Service Bus needs azure-servicebus: install portafn-azure[servicebus]"
            ) from exc
        conn = _setting(self.setting)
        if conn is not None:
            return ServiceBusClient.from_connection_string(conn)
        namespace = _setting(f"{self.setting}__fullyQualifiedNamespace")
        if namespace is None:
            raise PublishError(
                f"no Service Bus connection: set the app setting {self.setting} (a connection string) "
                f"or {self.setting}__fullyQualifiedNamespace"
            )
        return ServiceBusClient(namespace, credential=_credential())

    def sender(self, kind: str, entity: str) -> Any:
        """The sender for queue or topic ``entity`` (``kind`` ``queue`` or ``topic``)."""
        with self._lock:
            found = self._senders.get((kind, entity))
            if found is None:
                client = self._client.get()
                if kind == "topic":
                    found = client.get_topic_sender(topic_name=entity)
                else:
                    found = client.get_queue_sender(queue_name=entity)
                self._senders[(kind, entity)] = found
            return found

    def send(self, kind: str, entity: str, message: Outgoing) -> None:
        """Send ``message`` to the entity."""
        self.sender(kind, entity).send_messages(servicebus_message(message))

    def close(self) -> None:
        """Close the senders and the client."""
        with self._lock:
            for sender in self._senders.values():
                sender.close()
            client = self._client.reset()
            if client is not None:
                client.close()
            self._senders = {}


class EventGridTopic:
    """Sends to one Event Grid custom topic (CloudEvents 1.0 input schema), named by app settings
    as the Functions Event Grid output binding names it; the client is made on the first send."""

    def __init__(
        self,
        endpoint_setting: str = EVENTGRID_ENDPOINT_SETTING,
        key_setting: str = EVENTGRID_KEY_SETTING,
        connection: str = EVENTGRID_CONNECTION,
    ) -> None:
        self.endpoint_setting = endpoint_setting
        self.key_setting = key_setting
        self.connection = connection
        self._client: Lazy[Any] = Lazy(self._make_client)

    def _make_client(self) -> Any:
        try:
            from azure.core.credentials import AzureKeyCredential
            from azure.eventgrid import EventGridPublisherClient
        except ImportError as exc:
            raise PublishError(
                "publishing to Event Grid needs azure-eventgrid: install portafn-azure[eventgrid]"
            ) from exc
        identity = f"{self.connection}__topicEndpointUri"
        endpoint = _setting(self.endpoint_setting)
        if endpoint is not None:
            key = _setting(self.key_setting)
            if key is None:
                raise PublishError(
                    f"no Event Grid access key: set the app setting {self.key_setting} next to "
                    f"{self.endpoint_setting}, or use an identity-based connection ({identity})"
                )
            return EventGridPublisherClient(endpoint, AzureKeyCredential(key))
        uri = _setting(identity)
        if uri is None:
            raise PublishError(
                f"no Event Grid topic: set the app settings {self.endpoint_setting} (the custom "
                f"topic's endpoint) and {self.key_setting} (its access key), or {identity} for an "
                "identity-based connection"
            )
        return EventGridPublisherClient(uri, _credential())

    def client(self) -> Any:
        """The ``EventGridPublisherClient`` (made once)."""
        return self._client.get()

    def send(self, message: Outgoing) -> None:
        """Send ``message`` as one CloudEvent."""
        try:
            event = eventgrid_cloudevent(message)
        except ValueError as exc:  # azure-core's own check of the attributes
            raise PublishError(
                f"message {message.id} is not a valid CloudEvent for Event Grid: {exc}"
            ) from exc
        self.client().send([event])

    def close(self) -> None:
        """Close the client."""
        client = self._client.reset()
        if client is not None:
            client.close()


# -- the publisher ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """Where one topic's messages go: ``broker`` ``storage``, ``servicebus`` or ``eventgrid``;
    ``kind`` ``queue``, ``topic`` or (Event Grid) ``event``; and the entity name (for Event Grid
    the CloudEvent type, which the app's event subscriptions filter on)."""

    broker: str
    kind: str
    entity: str


class AzurePublisher(Publisher):
    """Publishes to Storage queues, Service Bus or Event Grid, where ``function_app`` listens
    (module docstring).

    ``messaging`` and the connection setting names default to what ``function_app`` uses;
    ``eventgrid_endpoint``/``eventgrid_key`` name the topic endpoint and key settings and
    ``eventgrid_connection`` the identity-based connection prefix.
    """

    def __init__(
        self,
        app: App | None = None,
        *,
        messaging: str | None = None,
        storage_connection: str = STORAGE_SETTING,
        servicebus_connection: str = SERVICEBUS_SETTING,
        eventgrid_endpoint: str = EVENTGRID_ENDPOINT_SETTING,
        eventgrid_key: str = EVENTGRID_KEY_SETTING,
        eventgrid_connection: str = EVENTGRID_CONNECTION,
    ) -> None:
        self.messaging = messaging_kind(messaging)
        functions = list(app.functions.values()) if app is not None else []
        self.topics: frozenset[str] = frozenset(
            fn.trigger.topic for fn in functions if isinstance(fn.trigger, TopicTrigger)
        )
        self.queues: frozenset[str] = frozenset(
            fn.trigger.queue for fn in functions if isinstance(fn.trigger, QueueTrigger)
        )
        self.event_types: frozenset[str] = frozenset(
            fn.trigger.type for fn in functions if isinstance(fn.trigger, EventTrigger)
        )
        self.storage = StorageQueues(storage_connection)
        self.servicebus = ServiceBusSenders(servicebus_connection)
        self.eventgrid = EventGridTopic(eventgrid_endpoint, eventgrid_key, eventgrid_connection)

    def route(self, topic: str, type: str | None = None) -> Route:
        """Where messages for ``topic`` go; ``type`` is their CloudEvent type (default: ``topic``)."""
        event_type = type or topic
        if topic in self.topics:
            return Route("servicebus", "topic", topic)
        # Queue functions are wired by topic name and come first (as on the local bus); Event Grid
        # triggers filter on the type.
        if topic not in self.queues and (event_type in self.event_types or self.messaging == "eventgrid"):
            return Route("eventgrid", "event", event_type)
        if self.messaging == "servicebus":
            return Route("servicebus", "queue", topic)
        return Route("storage", "queue", queue_name(topic))

    def publish(self, message: Outgoing) -> None:
        """Send one message; the SDK's error propagates (the outbox relay retries)."""
        route = self.route(message.topic, message.event.type)
        if route.broker == "storage":
            self.storage.send(route.entity, storage_content(message))
        elif route.broker == "eventgrid":
            self.eventgrid.send(message)
        else:
            self.servicebus.send(route.kind, route.entity, message)

    def close(self) -> None:
        """Close the clients that were made."""
        self.storage.close()
        self.servicebus.close()
        self.eventgrid.close()


# function_app's options for the publisher its runtime makes on first publish (weak: a runtime
# that goes away takes its entry along).
_options: weakref.WeakKeyDictionary[Runtime, dict[str, Any]] = weakref.WeakKeyDictionary()


def remember_options(runtime: Runtime, **options: Any) -> None:
    """Record ``function_app``'s messaging options for the publisher its runtime will make."""
    _options[runtime] = options


def make_publisher(runtime: Runtime) -> Publisher:
    """The publisher factory the ``azure`` plugin names: an ``AzurePublisher`` for the runtime's app."""
    return AzurePublisher(runtime.app, **_options.get(runtime, {}))
