"""Running registered functions: start-up hooks, context, binding, and errors turned into answers.

Every adapter translates its provider's event to the neutral model and calls a ``Runtime``; the
local server, the CLI and the tests call the same one, so behaviour cannot differ by provider.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from portafn.app import App, Function
from portafn.binding import BindError, EventBinder, HttpBinder
from portafn.context import Context
from portafn.errors import HttpError
from portafn.events import Event
from portafn.http import HttpRequest, HttpResponse, unsafe_header
from portafn.lazy import Lazy
from portafn.log import get_logger
from portafn.problems import problem
from portafn.routing import PathDecodeError
from portafn.store.deadline import invocation as invocation_deadline
from portafn.store.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidCursor,
    InvalidValue,
    NotFound,
    StoreError,
    StoreUnavailable,
    Throttled,
    TooLarge,
    TransactionConflict,
)

if TYPE_CHECKING:
    from portafn.middleware import HttpChain
    from portafn.reliability.publish import Publisher
    from portafn.store.port import Store

_log = get_logger("portafn.runtime")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CORRELATION_HEADER = "X-Correlation-Id"
PREPARE_ENV = "PORTAFN_PREPARE"


def on_platform(*variables: str) -> bool:
    """Whether to prepare at init: one of the platform's own environment ``variables`` is set
    (so this process is the platform's worker, not a test) and ``PORTAFN_PREPARE`` is not ``0``."""
    return any(os.environ.get(v) for v in variables) and os.environ.get(PREPARE_ENV, "1") != "0"


@dataclass(slots=True)
class Invocation:
    """What the platform tells about one invocation, as far as it tells it."""

    request_id: str | None = None
    remaining_time: Callable[[], float] | None = None
    raw: Any = None


class Runtime:
    """Runs an app's functions for one provider (``"aws"``, ``"azure"``, ``"gcp"`` or ``"local"``).

    ``publisher`` is where ``ctx.publish`` sends messages; by default it is resolved on first
    publish (the local bus for ``"local"``, else the provider plugin's publisher).
    """

    def __init__(self, app: App, provider: str = "local", *, publisher: Publisher | None = None) -> None:
        self.app = app
        self.provider = provider
        self._started = Lazy(self._run_start_hooks)
        self._cold = True
        self._lock = threading.Lock()
        self._publisher: Lazy[Publisher] = Lazy(self._resolve_publisher)
        if publisher is not None:
            self.publisher = publisher

    def _resolve_publisher(self) -> Publisher:
        from portafn.reliability.publish import resolve_publisher

        return resolve_publisher(self)

    @property
    def publisher(self) -> Publisher:
        """The publisher ``ctx.publish`` uses, made on first use."""
        return self._publisher.get()

    @publisher.setter
    def publisher(self, value: Publisher) -> None:
        self._publisher = Lazy(lambda: value)

    def start(self) -> None:
        """Run the app's start-up hooks once; later calls return at once."""
        self._started.get()

    def _run_start_hooks(self) -> bool:
        # Settings are read here, once per cold start, so a missing one fails before any request.
        for settings in self.app.settings_declared:
            settings.bind(self.provider)
        for hook in self.app.start_hooks:
            result = hook()
            if result is not None:
                _run_if_coroutine(result)
        return True

    def prepare(self) -> Store | None:
        """Do before the first invocation what it would otherwise do first: run the start-up
        hooks and open the store the tables use (finding its plugin and importing its module).

        Adapters call this while the platform initialises the function, so the first request
        costs what a later one does. A failure is logged and left for the first invocation to
        meet and answer as usual; returns the store, or None after a failure.
        """
        try:
            self.start()
            from portafn.store.registry import current_store

            return current_store() if self.app.tables else None
        except Exception:
            _log.warning("preparing failed; the first invocation will try again", exc_info=True)
            return None

    def _take_cold(self) -> bool:
        if not self._cold:  # warm: no lock needed to read a flag that only ever goes to False
            return False
        with self._lock:
            cold, self._cold = self._cold, False
        return cold

    def context(
        self,
        fn_name: str,
        correlation_id: str,
        invocation: Invocation | None,
        *,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> Context:
        """The context for one invocation (``causation_id`` defaults to the request id)."""
        inv = invocation or Invocation()
        return Context(
            request_id=inv.request_id or str(uuid.uuid4()),
            correlation_id=correlation_id,
            provider=self.provider,
            function_name=fn_name,
            cold_start=self._take_cold(),
            remaining_time=inv.remaining_time,
            raw=inv.raw,
            causation_id=causation_id,
            traceparent=traceparent,
            runtime=self,
        )

    # -- HTTP ---------------------------------------------------------------------------------

    def handle_http(self, request: HttpRequest, invocation: Invocation | None = None) -> HttpResponse:
        """Route and run an HTTP request. Never raises: failures become problem+json responses."""
        correlation = _http_correlation(request, invocation)
        cors = self.app.hooks.cors
        try:
            if cors is None:
                response = self._http(request, invocation, correlation)
            else:
                response = cors.around(request, lambda: self._http(request, invocation, correlation))
        except Exception:
            _log.exception("unhandled error before the handler ran", extra={"correlation_id": correlation})
            response = problem(500, "An internal error occurred.", correlation_id=correlation)
        bad = unsafe_header(response.headers, response.cookies)
        if bad is not None:
            _log.error(
                "response refused: header %s holds CR, LF or NUL (or is not a valid name)",
                bad,
                extra={"correlation_id": correlation, "header": bad},
            )
            response = problem(
                500,
                f"The response header {bad!r} holds characters a header cannot carry.",
                header=bad,
                correlation_id=correlation,
            )
        response.headers.set(CORRELATION_HEADER, correlation)
        return response

    def _http(self, request: HttpRequest, invocation: Invocation | None, correlation: str) -> HttpResponse:
        self.start()
        routed = self._route(request)
        chain = self.app.hooks.http
        if chain is not None:
            return self._http_hooked(chain, request, routed, invocation, correlation)
        if isinstance(routed, HttpResponse):
            return routed
        ctx = self.context(
            routed.name, correlation, invocation, traceparent=request.headers.get("traceparent")
        )
        return self._timed_http(routed, request, ctx, correlation)

    def _route(self, request: HttpRequest) -> Function | HttpResponse:
        """The function for a request (its path parameters set), or portafn's own answer."""
        try:
            found = self.app.router.match(request.method, request.path)
        except PathDecodeError as exc:
            return problem(
                400,
                f"Path parameter {exc.param!r} is not valid percent-encoded UTF-8.",
                errors=[
                    {"loc": ["path", exc.param], "msg": "Invalid percent-encoding", "type": "path_encoding"}
                ],
            )
        if found.target is None:
            if found.allowed:
                resp = problem(405, f"{request.method} is not allowed here.", allowed=found.allowed)
                resp.headers.set("Allow", ", ".join(found.allowed))
                return resp
            return problem(404, f"No route matches {request.method} {_safe_path(request.path)}.")
        if len(request.body) > self.app.max_body_bytes:
            return problem(413, f"The body is over the limit of {self.app.max_body_bytes} bytes.")
        request.path_params = found.params
        return found.target

    def _http_hooked(
        self,
        chain: HttpChain,
        request: HttpRequest,
        routed: Function | HttpResponse,
        invocation: Invocation | None,
        correlation: str,
    ) -> HttpResponse:
        # Unrouted requests get a context too, named after the app: middleware sees every answer.
        fn = routed if isinstance(routed, Function) else None
        name = fn.name if fn is not None else self.app.name
        ctx = self.context(name, correlation, invocation, traceparent=request.headers.get("traceparent"))

        def innermost(req: HttpRequest) -> HttpResponse:
            if fn is None:
                assert isinstance(routed, HttpResponse)
                return routed
            return self._timed_http(fn, req, ctx, correlation)

        try:
            return chain(request, ctx, innermost)
        except Exception as exc:
            return self._answer_error(request, exc, ctx, correlation)

    def _timed_http(self, fn: Function, request: HttpRequest, ctx: Context, correlation: str) -> HttpResponse:
        if not self.app.metric_sinks:
            return self._run_http(fn, request, ctx, correlation)
        started = time.perf_counter()
        response = self._run_http(fn, request, ctx, correlation)
        self._record(fn, ctx, started, error=response.status >= 500)
        return response

    def _run_http(self, fn: Function, request: HttpRequest, ctx: Context, correlation: str) -> HttpResponse:
        binder = fn.binder
        assert isinstance(binder, HttpBinder)
        if (guard := fn.options.get("auth")) is not None:
            # Imported here: only an app that declares auth loads portafn.auth.
            from portafn.auth.base import AuthError

            try:
                ctx.principal = guard(request)
            except AuthError as exc:
                return exc.response()
        try:
            kwargs = binder.bind(request, ctx)
        except BindError as exc:
            extra = {"errors": exc.errors} if exc.errors else {}
            return problem(exc.status, exc.detail, **extra)
        except Exception as exc:  # a dependency refused (HttpError) or failed
            return self._answer_error(request, exc, ctx, correlation)
        try:
            result = _call(fn, kwargs, ctx)
        except Exception as exc:
            return self._answer_error(request, exc, ctx, correlation)
        return to_response(result)

    def _answer_error(
        self, request: HttpRequest, exc: Exception, ctx: Context, correlation: str
    ) -> HttpResponse:
        """The answer to an exception: the app's handler for its type, else portafn's mapping."""
        handler = self.app.hooks.handler_for(exc)
        if handler is not None:
            try:
                return to_response(handler(request, exc, ctx))
            except Exception:
                ctx.logger.exception("exception handler raised")
                return problem(500, "An internal error occurred.", correlation_id=correlation)
        return _error_response(exc, ctx, correlation)

    # -- events -------------------------------------------------------------------------------

    def handle_event(
        self, function: str | Function, event: Event[Any], invocation: Invocation | None = None
    ) -> Any:
        """Run one event function on one event and return what it returned.

        Raises whatever the handler raised (and ``EventDataError`` when the data does not
        validate): adapters turn a raise into their provider's retry or failure signal.
        """
        fn = function if isinstance(function, Function) else self.app.function(function)
        self.start()
        correlation = _event_correlation(event, invocation)
        ctx = self.context(
            fn.name, correlation, invocation, causation_id=event.id, traceparent=event.traceparent
        )
        binder = fn.binder
        assert isinstance(binder, EventBinder)
        started = time.perf_counter() if self.app.metric_sinks else 0.0
        chain = self.app.hooks.event
        try:
            if chain is None:
                result = _call(fn, binder.bind(event, ctx), ctx)
            else:
                result = chain(event, ctx, lambda ev: _call(fn, binder.bind(ev, ctx), ctx))
        except Exception as exc:
            if started:
                self._record(fn, ctx, started, error=True)
            extra = {"event_id": event.id, "event_type": event.type}
            if getattr(type(exc), "outcome", None) is not None:
                # Retry / DeadLetter are decisions, not crashes: one line, no traceback.
                ctx.logger.warning("handler asked for %s: %s", exc.outcome, exc, extra=extra)  # type: ignore[attr-defined]
            else:
                ctx.logger.exception("handler raised", extra=extra)
            raise
        if started:
            self._record(fn, ctx, started, error=False)
        return result

    def _record(self, fn: Function, ctx: Context, started: float, *, error: bool) -> None:
        if not self.app.metric_sinks:
            return  # no sink to tell: neither the record nor portafn.metrics is needed
        from portafn.metrics import InvocationRecord

        record = InvocationRecord(
            app=self.app.name,
            function=fn.name,
            kind=fn.kind,
            provider=self.provider,
            duration_ms=(time.perf_counter() - started) * 1000.0,
            error=error,
            cold_start=ctx.cold_start,
        )
        for sink in self.app.metric_sinks:
            try:
                sink.record(record)
            except Exception:
                # Metrics must never fail the invocation they describe.
                _log.warning("metrics sink %s failed", type(sink).__name__, exc_info=True)


def _error_response(exc: Exception, ctx: Context, correlation: str) -> HttpResponse:
    if isinstance(exc, HttpError):
        resp = problem(exc.status, exc.detail)
        for name, value in exc.headers.items():
            resp.headers.set(name, value)
        return resp
    if isinstance(exc, StoreError):
        mapped = _store_status(exc)
        if mapped is not None:
            return _store_response(exc, mapped, ctx, correlation)
    ctx.logger.exception("handler raised")
    return problem(500, "An internal error occurred.", correlation_id=correlation)


def _store_response(exc: StoreError, mapped: int, ctx: Context, correlation: str) -> HttpResponse:
    ctx.logger.warning("store error answered as %s: %s", mapped, type(exc).__name__)
    if isinstance(exc, InvalidCursor):
        return _invalid_cursor(exc, correlation)
    resp = problem(mapped, exc.summary.capitalize() + ".", correlation_id=correlation)
    if isinstance(exc, Throttled) and exc.retry_after is not None:
        resp.headers.set("Retry-After", str(max(1, round(exc.retry_after))))
    return resp


def _call(fn: Function, kwargs: dict[str, Any], ctx: Context) -> Any:
    # Store calls in the handler end before the platform stops it (portafn.store.deadline).
    with invocation_deadline(ctx.remaining_time()):
        result = fn.handler(**kwargs)
        if fn.is_async:
            from portafn import aio  # imports asyncio: only apps with async code pay for it

            return aio.run(result)
        return result


def _run_if_coroutine(result: Any) -> None:
    # On the loop async handlers use, so clients a start hook makes stay usable; the check needs no
    # asyncio import, which is large at cold start for apps with no async code.
    if isinstance(result, CoroutineType):
        from portafn import aio

        aio.run(result)


def _invalid_cursor(exc: InvalidCursor, correlation: str) -> HttpResponse:
    # The detail is the store's fixed wording, never the cursor: a client value is not echoed.
    why = f" ({exc.detail})" if exc.detail else ""
    return problem(
        400,
        f"Invalid cursor{why}: pass back a cursor from an earlier page unchanged, or none to start.",
        correlation_id=correlation,
    )


def _store_status(exc: StoreError) -> int | None:
    """The HTTP status a store error means to a caller, when it means one."""
    for cls, status in _STORE_STATUS:
        if isinstance(exc, cls):
            return status
    return None


_STORE_STATUS: tuple[tuple[type[StoreError], int], ...] = (
    (InvalidCursor, 400),
    (InvalidValue, 400),
    (NotFound, 404),
    (AlreadyExists, 409),
    (ConcurrencyConflict, 412),
    (TransactionConflict, 409),
    (TooLarge, 413),
    (Throttled, 503),
    (StoreUnavailable, 503),
)


def to_response(result: Any) -> HttpResponse:
    """A handler's return value as a response: None is 204, an ``HttpResponse`` passes as is."""
    if isinstance(result, HttpResponse):
        return result
    if result is None:
        return HttpResponse(status=204)
    # Anything else pydantic can serialise (numbers, dataclasses) goes out as JSON.
    return HttpResponse(result)


def _http_correlation(request: HttpRequest, invocation: Invocation | None) -> str:
    given = request.headers.get(CORRELATION_HEADER)
    if given and _SAFE_ID.fullmatch(given):
        return given
    trace = request.headers.get("traceparent")
    if trace and (m := _TRACEPARENT.fullmatch(trace.strip().lower())):
        return m.group(1)
    if invocation and invocation.request_id:
        return invocation.request_id
    return str(uuid.uuid4())


def _event_correlation(event: Event[Any], invocation: Invocation | None) -> str:
    given = event.extensions.get("correlationid")
    if isinstance(given, str) and _SAFE_ID.fullmatch(given):
        return given
    trace = event.traceparent
    if trace and (m := _TRACEPARENT.fullmatch(trace.strip().lower())):
        return m.group(1)
    return event.id or (invocation.request_id if invocation and invocation.request_id else str(uuid.uuid4()))


def _safe_path(path: str) -> str:
    # Echo a bounded, printable path only: a response must not reflect arbitrary bytes.
    clean = "".join(c if c.isprintable() else "?" for c in path[:200])
    return clean + ("..." if len(path) > 200 else "")
