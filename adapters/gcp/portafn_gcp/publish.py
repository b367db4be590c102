"""Publishing to Pub/Sub: ``ctx.publish(topic, data)`` on Google Cloud.

``PubSubPublisher`` sends each ``Outgoing`` to the topic ``projects/<project>/topics/<topic>`` in
the CloudEvents Pub/Sub protocol binding's binary mode:

- the message data is the payload bytes (``Outgoing.body``), unchanged;
- the attributes are the caller's ``attributes`` plus the CloudEvent's context as ``ce-``
  attributes: ``ce-specversion``, ``ce-id``, ``ce-source``, ``ce-type``, ``ce-time``, ``ce-subject``
  (when set), ``content-type`` (the ``datacontenttype``) and each extension (``ce-correlationid``,
  ``ce-causationid``, ``ce-traceparent``, ``ce-partitionkey``); names starting ``ce-`` are
  reserved for these;
- the ordering key is ``key``. Pub/Sub only accepts an ordering key from a client with message
  ordering on, and such a client holds back a key after a failure, so ordered and unordered
  messages go through two clients, each made on first use; after a failed ordered publish the
  key is resumed, so the outbox relay's retry can send it again.

The project is, in order: the ``project`` argument, ``GOOGLE_CLOUD_PROJECT`` (``GCLOUD_PROJECT``,
``GCP_PROJECT``), the project of a ``firestore://PROJECT`` store URL in ``PORTAFN_STORE``, the
emulator's ``PUBSUB_PROJECT_ID``, then the credentials' own project (``google.auth.default``).
``PUBSUB_EMULATOR_HOST`` points the client at the emulator. Each publish waits for the broker's
answer for at most ``timeout`` seconds; a refusal raises ``PublishError`` naming the topic and the
error type, never credentials.

The GCP adapter reads these attributes back (``portafn_gcp.events.to_message``), so a consumer's
``Message`` has the publisher's CloudEvent id, source, type and extensions, as on the local bus.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from portafn.cloudevents import format_time
from portafn.lazy import Lazy
from portafn.reliability.publish import Outgoing, Publisher, PublishError
from portafn_gcp.events import CE_PREFIX, CONTENT_TYPE

if TYPE_CHECKING:
    from collections.abc import Callable

    from google.cloud.pubsub_v1 import PublisherClient

    from portafn.app import Function
    from portafn.runtime import Runtime

DEAD_LETTER_SUFFIX = "-dead-letter"
SCHEDULE_TOPIC_PREFIX = "portafn-schedule-"
REASON_ATTRIBUTE = "portafn-dead-letter-reason"
FUNCTION_ATTRIBUTE = "portafn-function"
DEFAULT_TIMEOUT_S = 30.0
_PROJECT_VARS = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT")


def make_publisher(runtime: Runtime) -> Publisher:
    """The publisher factory the ``gcp`` plugin names."""
    return PubSubPublisher()


class PubSubPublisher(Publisher):
    """Publishes ``Outgoing`` messages to Pub/Sub topics (see the module docstring)."""

    def __init__(self, project: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._project = Lazy(lambda: project or default_project())
        self.timeout = timeout
        # One client per ordering mode: an ordered client holds a key back after a failure.
        self._clients = {ordered: Lazy(_client_maker(ordered)) for ordered in (False, True)}

    @property
    def project(self) -> str:
        """The project that owns the topics (resolved on first use)."""
        return self._project.get()

    def topic_path(self, topic: str) -> str:
        """The full name of a topic: ``projects/<project>/topics/<topic>``."""
        return f"projects/{self.project}/topics/{topic}"

    def client(self, *, ordered: bool) -> PublisherClient:
        """The publisher client (with message ordering on, for ``ordered``), made once."""
        return self._clients[ordered].get()

    def publish(self, message: Outgoing) -> None:
        """Send one message and wait (bounded) until Pub/Sub has accepted it."""
        topic = self.topic_path(message.topic)
        attributes = pubsub_attributes(message)
        key = message.key or ""
        client = self.client(ordered=bool(key))
        try:
            future = client.publish(topic, message.body, ordering_key=key, timeout=self.timeout, **attributes)
            future.result(timeout=self.timeout)
        except Exception as exc:
            if key:
                # An ordered publisher pauses a key after a failure; resume it so a retry can go.
                with contextlib.suppress(Exception):
                    client.resume_publish(topic, key)
            raise PublishError(
                f"Pub/Sub did not accept message {message.id} for topic {message.topic!r}: {_describe(exc)}"
            ) from None

    def close(self) -> None:
        """Stop the clients (sending what they still hold)."""
        for lazy in self._clients.values():
            client = lazy.reset()
            if client is not None:
                with contextlib.suppress(Exception):  # closing must not fail
                    client.stop()


def _client_maker(ordered: bool) -> Callable[[], PublisherClient]:
    def make() -> PublisherClient:
        from google.cloud import pubsub_v1

        options = pubsub_v1.types.PublisherOptions(enable_message_ordering=ordered)
        client: PublisherClient = pubsub_v1.PublisherClient(publisher_options=options)
        return client

    return make


def default_project() -> str:
    """The Google Cloud project to publish in (see the module docstring for the order)."""
    for name in _PROJECT_VARS:
        if value := os.environ.get(name):
            return value
    store = os.environ.get("PORTAFN_STORE", "")
    if store.startswith("firestore://") and (netloc := urlsplit(store).netloc):
        return netloc
    if os.environ.get("PUBSUB_EMULATOR_HOST") and (value := os.environ.get("PUBSUB_PROJECT_ID")):
        return value
    try:
        import google.auth

        _, project = google.auth.default()
    except Exception:
        project = None
    if not project:
        raise PublishError(
            "no Google Cloud project to publish in: set GOOGLE_CLOUD_PROJECT "
            "(or PORTAFN_STORE=firestore://PROJECT)"
        )
    return str(project)


def pubsub_attributes(message: Outgoing) -> dict[str, str]:
    """The message's Pub/Sub attributes: its own plus its CloudEvent context (binary mode)."""
    event = message.event
    reserved = [name for name in message.attributes if name.lower().startswith(CE_PREFIX)]
    if reserved:
        raise PublishError(f"attribute names starting {CE_PREFIX!r} are reserved: {sorted(reserved)}")
    out = dict(message.attributes)
    out[CE_PREFIX + "specversion"] = event.specversion
    out[CE_PREFIX + "id"] = event.id
    out[CE_PREFIX + "source"] = event.source
    out[CE_PREFIX + "type"] = event.type
    if event.time is not None:
        out[CE_PREFIX + "time"] = format_time(event.time)
    if event.subject:
        out[CE_PREFIX + "subject"] = event.subject
    if event.dataschema:
        out[CE_PREFIX + "dataschema"] = event.dataschema
    if event.datacontenttype:
        out[CONTENT_TYPE] = event.datacontenttype
    for name, value in event.extensions.items():
        if value is not None:
            out[CE_PREFIX + name] = value if isinstance(value, str) else str(value)
    return out


