"""``function_app(app)``: the module-level ``azure.functions.FunctionApp`` the v2 worker indexes.

One Azure function per portafn function, named after it:

- ``http``: an HTTP trigger on the route template (``/customers/{customer_id}`` becomes
  ``customers/{customer_id}``, a catch-all ``/files/{path+}`` becomes ``files/{*path}``) with its
  method; ``auth_level`` is configurable (default ANONYMOUS).
- ``queue``: a Storage queue trigger by default; ``messaging="servicebus"`` (or the app setting
  ``PORTAFN_AZURE_MESSAGING=servicebus``) makes it a Service Bus queue trigger.
- ``topic``: a Service Bus topic trigger on subscription ``subscription`` (default the app name).
- ``schedule``: a timer trigger; the five-field cron becomes six-field NCRONTAB.
- ``storage``: a blob trigger on the container (``storage_source="EventGrid"`` selects Event Grid
  blob events); ``on="deleted"`` is an Event Grid trigger filtered on BlobDeleted.
- ``changes``: a Cosmos DB trigger on the table's container with a lease container.
- ``event``: an Event Grid trigger accepting the Event Grid and the CloudEvents schema; events of
  other types are logged and acknowledged.

Connections are app setting names (``AzureWebJobsStorage``, ``ServiceBusConnection``,
``CosmosDBConnection`` by default). The Cosmos DB trigger watches the database and container prefix of
``PORTAFN_STORE`` (``portafn`` when unset; ``cosmos_database=`` or ``PORTAFN_COSMOS_DATABASE``
override it). A raise from a handler is raised to the worker, so the host's
retry and poison semantics apply; a ``DeadLetter`` on a Storage queue trigger is moved to
``<queue>-poison`` at once (see ``portafn_azure.outcomes``). ``ctx.publish`` sends where these
triggers listen (``portafn_azure.publish``).

Under the worker, portafn's log lines become the invocation's logs (``RpcLog`` with its invocation
id), not console output (``portafn_azure.worker_logs``).

Each trigger type has one registration function (``REGISTRARS``). The handlers carry their
annotations as objects, not strings: the worker resolves every annotation with
``typing.get_type_hints`` at indexing, so this module must not use postponed annotations.
"""

# No ``from __future__ import annotations``: see the module docstring.

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from portafn.app import App, Function
from portafn.changes import receivers
from portafn.cors import preflight_owners
from portafn.function_settings import settings_of
from portafn.log import get_logger
from portafn.reliability.outcomes import Outcome, outcome_of, reason_of
from portafn.routing import rewrite_params
from portafn.runtime import Invocation, Runtime, on_platform
from portafn.triggers import (
    ChangesTrigger,
    EventTrigger,
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    TopicTrigger,
)
from portafn_azure import events
from portafn_azure.http import to_azure_response, to_request
from portafn_azure.outcomes import Poisoned, PoisonSink, poison_content, storage_poison_sink
from portafn_azure.publish import messaging_kind, poison_queue_name, queue_name, remember_options
from portafn_azure.worker_logs import forward_to_worker

WORKER_ENV = "FUNCTIONS_WORKER_RUNTIME"  # set by the Functions host for its language worker
_log = get_logger("portafn.azure")
DEFAULT_DATABASE = "portafn"


def azure_route(template: str) -> str:
    """An Azure route for a portafn path template: no leading slash, ``{param}`` kept, and the
    catch-all ``{param+}`` written as Azure's ``{*param}``."""
    return rewrite_params(template, lambda name, greedy: f"{{*{name}}}" if greedy else f"{{{name}}}").strip(
        "/"
    )


@dataclass(frozen=True)
class Options:
    """The settings every registration function reads (``function_app``'s keyword arguments)."""

    route_prefix: str = "api"
    messaging: str = "storage"
    storage_connection: str = "AzureWebJobsStorage"
    servicebus_connection: str = "ServiceBusConnection"
    cosmos_connection: str = "CosmosDBConnection"
    cosmos_database: str = DEFAULT_DATABASE
    cosmos_prefix: str = ""
    lease_container: str = "leases"
    storage_source: str | None = None
    topic_subscription: str = ""


@dataclass(frozen=True)
class Target:
    """What a registration function registers on: the FunctionApp, the runtime and the options."""

    fa: Any
    runtime: Runtime
    options: Options
    poison_sink: PoisonSink


Registrar = Callable[[Target, Function, Any], None]


