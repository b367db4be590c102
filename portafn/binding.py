"""Binding handler parameters from annotations, decided once at registration.

HTTP handlers take, by annotation: ``Context``, ``HttpRequest``, path parameters (named in the
template, typed), one body (a pydantic model, ``bytes``, ``dict`` or ``list``, or any type on a
parameter named ``body``, ``str`` included) and query parameters (any other simple type; ``list[X]``
for repeated keys). Event handlers take one event
(``Message[T]``, ``Schedule``, ``StorageEvent``, ``Change[T]``, ``Event[T]``) and optionally a ``Context``.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from portafn import constraints
from portafn.context import Context
from portafn.errors import EventDataError, RegistrationError
from portafn.events import Change, Event, Message, Schedule, StorageEvent
from portafn.http import Header, HttpRequest
from portafn.triggers import Trigger

if TYPE_CHECKING:
    from portafn.depends import Depends, Node

Source = Literal["context", "request", "path", "query", "header", "body", "depends"]
_SCALARS = (str, int, float, bool, Enum)
_EVENT_FOR_KIND: dict[str, type[Event[Any]]] = {
    "queue": Message,
    "topic": Message,
    "schedule": Schedule,
    "storage": StorageEvent,
    "changes": Change,
    "event": Event,
}


class BindError(Exception):
    """A request that cannot be bound: ``status`` and one entry per bad field."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.errors = errors or []
        super().__init__(detail)


@dataclass(slots=True)
class Param:
    """How one parameter is filled."""

    name: str
    source: Source
    adapter: TypeAdapter[Any] | None = None
    default: Any = inspect.Parameter.empty
    many: bool = False
    body_kind: Literal["model", "bytes", "str", "json"] = "json"
    header: str | None = None
    depends: Node | None = None
    # A bare ``str`` with no constraints: a string value is already what the handler gets.
    plain: bool = False


@dataclass(slots=True)
class EventParam:
    """How an event handler's event parameter is typed."""

    name: str
    event_type: type[Event[Any]]
    data_adapter: TypeAdapter[Any] | None


def _dependency(annotation: Any) -> Depends | None:
    # A Depends marker exists only once portafn.depends is imported (``portafn.Depends`` imports
    # it), so an app that uses none never loads that module.
    if "portafn.depends" not in sys.modules:
        return None
    from portafn.depends import dependency

    return dependency(annotation)


def _compiled(handler: str, marker: Depends) -> Node:
    from portafn.depends import compile_dependency

    return compile_dependency(handler, marker)


def _origin_is(annotation: Any, cls: type) -> bool:
    meta = getattr(annotation, "__pydantic_generic_metadata__", None)
    origin = meta.get("origin") if meta else None
    candidate = origin or annotation
    return inspect.isclass(candidate) and issubclass(candidate, cls)


def _generic_arg(annotation: Any) -> Any:
    meta = getattr(annotation, "__pydantic_generic_metadata__", None)
    args = meta.get("args") if meta else ()
    return args[0] if args else Any


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        args = [a for a in typing.get_args(annotation) if a is not NoneType]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_scalar(annotation: Any) -> bool:
    annotation = _strip_optional(annotation)
    if typing.get_origin(annotation) is Literal:
        return True
    return inspect.isclass(annotation) and issubclass(annotation, _SCALARS)


def _hints(func: Callable[..., Any], name: str, *, extras: bool = False) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=extras)
    except Exception as exc:  # NameError for forward references, TypeError for bad annotations
        raise RegistrationError(name, f"cannot read annotations: {exc}") from None


def _params(func: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(func).parameters.values())


def _element(annotation: Any) -> Any:
    args = [a for a in typing.get_args(_strip_optional(annotation)) if a is not Ellipsis]
    return constraints.unannotated(args[0]) if args else Any


