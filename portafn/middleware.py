"""Middleware and exception handlers: code that wraps every invocation of an app's functions.

``App.middleware`` registers HTTP middleware, ``App.event_middleware`` event middleware and
``App.exception_handler`` maps an exception type to a response. ``Hooks`` keeps them and composes
each chain once, when one is registered, so an app that registers none pays nothing per call:
``Hooks.http`` and ``Hooks.event`` stay ``None`` and the runtime calls the function directly.

Order is registration order, outermost first: the middleware registered first sees the request
first and the response last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from portafn.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from portafn.context import Context
    from portafn.cors import CorsLayer
    from portafn.events import Event

CallNext = Callable[[HttpRequest], HttpResponse]
"""What HTTP middleware calls to run the rest of the chain (inner middleware, then the function)."""

HttpMiddleware = Callable[[HttpRequest, "Context", CallNext], HttpResponse]
"""``(request, ctx, call_next) -> HttpResponse``."""

EventCallNext = Callable[["Event[Any]"], Any]
"""What event middleware calls to run the rest of the chain; returns what the handler returned."""

EventMiddleware = Callable[["Event[Any]", "Context", EventCallNext], Any]
"""``(event, ctx, call_next) -> result``; a raise reaches the adapter like a handler's raise."""

ExceptionHandler = Callable[[HttpRequest, Any, "Context"], HttpResponse]
"""``(request, exc, ctx) -> HttpResponse`` for one exception type (and its subclasses)."""

HttpChain = Callable[[HttpRequest, "Context", CallNext], HttpResponse]
EventChain = Callable[["Event[Any]", "Context", EventCallNext], Any]


class Hooks:
    """An app's middleware and exception handlers, with their chains composed once."""

    __slots__ = ("_event_mw", "_http_mw", "cors", "event", "handlers", "http")

    def __init__(self) -> None:
        self._http_mw: list[HttpMiddleware] = []
        self._event_mw: list[EventMiddleware] = []
        self.handlers: dict[type[BaseException], ExceptionHandler] = {}
        self.http: HttpChain | None = None
        """The composed HTTP chain, or None when no HTTP middleware is registered."""
        self.event: EventChain | None = None
        """The composed event chain, or None when no event middleware is registered."""
        self.cors: CorsLayer | None = None
        """The CORS layer, or None when the app declares CORS nowhere (set by the App)."""

    def add_http(self, middleware: HttpMiddleware) -> None:
        """Add HTTP middleware inside those already registered."""
        self._http_mw.append(middleware)
        self.http = _compose_http(tuple(self._http_mw))

    def add_event(self, middleware: EventMiddleware) -> None:
        """Add event middleware inside those already registered."""
        self._event_mw.append(middleware)
        self.event = _compose_event(tuple(self._event_mw))

    def add_handler(self, exc_type: type[BaseException], handler: ExceptionHandler) -> None:
        """Answer ``exc_type`` (and subclasses without a handler of their own) with ``handler``."""
        self.handlers[exc_type] = handler

    def handler_for(self, exc: BaseException) -> ExceptionHandler | None:
        """The handler of the most specific registered class of ``exc``, if any."""
        if not self.handlers:
            return None
        for cls in type(exc).__mro__:
            found = self.handlers.get(cls)
            if found is not None:
                return found
        return None


def _compose_http(chain: tuple[HttpMiddleware, ...]) -> HttpChain:
    def run(request: HttpRequest, ctx: Context, inner: CallNext) -> HttpResponse:
        def step(index: int) -> CallNext:
            if index == len(chain):
                return inner
            middleware = chain[index]

            def call(req: HttpRequest) -> HttpResponse:
                return _as_response(middleware(req, ctx, step(index + 1)), middleware)

            return call

        return step(0)(request)

    return run


def _compose_event(chain: tuple[EventMiddleware, ...]) -> EventChain:
    def run(event: Event[Any], ctx: Context, inner: EventCallNext) -> Any:
        def step(index: int) -> EventCallNext:
            if index == len(chain):
                return inner
            middleware = chain[index]
            return lambda ev: middleware(ev, ctx, step(index + 1))

        return step(0)(event)

    return run


def _as_response(value: object, middleware: object) -> HttpResponse:
    if isinstance(value, HttpResponse):
        return value
    name = getattr(middleware, "__name__", repr(middleware))
    raise TypeError(f"middleware {name} returned {type(value).__name__}, not an HttpResponse")