def function_app(
    app: App,
    *,
    auth_level: str = "ANONYMOUS",
    route_prefix: str = "api",
    messaging: str | None = None,
    storage_connection: str = "AzureWebJobsStorage",
    servicebus_connection: str = "ServiceBusConnection",
    cosmos_connection: str = "CosmosDBConnection",
    cosmos_database: str | None = None,
    lease_container: str = "leases",
    storage_source: str | None = None,
    topic_subscription: str | None = None,
    poison_sink: PoisonSink | None = None,
) -> Any:
    """The ``azure.functions.FunctionApp`` that runs ``app``'s functions on Azure Functions.

    ``poison_sink`` receives the messages a Storage queue function dead-letters (default: send
    them to ``<queue>-poison`` on the ``storage_connection`` account; the driver captures them).
    """
    import azure.functions as func

    forward_to_worker()  # portafn's log lines become the invocation's logs (portafn_azure.worker_logs)
    store_database, store_prefix = _store_target()
    options = Options(
        route_prefix=route_prefix,
        messaging=messaging_kind(messaging),
        storage_connection=storage_connection,
        servicebus_connection=servicebus_connection,
        cosmos_connection=cosmos_connection,
        cosmos_database=cosmos_database or os.environ.get("PORTAFN_COSMOS_DATABASE") or store_database,
        cosmos_prefix=os.environ.get("PORTAFN_COSMOS_PREFIX", store_prefix),
        lease_container=lease_container,
        storage_source=storage_source,
        topic_subscription=topic_subscription or app.name,
    )
    runtime = Runtime(app, "azure")
    if on_platform(WORKER_ENV):
        runtime.prepare()  # while the worker indexes the app, before the first invocation
    remember_options(
        runtime,
        messaging=options.messaging,
        storage_connection=storage_connection,
        servicebus_connection=servicebus_connection,
    )
    target = Target(
        fa=func.FunctionApp(http_auth_level=getattr(func.AuthLevel, auth_level.upper())),
        runtime=runtime,
        options=options,
        poison_sink=poison_sink or storage_poison_sink(storage_connection),
    )
    for fn in app.functions.values():
        registrar = REGISTRARS.get(type(fn.trigger))
        if registrar is None:
            raise TypeError(f"portafn_azure cannot register {fn.name!r}: no Azure trigger for {fn.trigger!r}")
        registrar(target, fn, fn.trigger)
    return target.fa


# -- one registration function per trigger type --------------------------------------------------


def register_http(target: Target, fn: Function, trigger: HttpTrigger) -> None:
    """An HTTP trigger on the route template with its method (any method for ``*``)."""
    methods = None if trigger.method == "*" else [trigger.method]
    if methods and preflight_owners(target.runtime.app).get(trigger.path.template) == fn.name:
        methods.append("OPTIONS")  # the host routes by method: portafn answers this path's preflights
    level = settings_of(fn).auth_level  # a function's own auth_level over the app's default
    extra: dict[str, Any] = {}
    if level:
        import azure.functions as func

        extra["auth_level"] = getattr(func.AuthLevel, level.upper())
    route = target.fa.route(
        route=azure_route(trigger.path.template), methods=methods, trigger_arg_name="req", **extra
    )
    _register(route, target.fa, fn, _http_handler(target.runtime, target.options.route_prefix))


def register_queue(target: Target, fn: Function, trigger: QueueTrigger) -> None:
    """A Storage queue trigger, or a Service Bus queue trigger with ``messaging="servicebus"``."""
    options = target.options
    if options.messaging == "servicebus":
        translate = partial(events.servicebus_message, entity=trigger.queue)
        handler = _event_handler(target.runtime, fn, "msg", translate, servicebus=True)
        binding = target.fa.service_bus_queue_trigger(
            arg_name="msg", queue_name=trigger.queue, connection=options.servicebus_connection
        )
        _register(binding, target.fa, fn, handler)
        return
    # Storage queue names are lower case; ctx.publish and the packager use the same rule.
    queue = queue_name(trigger.queue)
    handler = _event_handler(
        target.runtime,
        fn,
        "msg",
        partial(events.queue_message, queue=trigger.queue),
        dead_letter=partial(_to_poison, target.poison_sink, fn.name, queue),
    )
    binding = target.fa.queue_trigger(arg_name="msg", queue_name=queue, connection=options.storage_connection)
    _register(binding, target.fa, fn, handler)


