"""The per-invocation context handed to handlers that ask for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from portafn.log import ContextLogger, get_logger

DEFAULT_TIMEOUT_S = 300.0


class Context:
    """What a handler may know about its invocation, the same on every provider.

    ``remaining_time()`` is seconds left before the platform stops the invocation;
    ``cold_start`` is True on a container's first invocation.
    """

    __slots__ = (
        "_remaining",
        "cold_start",
        "correlation_id",
        "function_name",
        "logger",
        "provider",
        "raw",
        "request_id",
    )

    def __init__(
        self,
        *,
        request_id: str,
        correlation_id: str,
        provider: str,
        function_name: str,
        cold_start: bool = False,
        remaining_time: Callable[[], float] | None = None,
        raw: Any = None,
    ) -> None:
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.provider = provider
        self.function_name = function_name
        self.cold_start = cold_start
        self.raw = raw
        self._remaining: Callable[[], float] = remaining_time or _local_deadline(DEFAULT_TIMEOUT_S)
        self.logger = ContextLogger(
            get_logger("portafn.app"),
            {
                "request_id": request_id,
                "correlation_id": correlation_id,
                "provider": provider,
                "function": function_name,
                "cold_start": cold_start,
            },
        )

    def remaining_time(self) -> float:
        """Seconds left before the platform ends this invocation."""
        return self._remaining()

    def __repr__(self) -> str:
        return f"Context({self.provider}:{self.function_name} request_id={self.request_id})"


def _local_deadline(seconds: float) -> Callable[[], float]:
    """Where no platform sets a deadline, count down from a default timeout."""
    deadline = time.monotonic() + seconds

    def remaining() -> float:
        return max(0.0, deadline - time.monotonic())

    return remaining
