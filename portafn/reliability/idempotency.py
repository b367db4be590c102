"""Idempotent functions: run once per key, replay the stored result for a repeat.

```python
idempotency_table(app)                          # declares the `idempotency` table (TTL: expires_at)

@app.queue("payments")
@idempotent(key="payment_id")                   # default key: the message / CloudEvent id
def charge(msg: Message[Charge], ctx: Context) -> Receipt: ...

@app.http("POST", "/payments")
@idempotent()                                   # default key: the Idempotency-Key header
def pay(body: Charge, ctx: Context) -> Receipt: ...
```

Put ``@idempotent`` *under* the registration decorator: it wraps the handler, and the wrapper is
what gets registered. The binder still sees the handler's own parameters (plus a hidden
``Context``, and for HTTP the ``HttpRequest``, when the handler does not ask for them).

How it works, on any store with conditional writes and TTL (one conditional insert, as in
Powertools): the first invocation for a key inserts an ``in_progress`` record whose lease lasts
as long as the invocation may (``ctx.remaining_time()``), runs the handler and stores its result
(``completed``). A repeat whose payload hash matches gets the stored result without running the
handler; one with a different payload is rejected with ``IdempotencyKeyReused`` (HTTP 409
problem+json; a message goes to dead letter). A repeat that arrives while the first still runs
gets ``IdempotencyInProgress`` (HTTP 409 with ``Retry-After``; a message is retried), or waits up
to ``wait`` seconds for the result. If the handler raises, the record is deleted so that a retry
runs it again; if the invocation dies, the lease expires and the next delivery takes over.
Records expire through the table's TTL after ``ttl`` seconds.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import inspect
import json
import threading
import time
import typing
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from portafn.context import Context
from portafn.errors import HttpError, RegistrationError
from portafn.events import Event, Message
from portafn.http import HttpRequest, HttpResponse
from portafn.log import get_logger
from portafn.reliability.outcomes import Outcome
from portafn.store.capabilities import Capability
from portafn.store.errors import AlreadyExists, ConcurrencyConflict, NotFound, StoreError
from portafn.store.table import Table

if typing.TYPE_CHECKING:
    from portafn.app import App

F = TypeVar("F", bound=Callable[..., Any])
KeySpec = str | Callable[[Any], Any] | None
ScopeSpec = str | Callable[[Any], Any] | None

TABLE_NAME = "idempotency"
KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_TTL = 3600.0
MAX_KEY_CHARS = 255
MAX_ROUNDS = 100  # claim attempts before giving up with IdempotencyInProgress
_CTX_PARAM = "portafn_idempotency_ctx"
_REQUEST_PARAM = "portafn_idempotency_request"
_log = get_logger("portafn.idempotency")


class IdempotencyRecord(BaseModel):
    """What the idempotency table keeps per key."""

    key: str
    status: Literal["in_progress", "completed"]
    payload_hash: str
    lease_until: float
    expires_at: int
    # JSON text rather than a nested document: stores differ in what nesting they take
    # (Firestore refuses arrays in arrays), text passes everywhere.
    result: str | None = None
    stored: bool = True


class IdempotencyError(HttpError):
    """Base of the idempotency errors; each is an ``HttpError`` so HTTP callers get problem+json."""


class IdempotencyKeyReused(IdempotencyError):
    """The key was used before with a different payload. HTTP 409; a message goes to dead letter."""

    outcome = Outcome.DEAD_LETTER

    def __init__(self) -> None:
        super().__init__(409, "This idempotency key was already used with a different request payload.")


class IdempotencyInProgress(IdempotencyError):
    """An earlier invocation with this key is still running. HTTP 409 with Retry-After; a message
    is retried."""

    outcome = Outcome.RETRY

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        seconds = str(max(1, min(3600, round(retry_after))))
        super().__init__(
            409,
            "A request with this idempotency key is still being processed.",
            headers={"Retry-After": seconds},
        )


class IdempotencyKeyMissing(IdempotencyError):
    """The key could not be read from the event or request. HTTP 400; a message goes to dead letter
    (it would miss its key on every delivery)."""

    outcome = Outcome.DEAD_LETTER

    def __init__(self, where: str) -> None:
        super().__init__(400, f"The idempotency key is missing or invalid: {where}.")


class IdempotencyResultUnavailable(IdempotencyError):
    """The request was processed, but its result was too large to keep for a replay. HTTP 409."""

    outcome = Outcome.SUCCESS

    def __init__(self) -> None:
        super().__init__(409, "This request was already processed; its result is too large to replay.")


# -- the table ---------------------------------------------------------------------------------

_default_table: Table[IdempotencyRecord] | None = None
_default_lock = threading.Lock()


_REQUIRES = (Capability.CONDITIONAL_WRITES,)


def _new_table(name: str = TABLE_NAME) -> Table[IdempotencyRecord]:
    return Table(IdempotencyRecord, partition_key="key", name=name, ttl="expires_at", requires=_REQUIRES)


def idempotency_table(app: App, *, name: str = TABLE_NAME) -> Table[IdempotencyRecord]:
    """Declare the app's idempotency table (or return it, when declared already).

    Declared on the app, the table is created by packaging and cleared between contract tests;
    ``@idempotent`` uses it for every function of the app unless given another ``table``.
    """
    existing = app.tables.get(name)
    if existing is not None:
        if existing.model is not IdempotencyRecord:
            raise RegistrationError(name, f"app {app.name!r} has a table {name!r} of another model")
        return typing.cast(Table[IdempotencyRecord], existing)
    return app.table(IdempotencyRecord, partition_key="key", name=name, ttl="expires_at", requires=_REQUIRES)


def _table_for(ctx: Context, given: Table[IdempotencyRecord] | None) -> Table[IdempotencyRecord]:
    if given is not None:
        return given
    if ctx.runtime is not None:
        table = ctx.runtime.app.tables.get(TABLE_NAME)
        if table is not None and table.model is IdempotencyRecord:
            return typing.cast(Table[IdempotencyRecord], table)
    global _default_table
    if _default_table is None:
        with _default_lock:
            if _default_table is None:
                _default_table = _new_table()
    return _default_table


# -- the record's life -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Begin:
    run: bool
    etag: str | None = None
    result: Any = None
    stored: bool = True


@dataclass(slots=True)
class Guard:
    """One key's record in one table: ``begin``, then ``complete`` or ``abort``."""

    table: Table[IdempotencyRecord]
    key: str
    payload_hash: str
    lease: float
    ttl: float
    wait: float = 0.0

    def _record(self, now: float, **changes: Any) -> IdempotencyRecord:
        values: dict[str, Any] = {
            "key": self.key,
            "status": "in_progress",
            "payload_hash": self.payload_hash,
            "lease_until": now + self.lease,
            "expires_at": int(now + max(self.ttl, self.lease)) + 1,
        }
        values.update(changes)
        return IdempotencyRecord(**values)

    def begin(self) -> _Begin:
        """Claim the key (run the handler) or find its stored result (replay it).

        ``IdempotencyKeyReused`` for a different payload; ``IdempotencyInProgress`` when another
        invocation holds a live lease and ``wait`` runs out.
        """
        deadline = time.monotonic() + self.wait
        pause = 0.005
        for _ in range(MAX_ROUNDS):
            now = time.time()
            try:
                return _Begin(True, self.table.insert(self._record(now)))
            except (AlreadyExists, ConcurrencyConflict, NotFound):
                # ConcurrencyConflict / NotFound: another claim replaced or removed an expired
                # record while this insert was taking it over; look again.
                pass
            found = self.table.get_versioned(self.key)
            if found is None:
                continue  # deleted (a failed run) or expired since the insert: claim again
            current = found.item
            if current.payload_hash != self.payload_hash:
                raise IdempotencyKeyReused()
            if current.status == "completed":
                value = json.loads(current.result) if current.result is not None else None
                return _Begin(False, result=value, stored=current.stored)
            if current.lease_until <= now:
                # The holder's invocation has ended without finishing: take the key over.
                try:
                    return _Begin(True, self.table.replace(self._record(now), etag=found.etag))
                except (ConcurrencyConflict, NotFound):
                    continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise IdempotencyInProgress(current.lease_until - now)
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)
        # Claims and releases kept racing this one: let the caller come back later.
        raise IdempotencyInProgress(1.0)

    def complete(self, etag: str, result: Any) -> None:
        """Store the JSON-ready ``result`` under the key (kept for ``ttl`` seconds).

        Never raises once the handler has run: if the result cannot be stored (too large, or
        refused by the store), the key is still marked completed, without a result, so that a
        repeat does not run the handler again.
        """
        now = time.time()
        text = json.dumps(result, separators=(",", ":"), ensure_ascii=False)
        done = self._record(now, status="completed", result=text, expires_at=int(now + self.ttl) + 1)
        try:
            self.table.replace(done, etag=etag)
            return
        except (ConcurrencyConflict, NotFound):
            _log.warning("idempotency lease expired before the handler finished; result not stored")
            return
        except StoreError as exc:
            _log.warning("idempotency result not stored (%s); keeping the key without it", type(exc).__name__)
        try:
            self.table.replace(done.model_copy(update={"result": None, "stored": False}), etag=etag)
        except StoreError as exc:
            # The lease will run out and a repeat will run the handler again; say so.
            _log.error("idempotency key left in progress after the handler ran: %s", type(exc).__name__)

    def abort(self, etag: str) -> None:
        """Release the key after a failure so that a retry runs the handler again."""
        # A conflict means another invocation took the key over; it is theirs now.
        with contextlib.suppress(ConcurrencyConflict, NotFound):
            self.table.delete(self.key, etag=etag)


