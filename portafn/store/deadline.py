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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

TIMEOUT_ENV = "PORTAFN_STORE_TIMEOUT"
DEFAULT_TIMEOUT_S = 10.0
MARGIN_S = 1.0  # left to the handler after a store gives up, to answer before the platform stops it
MIN_REQUEST_S = 0.5  # the least an SDK request is given, so a nearly spent budget still tries once

_until: ContextVar[float | None] = ContextVar("portafn_store_deadline", default=None)


def configured_timeout() -> float:
    """The configured timeout of one table call, from ``PORTAFN_STORE_TIMEOUT``."""
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 and value == value else DEFAULT_TIMEOUT_S


@contextmanager
def within(seconds: float, *, margin: float = 0.0) -> Iterator[float]:
    """Bound every store call in the block to end ``seconds - margin`` from now (or earlier, if
    an enclosing block ends sooner). For an invocation: ``within(ctx.remaining_time(),
    margin=MARGIN_S)``. Yields the absolute ``time.monotonic()`` deadline."""
    until = time.monotonic() + max(0.0, seconds - margin)
    outer = _until.get()
    if outer is not None:
        until = min(until, outer)
    token = _until.set(until)
    try:
        yield until
    finally:
        _until.reset(token)


class invocation:  # lower case: used like ``within``
    """``within(seconds, margin=MARGIN_S)`` for one invocation, as a plain class: the runtime
    enters it around every handler, so it costs less than a generator-based context manager."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def __enter__(self) -> float:
        until = time.monotonic() + max(0.0, self._seconds - MARGIN_S)
        outer = _until.get()
        if outer is not None and outer < until:
            until = outer
        self._token = _until.set(until)
        return until

    def __exit__(self, *exc: object) -> None:
        _until.reset(self._token)


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
