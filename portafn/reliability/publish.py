"""Publishing: the ``Publisher`` port, its registration by provider, and the local bus.

``ctx.publish(topic, data)`` builds a CloudEvent (``Outgoing``) stamped with the invocation's
correlation id, causation id and trace context, and hands it to the publisher the runtime was
configured with:

- ``Runtime(app, provider, publisher=...)`` when one is given;
- else, for provider ``"local"``, a ``LocalBus`` that delivers to the app's own ``@app.topic`` and
  ``@app.queue`` functions through the same ``Runtime``;
- else the publisher factory the provider's plugin names (``portafn.plugins``), for the
  provider's name (``aws``: SNS or EventBridge, ``azure``: Service Bus, Event Grid or a Storage
  queue, ``gcp``: Pub/Sub). A factory is called with the runtime and returns a ``Publisher``.

Nothing here is imported until a function publishes, so apps that never publish pay nothing.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portafn.errors import PortafnError
from portafn.events import Event, Message, now_utc
from portafn.reliability.outcomes import Outcome, outcome_of, reason_of

if TYPE_CHECKING:
    from portafn.app import App, Function
    from portafn.context import Context
    from portafn.runtime import Runtime
    from portafn.store.transaction import Transaction

CORRELATION_EXT = "correlationid"
CAUSATION_EXT = "causationid"
TRACEPARENT_EXT = "traceparent"
PARTITION_EXT = "partitionkey"  # the CloudEvents "partitioning" extension
_TOPIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
MAX_ATTRIBUTES = 10  # SNS message attributes cap at 10; the strictest of the brokers


class PublishError(PortafnError):
    """A publish that cannot be made: bad topic or attributes, or no publisher for the provider."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: a CloudEvent for ``topic``, its encoded payload, attributes and key.

    ``event`` carries ``correlationid``, ``causationid``, ``traceparent`` and ``partitionkey`` as
    CloudEvents extensions; ``body`` is the payload bytes the broker carries (JSON for anything
    but ``bytes``/``str``); ``key`` is the ordering key (Pub/Sub ordering key, SNS FIFO message
    group, Service Bus session), None when order does not matter.
    """

    topic: str
    event: Event[Any]
    body: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    key: str | None = None

    @property
    def id(self) -> str:
        """The CloudEvent id: stable across redeliveries and outbox relays (consumers dedupe on it)."""
        return self.event.id

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready form (what the outbox stores)."""
        from portafn.cloudevents import to_dict

        envelope = to_dict(self.event.model_copy(update={"data": None}))
        out: dict[str, Any] = {
            "topic": self.topic,
            "event": envelope,
            "attributes": dict(self.attributes),
            "key": self.key,
        }
        try:
            out["body"] = self.body.decode("utf-8")
        except UnicodeDecodeError:
            out["body_base64"] = base64.b64encode(self.body).decode("ascii")
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Outgoing:
        """The message ``to_record`` stored."""
        from portafn.cloudevents import from_dict

        if "body_base64" in record:
            body = base64.b64decode(str(record["body_base64"]))
        else:
            body = str(record["body"]).encode("utf-8")
        event = from_dict(dict(record["event"]))
        ctype = event.datacontenttype or "application/json"
        data: Any = body if ctype == "application/octet-stream" else _decode(body)
        event = event.model_copy(update={"data": data})
        return cls(
            topic=str(record["topic"]),
            event=event,
            body=body,
            attributes={str(k): str(v) for k, v in dict(record.get("attributes") or {}).items()},
            key=record.get("key"),
        )


class Publisher(ABC):
    """Sends ``Outgoing`` messages to a broker. Implementations must be thread-safe and create
    their SDK clients lazily, on first publish."""

    @abstractmethod
    def publish(self, message: Outgoing) -> None:
        """Send one message; raise if the broker did not accept it (the outbox relay retries)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""


PublisherFactory = Callable[["Runtime"], Publisher]


_override: ContextVar[PublisherFactory | None] = ContextVar("portafn_publisher", default=None)

Stager = Callable[["Transaction", "Outgoing"], object]
# Each app's outbox registers where ``ctx.publish(..., tx=...)`` stages a message, so publishing
# needs no import of the outbox module (which builds on this one).
_stagers: weakref.WeakKeyDictionary[App, Stager] = weakref.WeakKeyDictionary()


def register_stager(app: App, stage: Stager) -> None:
    """Make ``stage(tx, message)`` where ``app``'s transactional publishes go (``Outbox(app)`` does)."""
    _stagers[app] = stage


