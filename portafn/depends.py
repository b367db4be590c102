"""Dependencies in handler parameters: ``db: Annotated[Db, Depends(get_db)]``.

A dependency is a function whose parameters are themselves only a ``Context``, an ``HttpRequest``
or other dependencies. The tree is read once, at registration (a cycle or an unsupported
parameter is a ``RegistrationError`` naming the handler); per request each dependency function
runs at most once, however many parameters ask for it, and its value is shared by them. A
dependency may raise ``HttpError`` (or anything an exception handler maps) to refuse the request.

An ``async def`` dependency is awaited on the process's one event loop (``portafn.aio``), the loop
async handlers and start hooks run on, so a client made at start can serve it; only an async
handler may use one (a sync handler asking for it is a ``RegistrationError``), since a sync
handler on a worker thread has no loop of its own. Plain dependencies in the same tree still run
on the invocation's thread, never blocking the loop. Generators (sync or async) and per-process
caching are left out on purpose: for a value made once per process, use ``App.on_start`` or
``portafn.lazy.Lazy``.
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
    """One dependency, its arguments compiled: each a context, the request or another node;
    ``is_async`` when the function is ``async def``."""

    func: Callable[..., Any]
    args: tuple[tuple[str, str | Node], ...]
    is_async: bool = False

    def async_names(self) -> list[str]:
        """The names of the ``async def`` dependencies in this node's tree, itself included."""
        names = [getattr(self.func, "__name__", repr(self.func))] if self.is_async else []
        for _, source in self.args:
            if isinstance(source, Node):
                names += [n for n in source.async_names() if n not in names]
        return names

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
        value = self.func(**kwargs)
        if self.is_async:
            from portafn import aio  # imports asyncio: only apps with async code pay for it

            value = aio.run(value)
        cache[self.func] = value
        return value


def dependency(annotation: Any) -> Depends | None:
    """The ``Depends`` marker of a parameter's annotation, if it has one."""
    return marker(annotation, Depends)


def compile_dependency(handler: str, marker_: Depends, chain: Iterable[Callable[..., Any]] = ()) -> Node:
    """The dependency's node, its own dependencies compiled; refuses cycles and generators."""
    func = marker_.func
    seen = tuple(chain)
    name = getattr(func, "__name__", repr(func))
    if func in seen:
        path = " -> ".join(getattr(f, "__name__", "?") for f in (*seen, func))
        raise RegistrationError(handler, f"dependency cycle: {path}")
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise RegistrationError(
            handler,
            f"dependency {name} must be a function or an async function, not a generator "
            "(portafn runs no teardown after the handler; use App.on_start for lasting resources)",
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
    return Node(func, tuple(args), is_async=inspect.iscoroutinefunction(func))
