"""``App``: the registry of functions, tables and start-up hooks that every adapter builds from."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Unpack

from pydantic import BaseModel

from portafn.binding import EventBinder, HttpBinder
from portafn.errors import FunctionNotFound, RegistrationError
from portafn.middleware import Hooks
from portafn.routing import Router, TemplateError, compile_template
from portafn.triggers import (
    ChangesTrigger,
    EventTrigger,
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    TopicTrigger,
    Trigger,
)

if TYPE_CHECKING:
    from portafn.auth import Authenticator
    from portafn.cors import CORS
    from portafn.function_settings import FunctionSettings, RunSettings
    from portafn.metrics import MetricsSink
    from portafn.middleware import EventMiddleware, ExceptionHandler, HttpMiddleware
    from portafn.settings import Settings
    from portafn.store.capabilities import Capability
    from portafn.store.table import Table

F = TypeVar("F", bound=Callable[..., Any])
HM = TypeVar("HM", bound="HttpMiddleware")
EM = TypeVar("EM", bound="EventMiddleware")
EH = TypeVar("EH", bound="ExceptionHandler")
M = TypeVar("M", bound=BaseModel)

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
_RESOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
DEFAULT_MAX_BODY = 6 * 1024 * 1024  # Lambda's synchronous payload limit; the smallest of the three.


@dataclass(slots=True)
class Function:
    """A registered function: its name, handler, trigger and how its parameters are bound."""

    name: str
    handler: Callable[..., Any]
    trigger: Trigger
    binder: HttpBinder | EventBinder
    is_async: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The trigger kind: http, queue, topic, schedule, storage, changes or event."""
        return self.trigger.kind


