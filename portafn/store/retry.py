"""Bounded retries with exponential backoff and full jitter for transient store errors.

Jitter matters because the callers that were throttled together would otherwise retry together
(the AWS architecture blog's "Exponential Backoff And Jitter" measured full jitter best).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from portafn.store.deadline import MIN_REQUEST_S, configured_timeout, within
from portafn.store.errors import StoreError, Throttled

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts, and the backoff between them (seconds)."""

    attempts: int = 6
    base: float = 0.05
    cap: float = 2.0

    def delay(self, attempt: int, error: BaseException | None = None) -> float:
        """The pause before retry number ``attempt`` (1-based): full jitter, or the store's hint."""
        if isinstance(error, Throttled) and error.retry_after is not None:
            # The store's own hint wins, bounded so a bad hint cannot stall a function.
            return min(max(error.retry_after, 0.0), self.cap * 4)
        return random.uniform(0, min(self.cap, self.base * (2 ** (attempt - 1))))


DEFAULT = RetryPolicy()
_sleep: Callable[[float], None] = time.sleep


def retry_transient(call: Callable[[], T], policy: RetryPolicy = DEFAULT) -> T:
    """Run ``call``; retry it while it raises a transient ``StoreError``, at most ``policy.attempts``
    times and never past the call's deadline (``portafn.store.deadline``), which also bounds each
    SDK request the store makes inside ``call``.

    The last error is raised as is when the attempts or the time run out.
    """
    with within(configured_timeout()) as until:
        attempt = 1
        while True:
            try:
                return call()
            except StoreError as exc:
                if not exc.transient or attempt >= policy.attempts:
                    raise
                pause = policy.delay(attempt, exc)
                if time.monotonic() + pause + MIN_REQUEST_S > until:
                    raise  # no time for another attempt: the caller answers before its platform stops it
                _sleep(pause)
                attempt += 1


def sleep(seconds: float) -> None:
    """Pause (through the one patchable sleep the retry loops share)."""
    _sleep(seconds)


def backoff(attempt: int, policy: RetryPolicy = DEFAULT) -> None:
    """Sleep the jittered backoff for retry ``attempt`` (for loops that retry something else)."""
    _sleep(policy.delay(attempt))
