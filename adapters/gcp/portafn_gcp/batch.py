"""Failure semantics on Cloud Functions: what a raise means for each way an event arrives.

Cloud Functions delivers one event per HTTP request, so there is no partial-batch answer as on
Lambda; the HTTP status of the answer *is* the outcome:

- The function returns: functions-framework answers ``200 OK``. Pub/Sub (push, or through
  Eventarc) counts 102, 200, 201, 202 and 204 as an acknowledgement, so the message is done.
- The function raises (handler error, ``EventDataError`` for data that does not validate, or
  ``EventFormatError`` for a malformed event): the target re-raises, functions-framework answers
  ``500`` with ``X-Google-Status: crash``. Pub/Sub treats any other status as a negative
  acknowledgement and redelivers with backoff until the subscription's dead-letter policy moves
  the message aside; ``Message.delivery_attempt`` counts the tries when that policy is set.
  Eventarc triggers redeliver only when the function is deployed with *retry on failure*
  (``--retry``); without it a failed event is dropped after one attempt, so packaging turns retry
  on for queue, topic, storage and change functions. Nothing is acknowledged that did not succeed.
- Delivery is at least once: a handler may see a message again; make it idempotent.
"""

from __future__ import annotations

from typing import Any

from portafn.app import Function
from portafn.events import Event
from portafn.log import get_logger
from portafn.runtime import Invocation, Runtime

ACK_STATUSES = frozenset({102, 200, 201, 202, 204})
"""HTTP statuses Pub/Sub push counts as an acknowledgement; anything else is redelivered."""

_log = get_logger("portafn.gcp")


def is_ack(status: int) -> bool:
    """Whether Pub/Sub push counts an answer with this status as an acknowledgement."""
    return status in ACK_STATUSES


def deliver(runtime: Runtime, fn: Function, event: Event[Any], invocation: Invocation | None = None) -> Any:
    """Run one event; a raise propagates so the platform answers 500 and redelivers."""
    try:
        return runtime.handle_event(fn, event, invocation)
    except Exception as exc:
        # The runtime logged the handler's traceback; this line says what happens next.
        _log.warning(
            "event not acknowledged; the platform will redeliver it",
            extra={"function": fn.name, "event_id": event.id, "error": type(exc).__name__},
        )
        raise