class HttpBinder:
    """Fills an HTTP handler's parameters from a request."""

    def __init__(self, name: str, func: Callable[..., Any], path_params: tuple[str, ...]) -> None:
        self.name = name
        hints = _hints(func, name, extras=True)
        self.params: list[Param] = []
        body_seen: str | None = None
        for p in _params(func):
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RegistrationError(name, f"parameter {p.name!r}: *args and **kwargs cannot be bound")
            if p.name not in hints:
                raise RegistrationError(name, f"parameter {p.name!r} needs a type annotation")
            full, default = constraints.with_field_default(hints[p.name], p.default)
            ann = constraints.unannotated(full)
            if ann is Context:
                self.params.append(Param(p.name, "context"))
            elif ann is HttpRequest:
                self.params.append(Param(p.name, "request"))
            elif dep := _dependency(full):
                self.params.append(Param(p.name, "depends", depends=_compiled(name, dep)))
            elif header := constraints.marker(full, Header):
                self.params.append(self._header_param(name, p.name, full, ann, default, header))
            elif p.name in path_params:
                if not _is_scalar(ann):
                    raise RegistrationError(
                        name, f"path parameter {p.name!r} must be a simple type, not {ann!r}"
                    )
                constraints.check(full, _strip_optional(ann), many=False, func=name, param=p.name)
                self.params.append(Param(p.name, "path", TypeAdapter(full), plain=full is str))
            elif p.name != "body" and (_is_scalar(ann) or self._is_scalar_list(ann)):
                many = not _is_scalar(ann)
                element = _element(ann) if many else _strip_optional(ann)
                constraints.check(full, element, many=many, func=name, param=p.name)
                self.params.append(Param(p.name, "query", TypeAdapter(full), default, many))
            else:
                kind = self._body_kind(name, p.name, ann)
                if body_seen:
                    raise RegistrationError(
                        name,
                        f"parameters {body_seen!r} and {p.name!r} both look like the body; keep one",
                    )
                body_seen = p.name
                self.params.append(Param(p.name, "body", TypeAdapter(full), default, body_kind=kind))
        missing = set(path_params) - {p.name for p in self.params if p.source == "path"}
        self.unbound_path = sorted(missing)
        self.has_depends = any(p.depends is not None for p in self.params)
        self._refuse_async_dependencies(name, func)

    def _refuse_async_dependencies(self, name: str, func: Callable[..., Any]) -> None:
        # Values an async dependency makes (a pooled connection, a session) belong to the loop and
        # are for code that awaits on it; a plain def handler cannot, so the pairing is refused at
        # import rather than failing at the first request.
        if inspect.iscoroutinefunction(func):
            return
        for p in self.params:
            found = p.depends.async_names() if p.depends is not None else []
            if found:
                raise RegistrationError(
                    name,
                    f"dependency {found[0]} is async def: only an async def handler can use it "
                    f"(make {name} async, or {found[0]} a plain function)",
                )

    def _header_param(self, func: str, name: str, full: Any, ann: Any, default: Any, header: Header) -> Param:
        many = not _is_scalar(ann)
        if many and not self._is_scalar_list(ann):
            raise RegistrationError(func, f"header parameter {name!r} must be a simple type or a list of one")
        element = _element(ann) if many else _strip_optional(ann)
        constraints.check(full, element, many=many, func=func, param=name)
        header_name = header.name or name.replace("_", "-")
        return Param(name, "header", TypeAdapter(full), default, many, header=header_name)

    @staticmethod
    def _is_scalar_list(ann: Any) -> bool:
        ann = _strip_optional(ann)
        if typing.get_origin(ann) in (list, tuple, set, frozenset):
            args = typing.get_args(ann)
            return bool(args) and all(a is Ellipsis or _is_scalar(constraints.unannotated(a)) for a in args)
        return False

    @staticmethod
    def _body_kind(func: str, param: str, ann: Any) -> Literal["model", "bytes", "str", "json"]:
        base = _strip_optional(ann)
        if base is bytes:
            return "bytes"
        if base is str:
            return "str"
        if inspect.isclass(base) and issubclass(base, BaseModel):
            return "model"
        origin = typing.get_origin(base) or base
        if origin in (dict, list) or base is Any:
            return "json"
        try:
            TypeAdapter(ann)
        except Exception:
            raise RegistrationError(func, f"parameter {param!r} of type {ann!r} cannot be bound") from None
        return "json"

    def bind(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        """Keyword arguments for the handler, or ``BindError`` listing every bad field."""
        kwargs: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for p in self.params:
            if p.source == "context":
                kwargs[p.name] = ctx
            elif p.source == "depends":
                continue  # after validation: a dependency never runs for a request refused as invalid
            elif p.source == "request":
                kwargs[p.name] = request
            elif p.source == "path":
                self._bind_path(p, request.path_params.get(p.name), kwargs, errors)
            elif p.source == "query":
                self._bind_values(p, request.query.get(p.name), ("query", p.name), kwargs, errors)
            elif p.source == "header":
                assert p.header is not None
                values = request.headers.get_list(p.header) if p.many else request.headers.get_all(p.header)
                self._bind_values(p, values, ("header", p.header), kwargs, errors)
            else:
                self._bind_body(p, request, kwargs, errors)
        if errors:
            raise BindError(400, "The request has invalid or missing fields.", errors)
        if self.has_depends:
            cache: dict[Callable[..., Any], Any] = {}
            for p in self.params:
                if p.depends is not None:
                    kwargs[p.name] = p.depends.resolve(request, ctx, cache)
        return kwargs

    @classmethod
    def _bind_path(
        cls, p: Param, value: str | None, kwargs: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        if p.plain and type(value) is str:
            kwargs[p.name] = value  # a bare str parameter: nothing to convert
        else:
            cls._convert(p, value, ("path", p.name), kwargs, errors)

    @classmethod
    def _bind_values(
        cls,
        p: Param,
        values: list[str] | None,
        loc: tuple[str, str],
        kwargs: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> None:
        if not values:
            if p.default is inspect.Parameter.empty:
                errors.append({"loc": list(loc), "msg": "Field required", "type": "missing"})
            else:
                kwargs[p.name] = p.default
            return
        cls._convert(p, values if p.many else values[-1], loc, kwargs, errors)

    @staticmethod
    def _convert(
        p: Param,
        value: Any,
        loc: tuple[str, ...],
        kwargs: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> None:
        assert p.adapter is not None
        try:
            kwargs[p.name] = p.adapter.validate_python(value)
        except ValidationError as exc:
            errors.extend(_errors(exc, loc))

    @staticmethod
    def _bind_body(
        p: Param, request: HttpRequest, kwargs: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        assert p.adapter is not None
        if p.body_kind == "bytes":
            kwargs[p.name] = request.body
            return
        if p.body_kind == "str":
            kwargs[p.name] = request.text()
            return
        if not request.body:
            if p.default is not inspect.Parameter.empty:
                kwargs[p.name] = p.default
            else:
                errors.append({"loc": ["body"], "msg": "A JSON body is required", "type": "missing"})
            return
        ctype = request.content_type
        if ctype is not None and ctype != "application/json" and not ctype.endswith("+json"):
            raise BindError(415, f"Expected a JSON body, got {ctype!r}.")
        try:
            kwargs[p.name] = p.adapter.validate_json(request.body)
        except ValidationError as exc:
            errors.extend(_errors(exc, ("body",)))


def _errors(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    """Pydantic errors without the input values (they may hold secrets), under a location prefix."""
    out: list[dict[str, Any]] = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = list(prefix) + [str(x) for x in e["loc"]]
        if e["type"] == "json_invalid":
            loc = list(prefix)
        out.append({"loc": loc, "msg": e["msg"], "type": e["type"]})
    return out


class EventBinder:
    """Fills an event handler's parameters: the typed event, and the context if asked for."""

    def __init__(self, name: str, func: Callable[..., Any], trigger: Trigger) -> None:
        self.name = name
        hints = _hints(func, name)
        expected = _EVENT_FOR_KIND[trigger.kind]
        self.context_param: str | None = None
        self.event: EventParam | None = None
        for p in _params(func):
            if p.name not in hints:
                raise RegistrationError(name, f"parameter {p.name!r} needs a type annotation")
            ann = hints[p.name]
            if ann is Context:
                self.context_param = p.name
                continue
            if self.event is not None or not _origin_is(ann, Event):
                raise RegistrationError(
                    name,
                    f"parameter {p.name!r}: a {trigger.kind} function takes one {expected.__name__} "
                    f"and optionally a Context, not {ann!r}",
                )
            if not _origin_is(ann, expected):
                raise RegistrationError(
                    name,
                    f"parameter {p.name!r}: a {trigger.kind} function receives {expected.__name__}, not {ann!r}",
                )
            arg = _generic_arg(ann)
            adapter = None if arg is Any else TypeAdapter(arg)
            self.event = EventParam(p.name, ann, adapter)
        if self.event is None:
            raise RegistrationError(
                name, f"a {trigger.kind} function needs a parameter of type {expected.__name__}"
            )

    def bind(self, event: Event[Any], ctx: Context) -> dict[str, Any]:
        """Keyword arguments for the handler; ``EventDataError`` if the data does not validate."""
        kwargs: dict[str, Any] = {}
        if self.context_param:
            kwargs[self.context_param] = ctx
        assert self.event is not None
        kwargs[self.event.name] = self._typed(event)
        return kwargs

    def _typed(self, event: Event[Any]) -> Event[Any]:
        spec = self.event
        assert spec is not None
        if spec.data_adapter is None or not isinstance(event, Message | Change | Event):
            return event
        values = dict(event.__dict__)
        try:
            if isinstance(event, Change):
                for field in ("old", "new"):
                    if values[field] is not None:
                        values[field] = spec.data_adapter.validate_python(values[field])
            elif isinstance(event, Message):
                values["data"] = self._message_data(event, spec.data_adapter)
            elif event.data is not None:
                values["data"] = spec.data_adapter.validate_python(event.data)
        except ValidationError as exc:
            raise EventDataError(self.name, _errors(exc, ("data",))) from None
        typed = spec.event_type.model_construct(**values)
        typed.raw = event.raw
        return typed

    @staticmethod
    def _message_data(msg: Message[Any], adapter: TypeAdapter[Any]) -> Any:
        target = adapter.core_schema.get("type")
        if target == "bytes":
            return msg.body
        if target == "str":
            return msg.text()
        if msg.body:
            try:
                return adapter.validate_json(msg.body)
            except ValidationError as exc:
                if any(e["type"] == "json_invalid" for e in exc.errors()):
                    # A text payload for a non-JSON type (an int sent as "42" is JSON; a bare word is not).
                    return adapter.validate_python(msg.text())
                raise
        return adapter.validate_python(msg.data)


def dumps(value: Any) -> str:
    """JSON text of a value, models included."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str)
