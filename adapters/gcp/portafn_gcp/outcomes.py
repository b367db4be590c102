"""Failure semantics on Cloud Functions: what a handler's outcome becomes for each way an event arrives.

Cloud Functions delivers one event per HTTP request, so there is no partial-batch answer as on
Lambda; the HTTP status of the answer *is* the outcome (``portafn.reliability.outcomes``):

- **success** (the handler returns): functions-framework answers ``200 OK``. Pub/Sub (push, or
  through Eventarc) counts 102, 200, 201, 202 and 204 as an acknowledgement, so the message is done.
- **retry** (``Retry``, or any other raise: a handler error, ``EventDataError`` for data that does
  not validate, ``EventFormatError`` for a malformed event): the target re-raises and
  functions-framework answers ``500``. Pub/Sub treats it as a negative acknowledgement and
  redelivers with the subscription's backoff until its dead-letter policy (``max_delivery_attempts``)
  moves the message to the dead-letter topic; ``Message.delivery_attempt`` counts the tries.
  Eventarc triggers redeliver only when the function is deployed with *retry on failure*
  (``--retry``), which packaging turns on for every event function. ``Retry(delay=...)`` is only a
  hint here: Pub/Sub has no per-message delay.
- **dead letter** (``DeadLetter``): Pub/Sub's own dead-lettering happens only after the maximum
  delivery attempts, so the adapter publishes the message itself to the function's dead-letter
  topic (``portafn_gcp.publish.dead_letter_topic``: ``<topic>-dead-letter``) through the runtime's
  publisher, then acknowledges (``200``). A Pub/Sub message goes as it came (data, attributes,
  CloudEvent id) plus ``portafn-dead-letter-reason`` and ``portafn-function`` attributes; any
  other event goes as its structured CloudEvent JSON. If that publish fails the target raises
  (``500``): the message is redelivered, never lost.
- Delivery is at least once: a handler may see a message again; make it idempotent.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from portafn.app import Function
from portafn.events import Event, Message
from portafn.log import get_logger
from portafn.runtime import Invocation, Runtime

if TYPE_CHECKING:
    from portafn.reliability.outcomes import Outcome

ACK_STATUSES = frozenset({102, 200, 201, 202, 204})
"""HTTP statuses Pub/Sub push counts as an acknowledgement; anything else is redelivered."""

_log = get_logger("portafn.gcp")


def is_ack(status: int) -> bool:
    """Whether Pub/Sub push counts an answer with this status as an acknowledgement."""
    return status in ACK_STATUSES


def deliver(
    runtime: Runtime,
    fn: Function,
    event: Event[Any],
    invocation: Invocation | None = None,
    *,
    native: Event[Any] | None = None,
) -> Any:
    """Run one event and settle its outcome: return to acknowledge, raise to have it redelivered.

    ``native`` is the event as Google sent it (before translation); a dead letter that is not a
    Pub/Sub message is forwarded in that form.
    """
    try:
        result = runtime.handle_event(fn, event, invocation)
    except Exception as exc:
        # Imported on failure only: an app whose events succeed never loads portafn.reliability.
        from portafn.reliability.outcomes import Outcome, outcome_of

        outcome = outcome_of(exc)
        if outcome is Outcome.SUCCESS:
            _last.value = (Outcome.SUCCESS, type(exc).__name__)
            return None
        if outcome is Outcome.DEAD_LETTER:
            _dead_letter(runtime, fn, event, exc, native)
            return None
        _last.value = (Outcome.RETRY, type(exc).__name__)
        # The runtime logged the handler's traceback; this line says what happens next.
        _log.warning(
            "event not acknowledged; the platform will redeliver it",
            extra={"function": fn.name, "event_id": event.id, "error": type(exc).__name__},
        )
        raise
    _last.value = ("success", None)
    return result


def _dead_letter(
    runtime: Runtime, fn: Function, event: Event[Any], exc: Exception, native: Event[Any] | None
) -> None:
    """Forward a ``DeadLetter``ed event, so it can be acknowledged; raise if that fails, so the
    platform redelivers it instead (never lost)."""
    from portafn.reliability.outcomes import Outcome, reason_of

    reason = reason_of(exc) or type(exc).__name__
    try:
        topic = forward_dead_letter(runtime, fn, event, reason, native=native)
    except Exception as failed:
        _last.value = (Outcome.RETRY, type(failed).__name__)
        _log.error(
            "dead letter not forwarded; the platform will redeliver it",
            extra={"function": fn.name, "event_id": event.id, "error": type(failed).__name__},
        )
        raise failed from None
    _last.value = (Outcome.DEAD_LETTER, type(exc).__name__)
    _log.warning(
        "event dead-lettered and acknowledged",
        extra={"function": fn.name, "event_id": event.id, "topic": topic, "reason": reason},
    )


def forward_dead_letter(
    runtime: Runtime, fn: Function, event: Event[Any], reason: str, *, native: Event[Any] | None = None
) -> str:
    """Publish ``event`` to ``fn``'s dead-letter topic through the runtime's publisher; returns the
    topic. Raises whatever the publisher raised."""
    from portafn.cloudevents import to_dict
    from portafn.reliability.publish import Outgoing
    from portafn_gcp.publish import FUNCTION_ATTRIBUTE, REASON_ATTRIBUTE, dead_letter_topic

    topic = dead_letter_topic(fn)
    extra = {REASON_ATTRIBUTE: reason[:1024], FUNCTION_ATTRIBUTE: fn.name}
    if isinstance(event, Message):
        envelope: Event[Any] = Event[Any](
            id=event.id,
            source=event.source,
            type=event.type,
            subject=event.subject,
            time=event.time,
            datacontenttype=event.datacontenttype,
            dataschema=event.dataschema,
            extensions=dict(event.extensions),
        )
        outgoing = Outgoing(topic, envelope, event.body, {**event.attributes, **extra})
    else:
        original = native if native is not None else event
        body = json.dumps(to_dict(original), separators=(",", ":"), default=str).encode()
        envelope = Event[Any](
            id=original.id,
            source=original.source,
            type=original.type,
            subject=original.subject,
            time=original.time,
            datacontenttype="application/cloudevents+json",
        )
        outgoing = Outgoing(topic, envelope, body, extra)
    runtime.publisher.publish(outgoing)
    return topic


class _Last(threading.local):
    value: tuple[Outcome | str, str | None] | None = None


_last = _Last()


def last_outcome() -> tuple[str, str | None] | None:
    """The outcome (and error type name) of the last event this thread delivered, then forgotten.

    The test driver reads it to tell a dead letter (acknowledged with 200) from a success.
    """
    value, _last.value = _last.value, None
    return (str(value[0]), value[1]) if value is not None else None
