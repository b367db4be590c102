"""What each function does to each table, found by reading its code: the store operations per table.

``tables_used`` (``usage.py``) says which tables a function names; this says what it does with
them, so a provider can grant a reader only reads. The walk reads the bytecode of the handler and
of the helpers it reaches in the user's own package: a table loaded and then called
(``orders.get(...)``) gets that method's operations; a table handed to a transaction method
(``tx.insert(orders, ...)``) gets that write; a table used any other way (passed to a helper,
kept in a list) gets every operation, since the walk cannot see what happens to it.

The library reaches tables the user's code never names, and those are added here too:

- an ``@idempotent`` function reads, writes and deletes its idempotency record;
- a function that publishes with ``tx=`` (or stages into the outbox) writes an outbox record in
  its transaction;
- the outbox's relay reads, lists and deletes records; its sweep lists and deletes them;
- code that uses an event stream (``EventStream`` or ``Aggregate``) reads and appends its events
  and reads and writes its snapshots (and stages into the outbox if the stream publishes);
- a projection's change function reads the stream's events and its own checkpoints, writes the
  checkpoints, and does what its ``apply`` does to the views (walked like a handler).

Operations are the store port's, provider-neutral; each adapter's packager maps them onto its
own permissions.
"""

from __future__ import annotations

import dis
import types
from collections.abc import Iterator
from typing import Any

from portafn.app import App, Function
from portafn.eventstore import Aggregate, EventStream
from portafn.store.port import TableSpec
from portafn.store.table import Table

# The store operations a function may perform on a table.
GET = "get"  # one item by key
QUERY = "query"  # a partition's items, a page at a time
BATCH_GET = "batch_get"  # many items by key
PUT = "put"  # insert, put, replace (conditional or not)
DELETE = "delete"  # one item by key
BATCH_WRITE = "batch_write"  # many puts or deletes without a transaction
CHECK = "check"  # a condition on an item inside a transaction
CHANGES = "changes"  # reading the table's change source from the code (tests and dev)
OPERATIONS = frozenset({GET, QUERY, BATCH_GET, PUT, DELETE, BATCH_WRITE, CHECK, CHANGES})
READS = frozenset({GET, QUERY, BATCH_GET, CHANGES})

# Table methods (portafn.store.table.Table) and what each one asks of the store. `insert` reads
# too when the table has a TTL: an expired item still holding the key is read, then replaced.
TABLE_METHODS: dict[str, frozenset[str]] = {
    "get": frozenset({GET}),
    "get_versioned": frozenset({GET}),
    "insert": frozenset({PUT}),
    "put": frozenset({PUT}),
    "replace": frozenset({PUT}),
    "delete": frozenset({DELETE}),
    "update": frozenset({GET, PUT}),
    "query": frozenset({QUERY}),
    "batch_get": frozenset({BATCH_GET}),
    "batch_put": frozenset({BATCH_WRITE}),
    "batch_delete": frozenset({BATCH_WRITE}),
    "changes": frozenset({CHANGES}),
    "read_changes": frozenset({CHANGES}),
}
# Names on a Table that touch no item (key helpers, metadata).
TABLE_NAMES_NO_ACCESS = frozenset({"key", "key_of", "name", "spec", "model", "store_name", "requires"})
# Transaction methods (portafn.store.transaction.Transaction) that take a table first.
TRANSACTION_METHODS: dict[str, frozenset[str]] = {
    "insert": frozenset({PUT}),
    "put": frozenset({PUT}),
    "replace": frozenset({PUT}),
    "delete": frozenset({DELETE}),
    "check": frozenset({CHECK}),
}
IDEMPOTENCY_OPERATIONS = frozenset({GET, PUT, DELETE})
RELAY_OPERATIONS = frozenset({GET, QUERY, DELETE})
SWEEP_OPERATIONS = frozenset({QUERY, DELETE})
STAGE_OPERATIONS = frozenset({PUT})
# Event streams (portafn.eventstore): an append checks the prior version (get) and inserts; reads
# and the current version query; an aggregate's snapshot is read, inserted or replaced.
EVENTS_OPERATIONS = frozenset({GET, QUERY, PUT})
SNAPSHOT_OPERATIONS = frozenset({GET, PUT})
PROJECTOR_EVENTS_OPERATIONS = frozenset({QUERY})
CHECKPOINT_OPERATIONS = frozenset({GET, PUT})