class App:
    """A portafn application: decorate handlers on it once, run them on any provider.

    ``max_body_bytes`` caps HTTP bodies (413 above it). ``cors`` is the CORS policy of every
    route that declares none of its own (see ``portafn.cors.CORS``); ``auth`` the authenticator
    of every route that declares none (see ``portafn.auth``).
    """

    def __init__(
        self,
        name: str,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        cors: CORS | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        if not _RESOURCE.match(name):
            raise RegistrationError(name, "an app name is 1-63 letters, digits, '.', '_' or '-'")
        self.name = name
        self.max_body_bytes = max_body_bytes
        self.functions: dict[str, Function] = {}
        self.tables: dict[str, Table[Any]] = {}
        self.router: Router[Function] = Router()
        self.start_hooks: list[Callable[[], Any]] = []
        self.metric_sinks: list[MetricsSink] = []
        self.settings_declared: list[Settings[Any]] = []
        self.hooks = Hooks()
        if cors is not None and not _is_cors(cors):
            raise RegistrationError(name, "cors= takes a portafn.cors.CORS")
        self.cors = cors
        self.auth = auth
        self._refresh_cors()

    # -- registration -------------------------------------------------------------------------

    def http(
        self,
        method: str,
        path: str,
        *,
        name: str | None = None,
        cors: CORS | Literal[False] | None = None,
        auth: Authenticator | Literal[False] | None = None,
        **settings: Unpack[RunSettings],
    ) -> Callable[[F], F]:
        """Serve ``method`` requests to ``path`` (``{param}`` segments become path parameters).

        ``cors`` gives this route a CORS policy of its own (``False``: none, whatever the app's);
        ``auth`` an authenticator of its own (``False``: public, whatever the app's).
        ``memory``, ``timeout``, ``concurrency`` and ``auth_level`` are the function's settings
        (``portafn.function_settings.RunSettings``), as on every trigger decorator.
        """

        def register(func: F) -> F:
            fname = self._name(func, name)
            verb = method.upper()
            if verb not in _METHODS:
                raise RegistrationError(fname, f"unknown HTTP method {method!r}")
            try:
                template = compile_template(path)
            except TemplateError as exc:
                raise RegistrationError(fname, str(exc)) from None
            binder = HttpBinder(fname, func, template.params)
            if binder.unbound_path:
                raise RegistrationError(
                    fname,
                    f"path parameters {binder.unbound_path} have no matching function parameter",
                )
            fn = Function(fname, func, HttpTrigger(verb, template), binder, _is_async(func))
            if settings:
                fn.options["settings"] = _checked_settings(fname, "http", settings)
            if cors is not None and _route_policy(fname, cors) is not None:
                fn.options["cors"] = cors
            if (guard := self.auth if auth is None else auth) is not False and guard is not None:
                if not callable(guard):
                    raise RegistrationError(fname, "auth= takes a portafn.auth authenticator, False or None")
                fn.options["auth"] = guard
            elif auth is False:
                fn.options["public"] = True
            clash = self.router.add(verb, template, fn)
            if clash is not None:
                raise RegistrationError(
                    fname,
                    f"route {verb} {path} duplicates {clash.method} {clash.template.template} of {clash.target.name}",
                )
            self._add(fn)
            self._refresh_cors()
            return func

        return register

    def queue(
        self, queue: str, *, name: str | None = None, **settings: Unpack[RunSettings]
    ) -> Callable[[F], F]:
        """Consume messages from a queue."""
        return self._event(lambda fname: QueueTrigger(self._resource(fname, "queue", queue)), name, settings)

    def topic(
        self, topic: str, *, name: str | None = None, **settings: Unpack[RunSettings]
    ) -> Callable[[F], F]:
        """Receive messages published on a topic."""
        return self._event(lambda fname: TopicTrigger(self._resource(fname, "topic", topic)), name, settings)

    def schedule(
        self, cron: str, *, name: str | None = None, **settings: Unpack[RunSettings]
    ) -> Callable[[F], F]:
        """Run on a five-field cron schedule in UTC (translated per provider)."""

        def trigger(fname: str) -> Trigger:
            from portafn.cron import CronError, parse_cron

            try:
                return ScheduleTrigger(parse_cron(cron))
            except CronError as exc:
                raise RegistrationError(fname, str(exc)) from None

        return self._event(trigger, name, settings)

    def storage(
        self,
        bucket: str,
        *,
        on: Literal["created", "deleted"] = "created",
        name: str | None = None,
        **settings: Unpack[RunSettings],
    ) -> Callable[[F], F]:
        """React to objects created in (or deleted from) a bucket."""

        def trigger(fname: str) -> Trigger:
            if on not in ("created", "deleted"):
                raise RegistrationError(fname, f"storage on={on!r}; use 'created' or 'deleted'")
            return StorageTrigger(self._resource(fname, "bucket", bucket), on)

        return self._event(trigger, name, settings)

    def changes(
        self,
        table: Table[Any],
        *,
        name: str | None = None,
        attached: bool = False,
        **settings: Unpack[RunSettings],
    ) -> Callable[[F], F]:
        """React to inserts, updates and deletes on a table of this app.

        ``attached=True`` receives the documents attached to the table's partitions instead of its
        items: the outbox's records on stores whose transactions stay in one partition
        (``portafn.reliability.Outbox`` registers such functions; apps rarely need to).
        """

        def trigger(fname: str) -> Trigger:
            if self.tables.get(getattr(table, "name", "")) is not table:
                raise RegistrationError(fname, "changes() takes a table made by this app's app.table()")
            return ChangesTrigger(table, attached=attached)

        return self._event(trigger, name, settings)

    def event(
        self, type: str, *, name: str | None = None, **settings: Unpack[RunSettings]
    ) -> Callable[[F], F]:
        """Receive any other CloudEvent by its ``type`` (for example ``com.example.order.shipped``)."""

        def trigger(fname: str) -> Trigger:
            if not type or any(c.isspace() for c in type):
                raise RegistrationError(fname, f"event type {type!r} must be non-empty with no spaces")
            return EventTrigger(type)

        return self._event(trigger, name, settings)

    def middleware(self, func: HM) -> HM:
        """Wrap every HTTP invocation in ``func(request, ctx, call_next) -> HttpResponse``.

        It also sees portafn's own answers (400, 404, 405, 413, 500 problems). The first
        registered is outermost: it sees the request first and the response last.
        """
        self.hooks.add_http(func)
        return func

    def event_middleware(self, func: EM) -> EM:
        """Wrap every event invocation in ``func(event, ctx, call_next) -> result``.

        Code before ``call_next`` runs before the handler, code after it after; a raise reaches
        the adapter as the handler's own raise would (retry, dead letter). Registration order,
        outermost first, as for HTTP middleware.
        """
        self.hooks.add_event(func)
        return func

    def exception_handler(self, exc_type: type[BaseException]) -> Callable[[EH], EH]:
        """Answer ``exc_type`` raised by an HTTP handler or middleware with
        ``handler(request, exc, ctx) -> HttpResponse``; the most specific registered class wins."""

        def register(handler: EH) -> EH:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise RegistrationError(
                    str(getattr(handler, "__name__", handler)), "exception_handler takes an exception class"
                )
            self.hooks.add_handler(exc_type, handler)
            return handler

        return register

    def enable_openapi(
        self, path: str = "/openapi.json", *, title: str | None = None, version: str = "0.1.0"
    ) -> None:
        """Serve the app's OpenAPI 3.1 document at ``GET path`` in deployed packages too (a public
        function named ``openapi``). ``portafn serve`` serves it without this; packages do not."""
        from portafn.openapi import serve_document

        serve_document(self, path, title=title, version=version)

    def add_metrics(self, sink: MetricsSink) -> None:
        """Send a record of every invocation (duration, error, cold start) to ``sink``."""
        self.metric_sinks.append(sink)

    def settings(
        self,
        model: type[M],
        *,
        prefix: str = "",
        refresh_secrets: float | None = 300.0,
        env_file: str | None = ".env",
    ) -> Settings[M]:
        """Declare the app's settings as a pydantic model; ``.get()`` on the result reads them.

        Each field comes from an environment variable (``prefix`` + its name in upper case); a field
        annotated ``Secret(name)`` comes from the provider's secret store and is read again every
        ``refresh_secrets`` seconds (None: once per cold start). See ``portafn.settings``.
        """
        from portafn.settings import Settings

        handle = Settings(model, prefix=prefix, refresh_secrets=refresh_secrets, env_file=env_file)
        self.settings_declared.append(handle)
        return handle

    def on_start(self, func: F) -> F:
        """Run ``func`` once per container, before the first invocation (clients, caches)."""
        self.start_hooks.append(func)
        return func

    def table(
        self,
        model: type[M],
        *,
        partition_key: str,
        sort_key: str | None = None,
        name: str | None = None,
        ttl: str | None = None,
        requires: Iterable[Capability] = (),
    ) -> Table[M]:
        """A typed table of ``model`` items keyed by ``partition_key`` (and ``sort_key``).

        ``ttl`` names a field holding the expiry time (a datetime or epoch seconds); ``requires``
        lists store capabilities the app relies on beyond what its calls show.
        """
        from portafn.store.table import Table

        tname = name or _default_table_name(model.__name__)
        if tname in self.tables:
            raise RegistrationError(tname, f"app {self.name!r} already has a table named {tname!r}")
        table = Table(
            model, partition_key=partition_key, sort_key=sort_key, name=tname, ttl=ttl, requires=requires
        )
        self.tables[tname] = table
        return table

    # -- lookup -------------------------------------------------------------------------------

    def function(self, name: str) -> Function:
        """The function called ``name``; ``FunctionNotFound`` lists the ones there are."""
        try:
            return self.functions[name]
        except KeyError:
            raise FunctionNotFound(
                f"app {self.name!r} has no function {name!r}; it has: {', '.join(sorted(self.functions))}"
            ) from None

    def consumers(self, name: str) -> list[Function]:
        """The functions on queue or topic ``name``, in registration order."""
        return [
            fn
            for fn in self.functions.values()
            if (isinstance(fn.trigger, QueueTrigger) and fn.trigger.queue == name)
            or (isinstance(fn.trigger, TopicTrigger) and fn.trigger.topic == name)
        ]

    def change_functions(self, table: Table[Any]) -> list[Function]:
        """The functions on ``table``'s changes, in registration order."""
        return [
            fn
            for fn in self.functions.values()
            if isinstance(fn.trigger, ChangesTrigger) and fn.trigger.table is table
        ]

    def watched_tables(self) -> dict[str, Table[Any]]:
        """Tables with at least one change function, by name."""
        return {
            fn.trigger.table.name: fn.trigger.table
            for fn in self.functions.values()
            if isinstance(fn.trigger, ChangesTrigger)
        }

    def by_kind(self, kind: str) -> list[Function]:
        """Registered functions of one trigger kind, in registration order."""
        return [f for f in self.functions.values() if f.kind == kind]

    def storage_functions(self, bucket: str, on: str) -> list[Function]:
        """The functions on objects ``on`` (created or deleted) in ``bucket``, in registration order."""
        return [
            fn
            for fn in self.functions.values()
            if isinstance(fn.trigger, StorageTrigger) and (fn.trigger.bucket, fn.trigger.on) == (bucket, on)
        ]

    def event_functions(self, type: str) -> list[Function]:
        """The functions on CloudEvents of ``type``, in registration order."""
        return [
            fn
            for fn in self.functions.values()
            if isinstance(fn.trigger, EventTrigger) and fn.trigger.type == type
        ]

    # -- internals ----------------------------------------------------------------------------

    def _event(
        self, make_trigger: Callable[[str], Trigger], name: str | None, settings: RunSettings | None = None
    ) -> Callable[[F], F]:
        def register(func: F) -> F:
            fname = self._name(func, name)
            trigger = make_trigger(fname)
            fn = Function(fname, func, trigger, EventBinder(fname, func, trigger), _is_async(func))
            if settings:
                fn.options["settings"] = _checked_settings(fname, trigger.kind, settings)
            self._add(fn)
            return func

        return register

    def _name(self, func: Callable[..., Any], name: str | None) -> str:
        fname: str = name or str(getattr(func, "__name__", ""))
        if not callable(func):
            raise RegistrationError(str(fname or func), "only functions can be registered")
        if not _NAME.match(fname):
            raise RegistrationError(
                fname or repr(func),
                "a function name is a letter then up to 62 letters, digits, '_' or '-'",
            )
        if fname in self.functions:
            raise RegistrationError(fname, f"app {self.name!r} already has a function named {fname!r}")
        return fname

    @staticmethod
    def _resource(fname: str, what: str, value: str) -> str:
        if not _RESOURCE.match(value):
            raise RegistrationError(
                fname, f"{what} name {value!r}: use 1-63 letters, digits, '.', '_' or '-'"
            )
        return value

    def _refresh_cors(self) -> None:
        # Built at registration so an app without CORS pays nothing per request.
        declared = self.cors is not None or any("cors" in fn.options for fn in self.functions.values())
        if not declared:
            self.hooks.cors = None
            return
        from portafn.cors import CorsLayer

        self.hooks.cors = CorsLayer(self)

    def _add(self, fn: Function) -> None:
        self.functions[fn.name] = fn

    def __repr__(self) -> str:
        return f"App({self.name!r}, {len(self.functions)} functions)"


# CORS and function settings are imported where an app first declares them: most apps declare
# neither, and a cold start then skips both modules (and their regexes and dataclasses).
def _is_cors(value: object) -> bool:
    from portafn.cors import CORS

    return isinstance(value, CORS)


def _route_policy(fname: str, policy: object) -> object:
    from portafn.cors import check_route_policy

    return check_route_policy(fname, policy)


def _checked_settings(fname: str, kind: str, declared: RunSettings) -> FunctionSettings:
    from portafn.function_settings import check_settings

    return check_settings(fname, kind, declared)


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func)


def _default_table_name(model_name: str) -> str:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", model_name).lower()
    return snake if snake.endswith("s") else snake + "s"