def register_topic(target: Target, fn: Function, trigger: TopicTrigger) -> None:
    """A Service Bus topic trigger on the app's subscription (``topic_subscription``)."""
    translate = partial(events.servicebus_message, entity=trigger.topic)
    handler = _event_handler(target.runtime, fn, "msg", translate, servicebus=True)
    binding = target.fa.service_bus_topic_trigger(
        arg_name="msg",
        topic_name=trigger.topic,
        subscription_name=target.options.topic_subscription,
        connection=target.options.servicebus_connection,
    )
    _register(binding, target.fa, fn, handler)


def register_schedule(target: Target, fn: Function, trigger: ScheduleTrigger) -> None:
    """A timer trigger; the five-field cron becomes six-field NCRONTAB."""
    translate = partial(events.timer_request, function=fn.name, cron=trigger.cron.expression)
    handler = _event_handler(target.runtime, fn, "timer", translate)
    _register(
        target.fa.timer_trigger(arg_name="timer", schedule=trigger.cron.ncrontab()), target.fa, fn, handler
    )


def register_storage(target: Target, fn: Function, trigger: StorageTrigger) -> None:
    """A blob trigger on the container for ``created``; an Event Grid trigger on BlobDeleted else."""
    if trigger.on != "created":
        handler = _event_handler(
            target.runtime, fn, "event", events.event_grid, only_type="Microsoft.Storage.BlobDeleted"
        )
        _register(target.fa.event_grid_trigger(arg_name="event"), target.fa, fn, handler)
        return
    translate = partial(events.blob_stream, container=trigger.bucket)
    handler = _event_handler(target.runtime, fn, "blob", translate)
    source = target.options.storage_source
    extra: dict[str, Any] = {"source": source} if source else {}
    binding = target.fa.blob_trigger(
        arg_name="blob",
        path=f"{trigger.bucket}/{{name}}",
        connection=target.options.storage_connection,
        **extra,
    )
    _register(binding, target.fa, fn, handler)


def register_changes(target: Target, fn: Function, trigger: ChangesTrigger) -> None:
    """A Cosmos DB trigger on the table's container, with its own leases and a retry policy."""
    options, spec = target.options, trigger.table.spec
    handler = _changes_handler(target.runtime, fn, spec.name, spec.partition_key, spec.sort_key)
    binding = target.fa.cosmos_db_trigger(
        arg_name="documents",
        connection=options.cosmos_connection,
        database_name=options.cosmos_database,
        container_name=options.cosmos_prefix + spec.name,
        lease_container_name=options.lease_container,
        # Functions on one container (a table's own and the outbox relay) each need
        # their own leases, or they would share out the feed instead of each reading it.
        lease_container_prefix=f"{fn.name}-",
        # An identity-based connection (data plane RBAC, as the ARM template sets) cannot create
        # containers; the template makes the lease container instead.
        create_lease_container_if_not_exists=not os.environ.get(
            f"{options.cosmos_connection}__accountEndpoint"
        ),
    )
    # The host does not retry a change feed batch by itself (portafn_azure.outcomes).
    retry = target.fa.retry(
        strategy="exponential_backoff",
        max_retry_count="5",
        minimum_interval="00:00:02",
        maximum_interval="00:05:00",
    )
    _register(binding, target.fa, fn, handler, retry=retry)


def register_event(target: Target, fn: Function, trigger: EventTrigger) -> None:
    """An Event Grid trigger; events of other types are logged and acknowledged."""
    handler = _event_handler(target.runtime, fn, "event", events.event_grid, only_type=trigger.type)
    _register(target.fa.event_grid_trigger(arg_name="event"), target.fa, fn, handler)


REGISTRARS: dict[type, Registrar] = {
    HttpTrigger: register_http,
    QueueTrigger: register_queue,
    TopicTrigger: register_topic,
    ScheduleTrigger: register_schedule,
    StorageTrigger: register_storage,
    ChangesTrigger: register_changes,
    EventTrigger: register_event,
}
"""The registration function for each trigger type (one Azure function per portafn function)."""


def _store_target() -> tuple[str, str]:
    """The database and container prefix the Cosmos store writes to, so a ``changes`` trigger
    watches the same containers: from ``PORTAFN_STORE`` when it is a ``cosmos://`` URL (the app
    setting is present when the worker indexes), else ``portafn``, the packaged default."""
    url = os.environ.get("PORTAFN_STORE", "")
    if url.startswith("cosmos://"):
        from portafn_azure.cosmos_store import endpoint_from_url

        try:
            _, database, prefix = endpoint_from_url(url)
        except ValueError:
            return DEFAULT_DATABASE, ""
        return database, prefix
    return DEFAULT_DATABASE, ""