def no_outbox(app: App) -> PublishError:
    """The error for a transactional publish in an app without an outbox."""
    return PublishError(
        f"app {app.name!r} has no outbox: add `Outbox(app)` next to its tables to publish with tx="
    )


@contextmanager
def use_publisher(factory: PublisherFactory) -> Iterator[None]:
    """Within the block, runtimes that resolve their publisher use ``factory`` (tests use it to
    capture what functions publish and deliver it through a provider's driver)."""
    token = _override.set(factory)
    try:
        yield
    finally:
        _override.reset(token)


def resolve_publisher(runtime: Runtime) -> Publisher:
    """The publisher for ``runtime.provider``: an override set by ``use_publisher``, the local bus,
    or the registered factory's."""
    override = _override.get()
    if override is not None:
        return override(runtime)
    from portafn.plugins import PluginError, load, provider

    try:
        ref = provider(runtime.provider).publisher
    except PluginError as exc:
        raise PublishError(f"{exc}; or pass Runtime(..., publisher=...)") from None
    if ref is None:
        raise PublishError(
            f"provider {runtime.provider!r} has no publisher; pass Runtime(..., publisher=...)"
        )
    publisher = load(ref)(runtime)
    if not isinstance(publisher, Publisher):
        raise PublishError(f"{ref} for {runtime.provider} did not make a Publisher")
    return publisher


# -- building messages ---------------------------------------------------------------------------


def build(
    topic: str,
    data: Any,
    *,
    source: str,
    correlation_id: str | None,
    causation_id: str | None,
    traceparent: str | None = None,
    attributes: Mapping[str, str] | None = None,
    key: str | None = None,
    type: str | None = None,
    subject: str | None = None,
) -> Outgoing:
    """A checked ``Outgoing`` for ``data`` (bytes and str pass as they are, anything else is JSON)."""
    from portafn.factories import encode_payload

    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise PublishError(f"topic {topic!r}: use 1-63 letters, digits, '.', '_' or '-'")
    attrs = dict(attributes or {})
    if len(attrs) > MAX_ATTRIBUTES:
        raise PublishError(f"at most {MAX_ATTRIBUTES} attributes per message; got {len(attrs)}")
    for name, value in attrs.items():
        if not (isinstance(name, str) and isinstance(value, str) and name):
            raise PublishError(f"attribute {name!r}: names and values are non-empty str")
    if key is not None and (not isinstance(key, str) or not key or len(key) > 1024):
        raise PublishError("key must be a non-empty str of at most 1024 characters")
    body = encode_payload(data)
    extensions: dict[str, Any] = {}
    if correlation_id:
        extensions[CORRELATION_EXT] = correlation_id
    if causation_id:
        extensions[CAUSATION_EXT] = causation_id
    if traceparent and (child := child_traceparent(traceparent)):
        extensions[TRACEPARENT_EXT] = child
    if key is not None:
        extensions[PARTITION_EXT] = key
    content_type = (
        "application/octet-stream"
        if isinstance(data, bytes)
        else "text/plain; charset=utf-8"
        if isinstance(data, str)
        else "application/json"
    )
    event: Event[Any] = Event[Any](
        id=str(uuid.uuid4()),
        source=source,
        type=type or topic,
        subject=subject,
        time=now_utc(),
        datacontenttype=content_type,
        data=_decode(body) if content_type == "application/json" else data,
        extensions=extensions,
    )
    return Outgoing(topic, event, body, attrs, key)


def child_traceparent(parent: str) -> str | None:
    """A W3C ``traceparent`` for a message sent under ``parent``: same trace, a new span id."""
    m = _TRACEPARENT.match(parent.strip().lower())
    if m is None:
        return None
    version, trace_id, _, flags = m.groups()
    return f"{version}-{trace_id}-{secrets.token_hex(8)}-{flags}"


