"""Running registered functions: start-up hooks, context, binding, and errors turned into answers.

Every adapter translates its provider's event to the neutral model and calls a ``Runtime``; the
local server, the CLI and the tests call the same one, so behaviour cannot differ by provider.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portafn.app import App, Function
from portafn.binding import BindError, EventBinder, HttpBinder
from portafn.context import Context
from portafn.errors import HttpError
from portafn.events import Event
from portafn.http import HttpRequest, HttpResponse, unsafe_header
from portafn.lazy import Lazy
from portafn.log import get_logger
from portafn.metrics import InvocationRecord
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
    from portafn.reliability.publish import Publisher

_log = get_logger("portafn.runtime")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CORRELATION_HEADER = "X-Correlation-Id"


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
        for hook in self.app.start_hooks:
            result = hook()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        return True

    def _take_cold(self) -> bool:
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
        try:
            response = self._http(request, invocation, correlation)
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
        fn = found.target
        if len(request.body) > self.app.max_body_bytes:
            return problem(413, f"The body is over the limit of {self.app.max_body_bytes} bytes.")
        request.path_params = found.params
        ctx = self.context(fn.name, correlation, invocation, traceparent=request.headers.get("traceparent"))
        if not self.app.metric_sinks:
            return self._run_http(fn, request, ctx, correlation)
        started = time.perf_counter()
        response = self._run_http(fn, request, ctx, correlation)
        self._record(fn, ctx, started, error=response.status >= 500)
        return response

    def _run_http(self, fn: Function, request: HttpRequest, ctx: Context, correlation: str) -> HttpResponse:
        binder = fn.binder
        assert isinstance(binder, HttpBinder)
        try:
            kwargs = binder.bind(request, ctx)
        except BindError as exc:
            extra = {"errors": exc.errors} if exc.errors else {}
            return problem(exc.status, exc.detail, **extra)
        try:
            result = _call(fn, kwargs, ctx)
        except HttpError as exc:
            resp = problem(exc.status, exc.detail)
            for name, value in exc.headers.items():
                resp.headers.set(name, value)
            return resp
        except StoreError as exc:
            mapped = _store_status(exc)
            if mapped is None:
                ctx.logger.exception("handler raised")
                return problem(500, "An internal error occurred.", correlation_id=correlation)
            ctx.logger.warning("store error answered as %s: %s", mapped, type(exc).__name__)
            if isinstance(exc, InvalidCursor):
                return _invalid_cursor(exc, correlation)
            resp = problem(mapped, exc.summary.capitalize() + ".", correlation_id=correlation)
            if isinstance(exc, Throttled) and exc.retry_after is not None:
                resp.headers.set("Retry-After", str(max(1, round(exc.retry_after))))
            return resp
        except Exception:
            ctx.logger.exception("handler raised")
            return problem(500, "An internal error occurred.", correlation_id=correlation)
        return to_response(result)

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
        try:
            result = _call(fn, binder.bind(event, ctx), ctx)
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


def _call(fn: Function, kwargs: dict[str, Any], ctx: Context) -> Any:
    # Store calls in the handler end before the platform stops it (portafn.store.deadline).
    with invocation_deadline(ctx.remaining_time()):
        result = fn.handler(**kwargs)
        return asyncio.run(result) if fn.is_async else result


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