Access = dict[str, frozenset[str]]
_ATTRS = ("LOAD_ATTR", "LOAD_METHOD")
_SKIP = ("CACHE", "EXTENDED_ARG", "PUSH_NULL", "PRECALL", "NOP")


def table_access(app: App, fn: Function) -> Access:
    """The store operations ``fn`` performs on each of the tables it uses, by table name.

    ``options["tables"]`` (tables reached in ways the walk cannot see) grants every operation on
    each table it names.
    """
    access: dict[str, set[str]] = {}
    for name in fn.options.get("tables", ()):
        access.setdefault(str(name), set()).update(OPERATIONS)
    walk = _Walk(app, fn.handler)
    for name, ops in walk.run():
        access.setdefault(name, set()).update(ops)
    for name, ops in _library_access(app, fn, walk):
        access.setdefault(name, set()).update(ops)
    return {name: frozenset(ops) for name, ops in sorted(access.items()) if ops}


def tables_needed(app: App) -> dict[str, TableSpec]:
    """Every table the app's functions may touch, by name: the declared ones and the idempotency
    table ``@idempotent`` falls back to when the app declares none (a template must create it)."""
    specs = {name: table.spec for name, table in app.tables.items()}
    for fn in app.functions.values():
        table = _idempotency_table(app, fn)
        if table is not None and table.name not in specs:
            specs[table.name] = table.spec
    return dict(sorted(specs.items()))


# -- the library's own tables ------------------------------------------------------------------


def _library_access(app: App, fn: Function, walk: _Walk) -> Iterator[tuple[str, frozenset[str]]]:
    idempotency = _idempotency_table(app, fn)
    if idempotency is not None:
        yield idempotency.name, IDEMPOTENCY_OPERATIONS
    yield from _projector_access(app, fn)
    outbox = _outbox(app)
    if outbox is None:
        return
    from portafn.reliability.outbox import RELAY_FUNCTION, SWEEP_FUNCTION

    library = getattr(fn.handler, "__module__", "") == "portafn.reliability.outbox"
    if library and fn.name == RELAY_FUNCTION:
        yield outbox.table.name, RELAY_OPERATIONS
    elif library and fn.name == SWEEP_FUNCTION:
        yield outbox.table.name, SWEEP_OPERATIONS
    elif _stages(walk) or any(s.publish is not None for s in walk.streams):
        yield outbox.table.name, STAGE_OPERATIONS


def _projector_access(app: App, fn: Function) -> Iterator[tuple[str, frozenset[str]]]:
    """A projection's change function: the stream's events (or the source table's change stream),
    its checkpoints, and its ``apply``."""
    from portafn.projections.base import FUNCTION_PREFIX
    from portafn.projections.projection import Projection
    from portafn.projections.table_projection import TableProjection

    modules = (Projection.__module__, TableProjection.__module__)
    if getattr(fn.handler, "__module__", "") not in modules or not fn.name.startswith(FUNCTION_PREFIX):
        return
    projection = Projection.of(app, fn.name.removeprefix(FUNCTION_PREFIX))
    # A table projector reads its source only through the change stream the trigger grants.
    if isinstance(projection, Projection):
        yield projection.source.table.name, PROJECTOR_EVENTS_OPERATIONS
    # Stores whose transactions span tables keep positions in a table; the others attach them to
    # the first view's partitions, which the view's own operations already cover.
    yield projection.checkpoint_table.name, CHECKPOINT_OPERATIONS
    yield from _Walk(app, projection.apply).run()


def _outbox(app: App) -> Any:
    from portafn.reliability.outbox import Outbox
    from portafn.reliability.publish import PublishError

    try:
        return Outbox.of(app)
    except PublishError:  # the app has no outbox: nothing stages or relays records
        return None


def _idempotency_table(app: App, fn: Function) -> Table[Any] | None:
    """The table an ``@idempotent`` handler keeps its records in (its ``table=``, else the default
    one of that name), or None for a handler without the decorator."""
    handler = fn.handler
    if not getattr(handler, "__portafn_idempotent__", False):
        return None
    from portafn.reliability.idempotency import TABLE_NAME, _new_table

    for value in _closure(handler).values():
        if isinstance(value, types.FunctionType):
            given = _closure(value).get("table")
            if isinstance(given, Table):
                return given
    declared = app.tables.get(TABLE_NAME)
    return declared if declared is not None else _new_table()


def _stages(walk: _Walk) -> bool:
    """Whether the walked code publishes inside a transaction (``publish(..., tx=...)``) or stages
    into the outbox (``outbox.stage(tx, ...)``)."""
    return any(
        "stage" in code.co_names or ("publish" in code.co_names and _passes_tx(code)) for code in walk.codes()
    )


