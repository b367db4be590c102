"""Local change delivery: feed a table's change source to its ``@app.changes`` functions.

On the clouds, DynamoDB Streams, the Cosmos change feed and Firestore document events call the
functions. Locally nothing does, so the local client calls ``deliver_changes`` after each
invocation: it reads the table's changes after a cursor and runs every ``app.changes(table)``
function on each, in order, through the same ``Runtime`` the adapters use.

Delivery is at least once, like the clouds': if a handler raises, the error propagates and the
cursor the caller holds still points before the failed change, so the next call delivers it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portafn.store.table import Table, change_event
from portafn.triggers import ChangesTrigger

if TYPE_CHECKING:
    from portafn.app import Function
    from portafn.runtime import Runtime

PAGE = 100
MAX_PER_CALL = 10_000  # a handler that writes to its own table must not make delivery loop forever


def change_functions(runtime: Runtime, table: Table[Any]) -> list[Function]:
    """The app's functions on ``table``'s changes, in registration order."""
    return [
        fn
        for fn in runtime.app.by_kind("changes")
        if isinstance(fn.trigger, ChangesTrigger) and fn.trigger.table is table
    ]


def deliver_changes(
    runtime: Runtime, table: Table[Any], cursor: str | None, *, limit: int = MAX_PER_CALL
) -> str | None:
    """Deliver every change of ``table`` after ``cursor`` (None: from the oldest kept) to its change
    functions; returns the new cursor to pass next time. At most ``limit`` changes per call."""
    return _deliver(runtime, table, cursor, limit)[0]


def _deliver(runtime: Runtime, table: Table[Any], cursor: str | None, limit: int) -> tuple[str | None, int]:
    functions = change_functions(runtime, table)
    delivered = 0
    while delivered < limit:
        records, next_cursor = table.read_changes(cursor, min(PAGE, limit - delivered))
        if not records:
            return (next_cursor if next_cursor is not None else cursor), delivered
        for record in records:
            event = change_event(table, record)
            for fn in functions:
                runtime.handle_event(fn, event)
            # Advance past a change only once all its functions have run: at least once.
            cursor = record.sequence
            delivered += 1
    return cursor, delivered


def tail_cursor(table: Table[Any]) -> str | None:
    """A cursor at the end of ``table``'s change source: delivering from it skips older history."""
    cursor: str | None = None
    while True:
        records, next_cursor = table.read_changes(cursor, 1000)
        if not records:
            return cursor
        cursor = next_cursor


def watched_tables(runtime: Runtime) -> dict[str, Table[Any]]:
    """Tables that have at least one change function, by name."""
    return {
        fn.trigger.table.name: fn.trigger.table
        for fn in runtime.app.by_kind("changes")
        if isinstance(fn.trigger, ChangesTrigger)
    }


def start_cursors(runtime: Runtime) -> dict[str, str | None]:
    """Cursors at the current end of every watched table: call before the first local invocation so
    that history already in a persistent store is not delivered again."""
    return {name: tail_cursor(table) for name, table in watched_tables(runtime).items()}


def deliver_all(runtime: Runtime, cursors: dict[str, str | None]) -> int:
    """Deliver pending changes of every watched table; ``cursors`` (table name to cursor, see
    ``start_cursors``) is updated in place, a missing table starting from its oldest change.
    Returns how many changes were delivered."""
    total = 0
    for name, table in watched_tables(runtime).items():
        cursors[name], count = _deliver(runtime, table, cursors.get(name), MAX_PER_CALL)
        total += count
    return total