def dead_letter_topic(fn: Function) -> str:
    """The topic a function's dead letters go to (packaging creates it with a subscription).

    A queue or topic function: ``<topic>-dead-letter``, the name Pub/Sub's own dead-letter policy
    on that function's subscription also uses; a schedule function: its scheduler topic's
    (``portafn-schedule-<fn>-dead-letter``); any other event function (storage, changes, Eventarc
    events): ``portafn-<fn>-dead-letter``.
    """
    topic = trigger_topic(fn)
    return (topic or f"portafn-{fn.name}") + DEAD_LETTER_SUFFIX


def trigger_topic(fn: Function) -> str | None:
    """The Pub/Sub topic that triggers ``fn``, if one does (queue, topic and schedule functions)."""
    from portafn.triggers import QueueTrigger, ScheduleTrigger, TopicTrigger

    trigger = fn.trigger
    if isinstance(trigger, QueueTrigger):
        return trigger.queue
    if isinstance(trigger, TopicTrigger):
        return trigger.topic
    if isinstance(trigger, ScheduleTrigger):
        return schedule_topic(fn.name)
    return None


def schedule_topic(function_name: str) -> str:
    """The topic a schedule function's Cloud Scheduler job publishes to."""
    return SCHEDULE_TOPIC_PREFIX + function_name


def _describe(exc: BaseException) -> str:
    # The error's type and the first line of its message: enough to act on, no request dump.
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "PubSubPublisher",
    "dead_letter_topic",
    "default_project",
    "make_publisher",
    "pubsub_attributes",
]