# -- keys and payloads -------------------------------------------------------------------------


def _path_get(value: Any, path: str) -> Any:
    current = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    for part in path.split("."):
        if isinstance(current, BaseModel):
            current = current.model_dump(mode="json")
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is None:
            return None
    return current


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _event_data(event: Event[Any]) -> Any:
    if isinstance(event, Message) and event.body:
        try:
            return event.json()
        except ValueError:
            return event.data
    return event.data


def _event_key(event: Event[Any], spec: KeySpec) -> Any:
    if spec is None:
        return event.id
    if callable(spec):
        return spec(event)
    return _path_get(_event_data(event), spec)


def _event_hash(event: Event[Any]) -> str:
    if isinstance(event, Message):
        return _digest(event.body)
    if event.data is None:
        return _digest(b"")
    canonical = json.dumps(to_jsonable_python(event.data), sort_keys=True, separators=(",", ":"), default=str)
    return _digest(canonical.encode())


def _request_key(request: HttpRequest, spec: KeySpec, header: str) -> Any:
    if spec is None:
        return request.headers.get(header)
    if callable(spec):
        return spec(request)
    try:
        return _path_get(request.json(), spec) if request.body else None
    except ValueError:
        return None


def _request_hash(request: HttpRequest) -> str:
    return _digest(f"{request.method} {request.path}\n".encode() + request.body)