def _register(
    decorator: Callable[[Any], Any],
    fa: Any,
    fn: Function,
    handler: Callable[..., Any],
    retry: Callable[[Any], Any] | None = None,
) -> None:
    handler.__name__ = fn.name.replace("-", "_")
    handler.__qualname__ = handler.__name__
    wrapped = decorator(handler)
    if retry is not None:
        wrapped = retry(wrapped)
    fa.function_name(name=fn.name)(wrapped)


def _invocation(context: Any) -> Invocation:
    return Invocation(request_id=getattr(context, "invocation_id", None), raw=context)


def _http_handler(runtime: Runtime, route_prefix: str) -> Callable[..., Any]:
    import azure.functions as func

    def handle(req: Any, context: Any) -> Any:
        try:
            request = to_request(req, route_prefix)
        except Exception:
            _log.exception("cannot translate the HTTP request")
            return func.HttpResponse(status_code=400)
        return to_azure_response(runtime.handle_http(request, _invocation(context)))

    # The worker checks these types at indexing (typing.get_type_hints): objects, never names.
    handle.__annotations__ = {"req": func.HttpRequest, "context": func.Context, "return": func.HttpResponse}
    return handle


def _event_handler(
    runtime: Runtime,
    fn: Function,
    arg: str,
    translate: Callable[..., Any],
    *,
    only_type: str | None = None,
    servicebus: bool = False,
    dead_letter: Callable[[Any, Exception], None] | None = None,
) -> Callable[..., Any]:
    """A handler taking the trigger object as ``arg``; a raise goes to the worker (host retries).

    With ``dead_letter``, a handler that ends in the dead-letter outcome has its message passed
    there and the invocation succeeds; if ``dead_letter`` raises, the original error is raised.
    """

    def handle(context: Any = None, **kwargs: Any) -> None:
        event = translate(kwargs[arg])
        if only_type is not None and event.type != only_type:
            _log.info(
                "event of another type acknowledged", extra={"event_type": event.type, "function": fn.name}
            )
            return
        try:
            runtime.handle_event(fn, event, _invocation(context))
        except Exception as exc:
            if dead_letter is None or outcome_of(exc) is not Outcome.DEAD_LETTER:
                raise
            try:
                dead_letter(kwargs[arg], exc)
            except Exception:
                # Never lose a message: the host retries it and poisons it after maxDequeueCount.
                _log.exception(
                    "could not move the message to its poison queue; it will be retried",
                    extra={"function": fn.name},
                )
                raise exc from None
            _log.warning(
                "message moved to the poison queue",
                extra={"function": fn.name, "message_id": event.id, "reason": reason_of(exc)},
            )

    return _with_signature(handle, arg, servicebus=servicebus)


def _to_poison(sink: PoisonSink, function: str, queue: str, msg: Any, error: Exception) -> None:
    """Send a Storage queue message that ended in ``DeadLetter`` to ``<queue>-poison``."""
    reason = reason_of(error) or type(error).__name__
    body = msg.get_body()
    content = poison_content(body if isinstance(body, bytes) else str(body).encode(), reason, function)
    sink(Poisoned(function, queue, poison_queue_name(queue), content, reason, type(error).__name__))


def _changes_handler(
    runtime: Runtime, fn: Function, table: str, pk: str, sk: str | None
) -> Callable[..., Any]:
    def handle(context: Any = None, **kwargs: Any) -> None:
        for change in events.cosmos_changes(kwargs["documents"], table, pk, sk):
            # One container holds the table's items and the outbox records attached to its
            # partitions; each function gets the one kind it asked for.
            if receivers([fn], change):
                runtime.handle_event(fn, change, _invocation(context))

    return _with_signature(handle, "documents")


def _with_signature(handle: Callable[..., Any], arg: str, *, servicebus: bool = False) -> Callable[..., Any]:
    """Give ``handle`` the signature the worker checks: the trigger argument and ``context``."""
    import azure.functions as func

    annotations: dict[str, Any] = {
        "msg": func.ServiceBusMessage if servicebus else func.QueueMessage,
        "timer": func.TimerRequest,
        "blob": func.InputStream,
        "event": func.EventGridEvent,
        "documents": func.DocumentList,
    }

    def call(*args: Any, **kwargs: Any) -> None:
        bound = dict(zip((arg, "context"), args, strict=False)) | kwargs
        handle(bound.get("context"), **{arg: bound[arg]})

    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotations[arg]),
            inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=func.Context),
        ],
        return_annotation=None,
    )
    call.__annotations__ = {arg: annotations[arg], "context": func.Context, "return": None}
    return call
