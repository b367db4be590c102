"""What a raise means on each Azure trigger: the failure semantics portafn relies on.

The worker reports an invocation as failed when the function raises; what happens next is the
host's, per trigger (Azure Functions documentation, "Azure Functions error handling and retries"
and each binding's page):

- Storage queue: the message becomes visible again and is retried; after ``maxDequeueCount``
  (host.json ``extensions.queues.maxDequeueCount``, default 5) it moves to ``<queue>-poison``.
  ``Message.delivery_attempt`` is the message's dequeue count.
- Service Bus: the message lock is abandoned and the message redelivered; after the entity's
  ``MaxDeliveryCount`` (default 10) it goes to the dead-letter queue.
- Timer: the run fails and is not retried (unless a retry policy is set); the next occurrence runs.
- Blob (polling or Event Grid source): retried up to 5 times, then a message goes to
  ``webjobs-blobtrigger-poison``.
- Event Grid: the HTTP delivery fails and Event Grid retries with backoff for up to 24 hours,
  then dead-letters if configured.
- Cosmos DB change feed: the host does not retry the batch by itself: a raise loses that batch's
  position unless a retry policy is set, so ``function_app`` adds an exponential retry policy
  to ``changes`` functions, and portafn logs every failure.
- Data that fails validation (``EventDataError``) is a raise like any other: retried, then
  poisoned, never silently dropped.

Outcomes (``portafn.reliability.outcomes``): ``Retry`` and any other exception are a raise.
``DeadLetter`` on a **Storage queue** trigger does not wait for ``maxDequeueCount``: the entry puts
the message on ``<queue>-poison`` itself (the host's own poison queue, so the same tooling sees
both), with the reason added to a CloudEvent body as the ``deadletterreason`` extension, and returns,
so the host deletes the original. If that send fails it raises instead: the message is retried,
never lost. On **Service Bus** the Python worker cannot settle a message (dead-lettering from code
needs SDK-type bindings, which are pre-release and document no settlement), so ``DeadLetter`` is
a raise there and the message reaches the dead-letter subqueue after ``MaxDeliveryCount``. Timer,
blob, Event Grid and Cosmos DB triggers have no per-message dead letter: a raise as above.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """What the host does after a raise on one trigger kind."""

    retried: bool
    dead_letter: str | None
    attempts: str


FAILURE_POLICIES: dict[str, FailurePolicy] = {
    "queue": FailurePolicy(True, "<queue>-poison", "maxDequeueCount (default 5)"),
    "servicebus": FailurePolicy(True, "dead-letter queue", "MaxDeliveryCount (default 10)"),
    "schedule": FailurePolicy(False, None, "the next occurrence runs"),
    "storage": FailurePolicy(True, "webjobs-blobtrigger-poison", "5"),
    "event": FailurePolicy(True, "dead-letter destination if configured", "Event Grid retries up to 24 h"),
    "changes": FailurePolicy(True, None, "function retry policy (exponential, 5 attempts)"),
}

DEFAULT_MAX_DEQUEUE_COUNT = 5


def is_retried(kind: str, *, servicebus: bool = False) -> bool:
    """Whether the host delivers an event again after the function raised."""
    if kind == "topic" or (servicebus and kind == "queue"):
        return FAILURE_POLICIES["servicebus"].retried
    return FAILURE_POLICIES[kind].retried


def poisoned(dequeue_count: int, max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT) -> bool:
    """Whether a Storage queue message that fails on this attempt goes to the poison queue."""
    return dequeue_count >= max_dequeue_count


def dead_letters_now(binding_type: str) -> bool:
    """Whether the entry moves a ``DeadLetter`` message to its dead-letter destination itself (and
    reports success to the host): only Storage queue triggers (``queueTrigger``)."""
    return binding_type == "queueTrigger"


@dataclass(frozen=True, slots=True)
class Poisoned:
    """One message the entry moves to a poison queue: ``content`` is what the poison queue gets
    (before the base64 the host's encoding adds), ``error`` the exception's type name."""

    function: str
    queue: str
    poison_queue: str
    content: bytes
    reason: str
    error: str


PoisonSink = Callable[[Poisoned], None]


def poison_content(body: bytes, reason: str, function: str) -> bytes:
    """The poison queue message for ``body``: a CloudEvent body gains the ``deadletterreason`` and
    ``deadletterfunction`` extensions; any other body is kept as it is (the reason is logged)."""
    from portafn_azure.events import unwrap

    if unwrap(body) is None:
        return body
    obj: dict[str, Any] = json.loads(body)
    obj["deadletterreason"] = reason
    obj["deadletterfunction"] = function
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def storage_poison_sink(setting: str) -> PoisonSink:
    """A sink that sends to the poison queue on the Storage account of app setting ``setting``;
    the client is made on the first dead letter."""
    from portafn_azure.publish import StorageQueues

    queues = StorageQueues(setting)

    def send(poisoned: Poisoned) -> None:
        queues.send(poisoned.poison_queue, poisoned.content)

    return send
