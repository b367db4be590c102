"""Dependencies in handler parameters: ``db: Annotated[Db, Depends(get_db)]``.

A dependency is a plain function whose parameters are themselves only a ``Context``, an
``HttpRequest`` or other dependencies. The tree is read once, at registration (a cycle or an
unsupported parameter is a ``RegistrationError`` naming the handler); per request each dependency
function runs at most once, however many parameters ask for it, and its value is shared by them.
A dependency may raise ``HttpError`` (or anything an exception handler maps) to refuse the request.
Generators, async dependencies and per-process caching are left out on purpose: for a value made
once per process, use ``App.on_start`` or ``portafn.lazy.Lazy``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portafn.constraints import marker, unannotated
from portafn.context import Context
from portafn.errors import RegistrationError
from portafn.http import HttpRequest

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True, slots=True)
class Depends:
    """Marks a parameter as filled by calling ``func`` for the request (once per request)."""

    func: Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Node:
    """One dependency, its arguments compiled: each a context, the request or another node."""

    func: Callable[..., Any]
    args: tuple[tuple[str, str | Node], ...]

    def resolve(self, request: HttpRequest, ctx: Context, cache: dict[Callable[..., Any], Any]) -> Any:
        """The dependency's value for this request, made once and kept in ``cache``."""
        if self.func in cache:
            return cache[self.func]
        kwargs: dict[str, Any] = {}
        for name, source in self.args:
            if source == "context":
                kwargs[name] = ctx
            elif source == "request":
                kwargs[name] = request
            else:
                assert isinstance(source, Node)
                kwargs[name] = source.resolve(request, ctx, cache)
        value = cache[self.func] = self.func(**kwargs)
        return value


def dependency(annotation: Any) -> Depends | None:
    """The ``Depends`` marker of a parameter's annotation, if it has one."""
    return marker(annotation, Depends)


def compile_dependency(handler: str, marker_: Depends, chain: Iterable[Callable[..., Any]] = ()) -> Node:
    """The dependency's node, its own dependencies compiled; refuses cycles and async functions."""
    func = marker_.func
    seen = tuple(chain)
    name = getattr(func, "__name__", repr(func))
    if func in seen:
        path = " -> ".join(getattr(f, "__name__", "?") for f in (*seen, func))
        raise RegistrationError(handler, f"dependency cycle: {path}")
    if inspect.iscoroutinefunction(func) or inspect.isgeneratorfunction(func):
        raise RegistrationError(
            handler, f"dependency {name} must be a plain function (not async, not a generator)"
        )
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise RegistrationError(handler, f"dependency {name}: cannot read annotations: {exc}") from None
    args: list[tuple[str, str | Node]] = []
    for p in inspect.signature(func).parameters.values():
        ann = hints.get(p.name)
        inner = dependency(ann) if ann is not None else None
        if inner is not None:
            args.append((p.name, compile_dependency(handler, inner, (*seen, func))))
        elif unannotated(ann) is Context:
            args.append((p.name, "context"))
        elif unannotated(ann) is HttpRequest:
            args.append((p.name, "request"))
        elif p.default is inspect.Parameter.empty:
            raise RegistrationError(
                handler,
                f"dependency {name}: parameter {p.name!r} must be a Context, an HttpRequest or "
                "Annotated[X, Depends(f)]",
            )
    return Node(func, tuple(args))
