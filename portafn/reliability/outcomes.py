"""Per-message outcomes: success, retry, or drop to dead letter.

A queue or topic handler says what became of one message by how it ends:

- it returns: **success**, the message is acknowledged;
- it raises ``Retry`` (or any other exception): **retry**, the provider delivers it again later,
  and after the provider's own limit moves it to the dead-letter destination;
- it raises ``DeadLetter(reason)``: **dead letter** now, without spending the retry budget on a
  message that can never succeed.

Adapters call ``outcome_of`` on what the handler raised and map the answer to their provider
(see docs/reliability.md for the table); the local driver and the local bus honour it in process.
"""

from __future__ import annotations

from enum import StrEnum

from portafn.errors import PortafnError


class Outcome(StrEnum):
    """What becomes of one delivered message."""

    SUCCESS = "success"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


class Retry(PortafnError):
    """Raise to have the message delivered again later.

    ``delay`` (seconds) is a hint: providers that can set a per-message delay use it (SQS changes
    the message's visibility timeout); the others apply their subscription's retry policy.
    """

    outcome = Outcome.RETRY

    def __init__(self, reason: str | None = None, *, delay: float | None = None) -> None:
        self.reason = reason
        self.delay = delay
        super().__init__(reason or "retry requested")


class DeadLetter(PortafnError):
    """Raise to move the message to its dead-letter destination now, with ``reason``.

    The reason is logged and attached to the dead-lettered message; it must not hold secrets.
    """

    outcome = Outcome.DEAD_LETTER

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def outcome_of(error: BaseException | None) -> Outcome:
    """The outcome of a delivery that ended with ``error`` (None: it returned).

    An exception class may declare its outcome with an ``outcome`` class attribute (``Retry`` and
    ``DeadLetter`` do, and so do the idempotency errors); any other exception means retry, so that
    an unexpected failure loses nothing and the provider's redrive limit still applies.
    """
    if error is None:
        return Outcome.SUCCESS
    declared = getattr(type(error), "outcome", None)
    if isinstance(declared, Outcome):
        return declared
    return Outcome.RETRY


def retry_delay(error: BaseException | None) -> float | None:
    """The delay hint of a ``Retry``, if the handler gave one."""
    return error.delay if isinstance(error, Retry) else None


def reason_of(error: BaseException | None) -> str | None:
    """A short, loggable reason: the ``DeadLetter``/``Retry`` reason, else the error's type name."""
    if error is None:
        return None
    if isinstance(error, DeadLetter | Retry) and error.reason:
        return error.reason
    return type(error).__name__