def _key_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_CHARS or not value.isprintable():
        return None
    return value


# -- HTTP results ------------------------------------------------------------------------------


def _dump_response(resp: HttpResponse) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": resp.status,
        "headers": [{"name": n, "value": v} for n, v in resp.headers.items()],
        "cookies": resp.cookies,
    }
    try:
        out["body"] = resp.body.decode("utf-8")
    except UnicodeDecodeError:
        out["body_base64"] = base64.b64encode(resp.body).decode("ascii")
    return out


def _load_response(stored: dict[str, Any]) -> HttpResponse:
    if "body_base64" in stored:
        body = base64.b64decode(stored["body_base64"])
    else:
        body = str(stored.get("body", "")).encode()
    resp = HttpResponse(None, status=int(stored["status"]), cookies=stored.get("cookies") or ())
    for header in stored.get("headers") or []:
        resp.headers.add(str(header["name"]), str(header["value"]))
    resp.body = body
    resp.headers.set(REPLAYED_HEADER, "true")
    return resp


# -- the decorator -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where the wrapper finds what it needs among the handler's keyword arguments."""

    http: bool
    ctx: str
    ctx_injected: bool
    request: str | None
    request_injected: bool
    event: str | None
    returns: TypeAdapter[Any] | None


def _plan(func: Callable[..., Any]) -> tuple[_Plan, inspect.Signature, dict[str, Any]]:
    from portafn.binding import _origin_is

    name = str(getattr(func, "__name__", func))
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise RegistrationError(name, f"@idempotent cannot read annotations: {exc}") from None
    sig = inspect.signature(func)
    ctx = request = event = None
    for p in sig.parameters.values():
        ann = hints.get(p.name)
        if ann is Context:
            ctx = p.name
        elif ann is HttpRequest:
            request = p.name
        elif ann is not None and _origin_is(ann, Event):
            event = p.name
    http = event is None
    params = list(sig.parameters.values())
    annotations = {k: v for k, v in hints.items() if k != "return"}
    if ctx is None:
        params.append(inspect.Parameter(_CTX_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Context))
        annotations[_CTX_PARAM] = Context
    if http and request is None:
        params.append(
            inspect.Parameter(_REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=HttpRequest)
        )
        annotations[_REQUEST_PARAM] = HttpRequest
    returns = hints.get("return")
    adapter: TypeAdapter[Any] | None = None
    if not http and returns not in (None, type(None), Any):
        try:
            adapter = TypeAdapter(returns)
        except Exception:
            adapter = None
    if "return" in hints:
        annotations["return"] = hints["return"]
    plan = _Plan(
        http=http,
        ctx=ctx or _CTX_PARAM,
        ctx_injected=ctx is None,
        request=request or (_REQUEST_PARAM if http else None),
        request_injected=http and request is None,
        event=event,
        returns=adapter,
    )
    return plan, sig.replace(parameters=params), annotations