def _passes_tx(code: types.CodeType) -> bool:
    # Keyword names of a call are a constant tuple (KW_NAMES on 3.11-3.12, CALL_KW on 3.13).
    return any(isinstance(const, tuple) and "tx" in const for const in code.co_consts)


def _closure(func: Any) -> dict[str, Any]:
    code = getattr(func, "__code__", None)
    cells = getattr(func, "__closure__", None) or ()
    if code is None:
        return {}
    out: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return out


# -- the walk over the user's code -------------------------------------------------------------


class _Walk:
    """Reads the handler's code and the user's helpers it reaches, yielding (table, operations);
    the event streams it uses are kept in ``streams``."""

    def __init__(self, app: App, handler: Any) -> None:
        self.by_id: dict[int, Table[Any]] = {id(t): t for t in app.tables.values()}
        self.top = getattr(handler, "__module__", "").split(".")[0]
        self.handler = handler
        self.streams: list[EventStream[Any]] = []
        self.seen: set[int] = set()
        self.found: list[tuple[str, frozenset[str]]] = []
        self._codes: list[types.CodeType] = []

    def run(self) -> list[tuple[str, frozenset[str]]]:
        """Walk once; the (table name, operations) pairs found."""
        if not self.seen:
            self._visit(self.handler)
        return self.found

    def codes(self) -> list[types.CodeType]:
        """Every code object the walk read."""
        self.run()
        return self._codes

    def _own(self, obj: Any) -> bool:
        module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
        return isinstance(module, str) and module.split(".")[0] == self.top

    def _visit(self, obj: Any) -> None:
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        if isinstance(obj, types.FunctionType) and self._own(obj):
            self._code(obj.__code__, obj.__globals__, _closure(obj))

    def _code(self, code: types.CodeType, globs: dict[str, Any], cells: dict[str, Any]) -> None:
        if id(code) in self.seen:
            return
        self.seen.add(id(code))
        self._codes.append(code)
        instructions = [i for i in dis.get_instructions(code) if i.opname not in _SKIP]
        for index, ins in enumerate(instructions):
            value = self._resolve(ins, instructions[index - 1] if index else None, globs, cells)
            if isinstance(value, Table) and id(value) in self.by_id:
                self.found.append((value.name, _use(value, instructions, index)))
            elif isinstance(value, EventStream | Aggregate):
                self._stream(value)
            elif value is not None:
                self._visit(value)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self._code(const, globs, cells)

    def _stream(self, used: EventStream[Any] | Aggregate[Any, Any]) -> None:
        stream = used.stream if isinstance(used, Aggregate) else used
        self.streams.append(stream)
        self.found.append((stream.table.name, EVENTS_OPERATIONS))
        if isinstance(used, Aggregate):  # loading reads the snapshot and may store a fresher one
            self.found.append((stream.snapshots.name, SNAPSHOT_OPERATIONS))

    def _resolve(
        self,
        ins: dis.Instruction,
        previous: dis.Instruction | None,
        globs: dict[str, Any],
        cells: dict[str, Any],
    ) -> Any:
        """The object an instruction loads, where the walk can know it: a global, a closure cell,
        or an attribute of one of the user's modules (``db.orders``)."""
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            return globs.get(str(ins.argval))
        if ins.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
            return cells.get(str(ins.argval))
        if ins.opname in _ATTRS and previous is not None:
            base = self._resolve(previous, None, globs, cells)
            if isinstance(base, types.ModuleType) and self._own(base):
                return getattr(base, str(ins.argval), None)
        return None


def _use(table: Table[Any], instructions: list[dis.Instruction], index: int) -> frozenset[str]:
    """What the code does with the table loaded at ``instructions[index]``."""
    after = instructions[index + 1] if index + 1 < len(instructions) else None
    if after is not None and after.opname in _ATTRS:
        method = str(after.argval)
        if method in TABLE_NAMES_NO_ACCESS:
            return frozenset()
        ops = TABLE_METHODS.get(method)
        if ops is not None:
            return ops | frozenset({GET}) if method == "insert" and table.spec.ttl_field else ops
    before = instructions[index - 1] if index else None
    if before is not None and before.opname in _ATTRS and str(before.argval) in TRANSACTION_METHODS:
        return TRANSACTION_METHODS[str(before.argval)]
    return OPERATIONS
