"""Drivers: how the contract client reaches an app through one provider's real entry point.

A driver turns a neutral request or event into the provider's native shape, passes it through
that adapter's entry point exactly as the platform would, and translates the native answer back,
so a contract test exercises the adapter's translation rather than bypassing it.

Each provider plugin names its driver (``portafn.plugins.Provider.driver``); ``local`` is built in
and calls the runtime directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from portafn.app import App, Function
from portafn.events import Event
from portafn.http import HttpRequest, HttpResponse
from portafn.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one delivered event: ``ok``, or the error type the provider would see.

    ``retry`` is True when the provider would deliver the event again (a failed queue message,
    a Pub/Sub push answered with an error status); ``dead_letter`` is True when it would move the
    message to its dead-letter destination now (the handler raised ``DeadLetter``). See
    ``portafn.reliability.outcomes``.
    """

    ok: bool
    error: str | None = None
    retry: bool = False
    result: Any = None
    dead_letter: bool = False


def no_native_attached(provider: str) -> Delivery:
    """The delivery of an outbox record attached to a partition on a provider whose change sources
    (DynamoDB Streams, Firestore document events) carry only items: it cannot arrive that way, and
    the outbox's sweep relays it there. Failed, not retried, saying so."""
    return Delivery(
        ok=False,
        error=f"Unsupported: {provider}'s change source carries table items, not outbox records attached "
        "to a partition (a single-partition-transaction store's outbox); the outbox sweep relays them",
    )


class Driver(Protocol):
    """One provider's way in."""

    provider: str

    def http(self, request: HttpRequest) -> HttpResponse:
        """Send a request through the provider's HTTP path."""
        ...

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """Deliver one event to one function through the provider's event path."""
        ...


class LocalDriver:
    """The neutral model with no provider in between."""

    provider = "local"

    def __init__(self, app: App) -> None:
        self.runtime = Runtime(app, "local")

    def http(self, request: HttpRequest) -> HttpResponse:
        """Run the request on the runtime."""
        return self.runtime.handle_http(request)

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """Run the event on the runtime; a raise is a failed delivery, retried unless the handler
        chose dead letter (``DeadLetter``) or declared success."""
        try:
            return Delivery(ok=True, result=self.runtime.handle_event(function, event))
        except Exception as exc:
            return delivery_for(exc)


def delivery_for(error: Exception) -> Delivery:
    """The ``Delivery`` of an event whose handler raised ``error``, by its outcome."""
    from portafn.reliability.outcomes import Outcome, outcome_of

    outcome = outcome_of(error)
    return Delivery(
        ok=outcome is Outcome.SUCCESS,
        error=type(error).__name__,
        retry=outcome is Outcome.RETRY,
        dead_letter=outcome is Outcome.DEAD_LETTER,
    )


def available_providers() -> list[str]:
    """Providers with a driver installed, ``local`` first."""
    from portafn.plugins import runtimes

    return runtimes()


def make_driver(provider: str, app: App) -> Driver:
    """The driver for ``provider`` around ``app``."""
    from portafn.plugins import PluginError, load
    from portafn.plugins import provider as find

    try:
        found = find(provider)
    except PluginError as exc:
        raise PluginError(f"no portafn driver for provider {provider!r}: {exc}") from None
    if found.driver is None:
        raise PluginError(f"no portafn driver for provider {provider!r}: it provides stores only")
    driver: Driver = load(found.driver)(app)
    return driver