def publish_from(
    ctx: Context,
    topic: str,
    data: Any,
    *,
    attributes: Mapping[str, str] | None = None,
    key: str | None = None,
    type: str | None = None,
    subject: str | None = None,
    tx: Transaction | None = None,
) -> str:
    """What ``ctx.publish`` does: build the message and publish it now or, with ``tx``, stage it
    in the app's outbox inside that transaction. Returns the message (CloudEvent) id."""
    runtime = ctx.runtime
    if runtime is None:
        raise PublishError("this Context was not made by a Runtime, so it has no publisher")
    message = build(
        topic,
        data,
        source=f"portafn://{runtime.app.name}/{ctx.function_name}",
        correlation_id=ctx.correlation_id,
        causation_id=ctx.causation_id,
        traceparent=ctx.traceparent,
        attributes=attributes,
        key=key,
        type=type,
        subject=subject,
    )
    if tx is not None:
        stage = _stagers.get(runtime.app)
        if stage is None:
            raise no_outbox(runtime.app)
        stage(tx, message)
    else:
        runtime.publisher.publish(message)
    ctx.logger.debug("published", extra={"topic": topic, "message_id": message.id})
    return message.id


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")


# -- the local bus -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusDelivery:
    """What became of one message at one function on the local bus."""

    topic: str
    function: str
    message_id: str
    outcome: Outcome
    attempts: int
    reason: str | None = None


class LocalBus(Publisher):
    """An in-process broker: delivers each message to the app's functions on that topic or queue.

    Delivery follows the brokers' rules: the publisher never sees a consumer's failure; a message
    whose handler raises is delivered again (``delivery_attempt`` grows) up to ``max_attempts``,
    then dead-lettered; ``DeadLetter`` dead-letters at once. Messages published while delivering
    are queued and delivered after, in publish order, so a chain of functions runs breadth-first
    and never recursively. ``published``, ``deliveries`` and ``dead_letters`` keep the history
    for tests and ``portafn dev``.
    """

    def __init__(self, runtime: Runtime, *, max_attempts: int = 3, auto_drain: bool = True) -> None:
        self.runtime = runtime
        self.max_attempts = max(1, max_attempts)
        self.auto_drain = auto_drain
        self.published: list[Outgoing] = []
        self.deliveries: list[BusDelivery] = []
        self.dead_letters: list[tuple[Outgoing, BusDelivery]] = []
        self._pending: deque[Outgoing] = deque()
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()

    def publish(self, message: Outgoing) -> None:
        """Queue the message and, unless ``auto_drain`` is off, deliver everything queued."""
        with self._lock:
            self.published.append(message)
            self._pending.append(message)
        if self.auto_drain:
            self.drain()

    def drain(self) -> int:
        """Deliver queued messages until none is left; returns how many this call delivered.

        One thread drains at a time (so messages with one key arrive in order); a publish made
        while another thread drains is delivered by that thread.
        """
        count = 0
        while True:
            if not self._drain_lock.acquire(blocking=False):
                return count
            try:
                while (message := self._pop()) is not None:
                    self._deliver(message)
                    count += 1
            finally:
                self._drain_lock.release()
            with self._lock:
                if not self._pending:
                    return count

    def targets(self, topic: str) -> list[Function]:
        """The app's functions on queue or topic ``topic``, in registration order."""
        return self.runtime.app.consumers(topic)

    def _pop(self) -> Outgoing | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def _deliver(self, message: Outgoing) -> None:
        for fn in self.targets(message.topic):
            attempt = 1
            while True:
                error: BaseException | None = None
                try:
                    self.runtime.handle_event(fn, to_message(message, attempt))
                except Exception as exc:
                    error = exc
                outcome = outcome_of(error)
                if outcome is Outcome.RETRY and attempt < self.max_attempts:
                    attempt += 1
                    continue
                if outcome is Outcome.RETRY:
                    outcome = Outcome.DEAD_LETTER  # the redrive limit is reached
                record = BusDelivery(message.topic, fn.name, message.id, outcome, attempt, reason_of(error))
                with self._lock:
                    self.deliveries.append(record)
                    if outcome is Outcome.DEAD_LETTER:
                        self.dead_letters.append((message, record))
                break


def to_message(message: Outgoing, attempt: int = 1) -> Message[Any]:
    """The neutral ``Message`` a consumer receives for ``message`` (what brokers deliver)."""
    event = message.event
    return Message[Any](
        id=event.id,
        source=event.source,
        type=event.type,
        subject=event.subject,
        time=event.time,
        datacontenttype=event.datacontenttype,
        data=_decode(message.body),
        extensions=dict(event.extensions),
        body=message.body,
        attributes=dict(message.attributes),
        delivery_attempt=attempt,
        queue=message.topic,
        ordering_key=message.key,
        raw=message,
    )
