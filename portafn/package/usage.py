"""Which of the app's tables each function touches, and which topics it publishes on, found by
reading the handler's code objects.

Permissions are granted per function from this, so a function that never names a table gets no
access to it. The walk follows names the handler (and the helpers it calls in the user's own
package, and modules of that package) looks up; a function can widen the set explicitly with
``options["tables"]`` when it reaches tables in ways the walk cannot see.
"""

from __future__ import annotations

import dis
import types
from typing import Any

from portafn.app import App, Function


def tables_used(app: App, fn: Function) -> list[str]:
    """The names of the app's tables that ``fn`` reads or writes, sorted."""
    return _walk(app, fn)[0]


def topics_published(app: App, fn: Function) -> list[str]:
    """The topics ``fn`` publishes on with ``ctx.publish("<literal>", ...)`` (or a module-level
    str constant), sorted; ``options["topics"]`` adds topics the walk cannot see (computed names)."""
    return _walk(app, fn)[1]


def _walk(app: App, fn: Function) -> tuple[list[str], list[str]]:
    walker = _Walker(app, fn)
    handler = fn.handler
    if isinstance(handler, types.FunctionType):
        walker.visit_function(handler)
    else:
        walker.visit_object(handler, ())
    return sorted(walker.tables), sorted(walker.topics)


class _Walker:
    """One walk from a handler: the tables it reaches and the topics it publishes on."""

    def __init__(self, app: App, fn: Function) -> None:
        self.by_id = {id(table): name for name, table in app.tables.items()}
        self.top = fn.handler.__module__.split(".")[0]
        self.tables: set[str] = set(fn.options.get("tables", ()))
        self.topics: set[str] = set(fn.options.get("topics", ()))
        self.seen: set[int] = set()

    def own(self, obj: Any) -> bool:
        """Whether ``obj`` belongs to the user's top-level package (the walk stays inside it)."""
        module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
        return isinstance(module, str) and module.split(".")[0] == self.top

    def visit_object(self, obj: Any, attrs: tuple[str, ...]) -> None:
        """A value the code names: a table, or something that may lead to one."""
        if id(obj) in self.by_id:
            self.tables.add(self.by_id[id(obj)])
        elif isinstance(obj, types.FunctionType) and self.own(obj):
            self.visit_function(obj)
        elif isinstance(obj, types.ModuleType) and self.own(obj):
            # `db.orders.insert(...)`: the attribute names the code uses, looked up on the module.
            for attr in attrs:
                self.visit_object(getattr(obj, attr, None), ())
        elif isinstance(obj, types.MethodType):
            self.visit_object(obj.__func__, ())

    def visit_code(self, code: types.CodeType, globs: dict[str, Any]) -> None:
        """The globals a code object names, its ``publish`` topics, and its nested code."""
        if id(code) in self.seen:
            return
        self.seen.add(id(code))
        for name in code.co_names:
            if name in globs:
                self.visit_object(globs[name], code.co_names)
        if "publish" in code.co_names:
            self.topics.update(_published_topics(code, globs))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.visit_code(const, globs)

    def visit_function(self, func: types.FunctionType) -> None:
        """A function's code and the values its closure captured."""
        self.visit_code(func.__code__, func.__globals__)
        for cell in func.__closure__ or ():
            try:
                self.visit_object(cell.cell_contents, func.__code__.co_names)
            except ValueError:  # an empty cell
                continue


def _published_topics(code: types.CodeType, globs: dict[str, Any]) -> set[str]:
    """First arguments of ``<x>.publish(...)`` calls in ``code`` that are str constants: the
    bytecode loads the ``publish`` attribute, then the topic, with nothing in between."""
    out: set[str] = set()
    previous: dis.Instruction | None = None
    for ins in dis.get_instructions(code):
        if (
            previous is not None
            and previous.opname in ("LOAD_METHOD", "LOAD_ATTR")
            and previous.argval == "publish"
        ):
            if ins.opname == "LOAD_CONST" and isinstance(ins.argval, str):
                out.add(ins.argval)
            elif ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(globs.get(ins.argval), str):
                out.add(globs[ins.argval])
        if ins.opname not in ("CACHE", "EXTENDED_ARG"):
            previous = ins
    return out
