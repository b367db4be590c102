"""How long a store call may take: the smaller of a configured timeout and the time the
invocation has left, less a margin.

A platform stops an invocation at its own deadline (API Gateway and Lambda at about 29-30 s); a
store call that outlives it is lost work and an unanswered client. So every table call, with all
its retries, is bounded: ``retry_transient`` stops at the deadline with ``StoreUnavailable``, and a
store gives each SDK request at most ``remaining()`` seconds (the SDK's own retries are off or
counted in, so exactly one layer retries).

``PORTAFN_STORE_TIMEOUT`` (seconds, default 10) is the configured timeout of one table call. The
runtime (or a test) narrows it for an invocation with ``within(seconds)``.
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar

TIMEOUT_ENV = "PORTAFN_STORE_TIMEOUT"
DEFAULT_TIMEOUT_S = 10.0
MARGIN_S = 1.0  # left to the handler after a store gives up, to answer before the platform stops it
MIN_REQUEST_S = 0.5  # the least an SDK request is given, so a nearly spent budget still tries once

_until: ContextVar[float | None] = ContextVar("portafn_store_deadline", default=None)


def configured_timeout() -> float:
    """The configured timeout of one table call, from ``PORTAFN_STORE_TIMEOUT``."""
    global _parsed
    raw = os.environ.get(TIMEOUT_ENV)
    cached = _parsed
    if cached[0] == raw:  # every table call asks; the setting rarely changes
        return cached[1]
    value = _parse_timeout(raw)
    _parsed = (raw, value)
    return value


def _parse_timeout(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 and value == value else DEFAULT_TIMEOUT_S


# The last ``PORTAFN_STORE_TIMEOUT`` text read and its value.
_parsed: tuple[str | None, float] = (None, DEFAULT_TIMEOUT_S)


class within:  # lower case: a context manager used like a function
    """Bound every store call in the block to end ``seconds - margin`` from now (or earlier, if
    an enclosing block ends sooner). For an invocation: ``within(ctx.remaining_time(),
    margin=MARGIN_S)``. Entering returns the absolute ``time.monotonic()`` deadline.

    A plain class rather than a generator: every table call enters one.
    """

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float, *, margin: float = 0.0) -> None:
        self._seconds = seconds - margin

    def __enter__(self) -> float:
        until = time.monotonic() + max(0.0, self._seconds)
        outer = _until.get()
        if outer is not None and outer < until:
            until = outer
        self._token = _until.set(until)
        return until

    def __exit__(self, *exc: object) -> None:
        _until.reset(self._token)


class invocation(within):
    """``within(seconds, margin=MARGIN_S)`` for one invocation: the runtime enters it around every
    handler."""

    __slots__ = ()

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds - MARGIN_S


def enclosing_deadline() -> float | None:
    """The ``time.monotonic()`` deadline of the enclosing ``within`` (or invocation), if any."""
    return _until.get()


def call_deadline() -> float:
    """The ``time.monotonic()`` by which a table call starting now must end."""
    until = time.monotonic() + configured_timeout()
    outer = _until.get()
    return until if outer is None else min(until, outer)


def remaining(deadline: float | None = None) -> float:
    """Seconds one SDK request may take now: what is left of ``deadline`` (by default the
    current call's), never less than ``MIN_REQUEST_S``."""
    until = call_deadline() if deadline is None else deadline
    return max(MIN_REQUEST_S, until - time.monotonic())