@overload
def idempotent(func: F, /) -> F: ...


@overload
def idempotent(
    *,
    key: KeySpec = None,
    table: Table[IdempotencyRecord] | None = None,
    ttl: float = DEFAULT_TTL,
    lease: float | None = None,
    wait: float = 0.0,
    required: bool | None = None,
    header: str = KEY_HEADER,
    scope: ScopeSpec = None,
) -> Callable[[F], F]: ...


def idempotent(
    func: F | None = None,
    /,
    *,
    key: KeySpec = None,
    table: Table[IdempotencyRecord] | None = None,
    ttl: float = DEFAULT_TTL,
    lease: float | None = None,
    wait: float = 0.0,
    required: bool | None = None,
    header: str = KEY_HEADER,
    scope: ScopeSpec = None,
) -> F | Callable[[F], F]:
    """Make a function idempotent on a key; use under ``@app.http``/``@app.queue``/... .

    ``key``: None for the default (event functions: the CloudEvent / message id; HTTP: the
    ``header``, ``Idempotency-Key``), a dotted path into the JSON body or event data
    (``"order.id"``), or a callable given the event or ``HttpRequest``. ``scope``: whose key it
    is. By default an HTTP key belongs to its caller (the principal the provider's authorizer
    established, else a hash of the ``Authorization`` header) and an event key to its producer
    (the CloudEvent ``source``), so the same key from another caller never replays this one's
    result; a string or a callable (given the event or ``HttpRequest``) sets it, for tenants.
    ``table``: where records live (default: the app's ``idempotency`` table if declared, else a
    shared one of that name). ``ttl``: seconds a completed result is kept. ``lease``: seconds an
    in-progress claim holds (default: ``ctx.remaining_time()``). ``wait``: seconds a repeat
    waits for an in-progress one to finish before ``IdempotencyInProgress``. ``required``:
    whether a missing key is an error (default: yes for events; for HTTP a request without the
    header runs normally).
    """
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    options = _Options(key, table, ttl, lease, wait, required, header, scope)

    def decorate(handler: F) -> F:
        return typing.cast(F, _Idempotent(handler, options).wrapper())

    if func is not None:
        return decorate(func)
    return decorate


@dataclass(frozen=True, slots=True)
class _Options:
    key: KeySpec
    table: Table[IdempotencyRecord] | None
    ttl: float
    lease: float | None
    wait: float
    required: bool | None
    header: str
    scope: ScopeSpec


