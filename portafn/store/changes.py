"""Local change delivery: feed a table's change source to its ``@app.changes`` functions.

On the clouds, DynamoDB Streams, the Cosmos change feed and Firestore document events call the
functions. Locally nothing does, so the local client calls ``deliver_changes``: it reads the
table's changes after a cursor and runs every ``app.changes(table)`` function on each, in order,
through the same ``Runtime`` the adapters use. ``pending_changes`` is the loop itself, for callers
that deliver another way (the test client delivers through a provider's driver).

Delivery is at least once, like the clouds': a caller advances its cursor past a change only after
every function ran on it, so if a handler raises, the next call delivers that change again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from portafn.events import Change
from portafn.store.table import Table, change_event
from portafn.triggers import ChangesTrigger

if TYPE_CHECKING:
    from portafn.app import Function
    from portafn.runtime import Runtime

PAGE = 100
MAX_PER_CALL = 10_000  # a handler that writes to its own table must not make delivery loop forever


def pending_changes(
    table: Table[Any], cursor: str | None, *, limit: int = MAX_PER_CALL
) -> Iterator[tuple[Change[Any] | None, str | None]]:
    """Each change of ``table`` after ``cursor`` (None: from the oldest kept) as a CloudEvent, with
    the cursor to resume after it; at most ``limit``, read a page at a time. A store whose cursor
    moves on without a change (a feed token) ends with ``(None, cursor)``: keep the cursor, deliver
    nothing."""
    delivered = 0
    while delivered < limit:
        records, next_cursor = table.read_changes(cursor, min(PAGE, limit - delivered))
        if not records:
            if next_cursor is not None and next_cursor != cursor:
                yield None, next_cursor
            return
        for record in records:
            yield change_event(table, record), record.sequence
            cursor = record.sequence
            delivered += 1


def receivers(functions: Iterable[Function], event: Change[Any]) -> list[Function]:
    """The change functions ``event`` is for: an attached document's change goes only to the
    functions that asked for attached documents (the outbox's relays), an item's to the others."""
    return [fn for fn in functions if isinstance(fn.trigger, ChangesTrigger) and fn.trigger.receives(event)]


def deliver_changes(
    runtime: Runtime, table: Table[Any], cursor: str | None, *, limit: int = MAX_PER_CALL
) -> str | None:
    """Deliver every change of ``table`` after ``cursor`` to its change functions; returns the new
    cursor to pass next time. At most ``limit`` changes per call."""
    return _deliver(runtime, table, cursor, limit)[0]


def _deliver(runtime: Runtime, table: Table[Any], cursor: str | None, limit: int) -> tuple[str | None, int]:
    functions = runtime.app.change_functions(table)
    delivered = 0
    for event, after in pending_changes(table, cursor, limit=limit):
        if event is not None:
            for fn in receivers(functions, event):
                runtime.handle_event(fn, event)
            delivered += 1
        cursor = after  # only once all its functions have run: at least once
    return cursor, delivered


def tail_cursor(table: Table[Any]) -> str | None:
    """A cursor at the end of ``table``'s change source: delivering from it skips older history."""
    cursor: str | None = None
    while True:
        records, next_cursor = table.read_changes(cursor, 1000)
        if not records:
            return cursor
        cursor = next_cursor


def start_cursors(runtime: Runtime) -> dict[str, str | None]:
    """Cursors at the current end of every watched table: call before the first local invocation so
    that history already in a persistent store is not delivered again."""
    return {name: tail_cursor(table) for name, table in runtime.app.watched_tables().items()}


def deliver_all(runtime: Runtime, cursors: dict[str, str | None]) -> int:
    """Deliver pending changes of every watched table; ``cursors`` (table name to cursor, see
    ``start_cursors``) is updated in place, a missing table starting from its oldest change.
    Returns how many changes were delivered."""
    total = 0
    for name, table in runtime.app.watched_tables().items():
        cursors[name], count = _deliver(runtime, table, cursors.get(name), MAX_PER_CALL)
        total += count
    return total
