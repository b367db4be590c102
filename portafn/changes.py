"""Local change delivery: read a table's change source for its ``@app.changes`` functions.

On the clouds, the store's change source (a stream, a change feed, document events) calls the
functions. Locally nothing does, so the test client (``Client.deliver_changes``) and the outbox's
sweep read a table's changes after a cursor with ``pending_changes`` and hand each to the functions
``receivers`` picks. This sits beside the runtime, not in ``portafn.store``: a store knows nothing
of functions or triggers.

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


def tail_cursor(table: Table[Any]) -> str | None:
    """A cursor at the end of ``table``'s change source: delivering from it skips older history."""
    cursor: str | None = None
    while True:
        records, next_cursor = table.read_changes(cursor, 1000)
        if not records:
            return cursor
        cursor = next_cursor