class _Idempotent:
    """One idempotent handler: the same run path (``_flow``) for sync and async handlers."""

    def __init__(self, handler: Callable[..., Any], options: _Options) -> None:
        self.handler = handler
        self.options = options
        self.plan, self.signature, self.annotations = _plan(handler)
        self.must_have = (not self.plan.http) if options.required is None else options.required

    def wrapper(self) -> Callable[..., Any]:
        """The function to register in the handler's place."""
        handler = self.handler
        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def async_wrapper(**kwargs: Any) -> Any:
                flow = self._flow(kwargs)
                try:
                    next(flow)
                except StopIteration as done:
                    return done.value
                try:
                    result = await handler(**kwargs)
                except BaseException as exc:
                    return _throw(flow, exc)
                return _send(flow, result)

            wrapper: Callable[..., Any] = async_wrapper
        else:

            @functools.wraps(handler)
            def sync_wrapper(**kwargs: Any) -> Any:
                flow = self._flow(kwargs)
                try:
                    next(flow)
                except StopIteration as done:
                    return done.value
                try:
                    result = handler(**kwargs)
                except BaseException as exc:
                    return _throw(flow, exc)
                return _send(flow, result)

            wrapper = sync_wrapper
        wrapper.__signature__ = self.signature  # type: ignore[attr-defined]
        wrapper.__annotations__ = self.annotations
        wrapper.__portafn_idempotent__ = True  # type: ignore[attr-defined]
        return wrapper

    def _flow(self, kwargs: dict[str, Any]) -> Generator[None, Any, Any]:
        """Claim, yield to run the handler (the caller sends its result), store; or replay."""
        guard = self._guard(kwargs)
        if guard is None:
            return (yield)
        begin = guard.begin()
        if not begin.run:
            return self._replayed(begin)
        assert begin.etag is not None
        try:
            result = yield
        except BaseException:
            guard.abort(begin.etag)
            raise
        guard.complete(begin.etag, self._stored_form(result))
        return result

    def _guard(self, kwargs: dict[str, Any]) -> Guard | None:
        plan, opts = self.plan, self.options
        ctx: Context = kwargs.pop(plan.ctx) if plan.ctx_injected else kwargs[plan.ctx]
        owner: HttpRequest | Event[Any]
        if plan.http:
            assert plan.request is not None
            request: HttpRequest = kwargs.pop(plan.request) if plan.request_injected else kwargs[plan.request]
            raw_key, payload, owner = (
                _request_key(request, opts.key, opts.header),
                _request_hash(request),
                request,
            )
            where = f"header {opts.header}" if opts.key is None else _where("body field", opts.key)
        else:
            assert plan.event is not None
            event: Event[Any] = kwargs[plan.event]
            raw_key, payload, owner = _event_key(event, opts.key), _event_hash(event), event
            where = "event id" if opts.key is None else _where("data field", opts.key)
        text = _key_text(raw_key)
        if text is None:
            if raw_key is None and not self.must_have:
                return None
            raise IdempotencyKeyMissing(where)
        key = record_key(ctx.function_name, text, scope_of(owner, opts.scope))
        held = opts.lease if opts.lease is not None else max(1.0, ctx.remaining_time() + 1.0)
        return Guard(_table_for(ctx, opts.table), key, payload, held, opts.ttl, opts.wait)

    def _stored_form(self, result: Any) -> Any:
        if self.plan.http:
            from portafn.runtime import to_response

            return _dump_response(to_response(result))
        return to_jsonable_python(result)

    def _replayed(self, begin: _Begin) -> Any:
        if self.plan.http:
            if not begin.stored:
                raise IdempotencyResultUnavailable()
            return _load_response(begin.result)
        returns = self.plan.returns
        if returns is not None and begin.result is not None:
            try:
                return returns.validate_python(begin.result)
            except ValidationError:
                return begin.result
        return begin.result


def _where(what: str, key: KeySpec) -> str:
    return f"{what} {key}" if isinstance(key, str) else "key"


def _send(flow: Generator[None, Any, Any], result: Any) -> Any:
    try:
        flow.send(result)
    except StopIteration as done:
        return done.value
    raise RuntimeError("idempotency flow yielded twice")  # pragma: no cover - a bug in _flow


def _throw(flow: Generator[None, Any, Any], exc: BaseException) -> Any:
    try:
        flow.throw(exc)
    except StopIteration as done:  # pragma: no cover - _flow re-raises
        return done.value
    raise RuntimeError("idempotency flow yielded twice")  # pragma: no cover - a bug in _flow


def record_key(function: str, key: str, scope: str) -> str:
    """The idempotency table's key for ``key`` in ``scope`` (see ``scope_of``) of one function."""
    scoped = scope + "\0" + key
    return f"{function}#{_digest(scoped.encode())}"


def scope_of(owner: HttpRequest | Event[Any], spec: ScopeSpec = None) -> str:
    """Whose key this is: the given scope, else the caller (HTTP) or the producer (events)."""
    if isinstance(spec, str):
        return "scope:" + spec
    if callable(spec):
        return "scope:" + str(spec(owner))
    if isinstance(owner, Event):
        return "source:" + (owner.source or "")
    if owner.principal:
        return "principal:" + owner.principal
    authorization = owner.headers.get("authorization")
    if authorization:
        # A hash, not the credential: the record key must not hold a secret.
        return "authorization:" + _digest(authorization.encode())
    return "anonymous"
