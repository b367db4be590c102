"""The per-invocation context handed to handlers that ask for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from portafn.log import ContextLogger, get_logger

if TYPE_CHECKING:
    from portafn.auth import Principal
    from portafn.runtime import Runtime
    from portafn.store.transaction import Transaction

DEFAULT_TIMEOUT_S = 300.0


class Context:
    """What a handler may know about its invocation, the same on every provider.

    ``remaining_time()`` is seconds left before the platform stops the invocation;
    ``cold_start`` is True on a container's first invocation. ``correlation_id`` follows a whole
    conversation across functions; ``causation_id`` is the id of the message (or HTTP request)
    that started this invocation, which every message it publishes carries as its cause.
    """

    __slots__ = (
        "_deadline",
        "_logger",
        "_remaining",
        "causation_id",
        "cold_start",
        "correlation_id",
        "function_name",
        "principal",
        "provider",
        "raw",
        "request_id",
        "runtime",
        "traceparent",
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
        causation_id: str | None = None,
        traceparent: str | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.causation_id = causation_id or request_id
        self.traceparent = traceparent
        self.runtime = runtime
        self.provider = provider
        self.function_name = function_name
        self.cold_start = cold_start
        self.raw = raw
        self.principal: Principal | None = None
        """Who called, where the route declares auth (``portafn.auth``); else None."""
        self._remaining = remaining_time
        # Where no platform sets a deadline, count down from a default timeout from now.
        self._deadline = time.monotonic() + DEFAULT_TIMEOUT_S if remaining_time is None else 0.0
        # Made when first asked for: many handlers never log.
        self._logger: ContextLogger | None = None

    @property
    def logger(self) -> ContextLogger:
        """A logger whose every line carries this invocation's ids, provider, function and cold start."""
        if self._logger is None:
            self._logger = ContextLogger(
                get_logger("portafn.app"),
                {
                    "request_id": self.request_id,
                    "correlation_id": self.correlation_id,
                    "provider": self.provider,
                    "function": self.function_name,
                    "cold_start": self.cold_start,
                },
            )
        return self._logger

    def remaining_time(self) -> float:
        """Seconds left before the platform ends this invocation."""
        if self._remaining is None:
            return max(0.0, self._deadline - time.monotonic())
        return self._remaining()

    def publish(
        self,
        topic: str,
        data: Any,
        *,
        attributes: Mapping[str, str] | None = None,
        key: str | None = None,
        type: str | None = None,
        subject: str | None = None,
        tx: Transaction | None = None,
    ) -> str:
        """Publish ``data`` on ``topic`` as a CloudEvent; returns its id.

        The event carries this invocation's correlation id, its causation id and trace context
        as CloudEvents extensions. ``key`` orders messages that share it (where the broker can);
        ``attributes`` travel as message attributes. With ``tx`` (an open ``transaction()``),
        the message is written to the app's outbox in that transaction and relayed after it
        commits, so it is sent if and only if the writes happen (see ``portafn.reliability``).
        """
        from portafn.reliability.publish import publish_from

        return publish_from(
            self, topic, data, attributes=attributes, key=key, type=type, subject=subject, tx=tx
        )

    def __repr__(self) -> str:
        return f"Context({self.provider}:{self.function_name} request_id={self.request_id})"
