"""The one query-cursor codec every store uses.

A cursor is opaque to clients: url-safe base64 of a small JSON object holding the store's resume
position and a digest of the query it belongs to (table, partition, sort condition, order). A
cursor presented with any other query, or one that is garbage, over-long or forged in shape,
raises ``InvalidCursor`` before the store is asked, so a client-controlled cursor can only ever
resume the query it came from.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Any

from portafn.store.errors import InvalidCursor

if TYPE_CHECKING:
    from portafn.store.port import KeyValue, SortCondition

MAX_CURSOR_CHARS = 4096  # far above any cursor a store writes; longer ones are refused unread


def _scope_digest(scope: tuple[Any, ...]) -> str:
    text = json.dumps(scope, separators=(",", ":"), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def query_scope(
    table: str, pk: KeyValue, condition: SortCondition | None, descending: bool
) -> tuple[Any, ...]:
    """The scope of a query cursor: table, partition (with its type, so ``1`` is not ``"1"``),
    sort condition and order. A cursor resumes only the query with this very scope."""
    cond = None if condition is None else [condition.op, condition.value, condition.high]
    return (table, type(pk).__name__, pk, cond, bool(descending))


def scan_scope(table: str) -> tuple[Any, ...]:
    """The scope of a scan cursor: a scan of ``table`` (never a query of one of its partitions)."""
    return ("scan", table)


def decode_sort_position(cursor: str, *, scope: tuple[Any, ...], store: str, table: str) -> KeyValue:
    """``decode_cursor`` for the common position, a sort key value (str or int, never bool)."""
    position = decode_cursor(cursor, scope=scope, store=store, table=table)
    if isinstance(position, bool) or not isinstance(position, str | int):
        raise InvalidCursor(store, table, detail="not a cursor this store made")
    return position


def encode_cursor(position: Any, *, scope: tuple[Any, ...]) -> str:
    """An opaque cursor resuming at ``position`` (any JSON value) for the query named by ``scope``."""
    raw = json.dumps({"p": position, "q": _scope_digest(scope)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, scope: tuple[Any, ...], store: str, table: str) -> Any:
    """The position of ``cursor``; ``InvalidCursor`` unless this codec made it for ``scope``."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursor(store, table, detail="not a cursor this store made")
    try:
        obj = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(store, table, detail="not a cursor this store made") from None
    if not isinstance(obj, dict) or set(obj) != {"p", "q"}:
        raise InvalidCursor(store, table, detail="not a cursor this store made")
    if obj["q"] != _scope_digest(scope):
        raise InvalidCursor(store, table, detail="the cursor belongs to another table, partition or query")
    return obj["p"]


def change_sequence(cursor: str | None, *, store: str, table: str) -> int:
    """The sequence number a local store's change cursor holds (0: from the start);
    ``InvalidCursor`` if it is not one."""
    if cursor is None or cursor == "":
        return 0
    if not (isinstance(cursor, str) and cursor.isascii() and cursor.isdigit() and len(cursor) <= 40):
        raise InvalidCursor(store, table, detail="not a change cursor this store made")
    return int(cursor)
