"""``memory://``: a dict-based store in this process, for unit tests and quick runs.

Thread-safe (one lock), with conditional writes, transactions, a change log and TTL. Its limits
copy DynamoDB's (25 writes and 100 reads per batch, 100 operations per transaction, 400 KB items),
the strictest of the cloud stores, so code that passes here is chunked and sized for every store.
Data lives as long as the store object.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portafn.store.capabilities import ALL, Capabilities, Capability
from portafn.store.cursor import (
    change_sequence,
    decode_cursor,
    decode_sort_position,
    encode_cursor,
    query_scope,
    scan_scope,
)
from portafn.store.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidCursor,
    NotFound,
    StoreError,
    TooLarge,
    TransactionConflict,
)
from portafn.store.port import (
    ChangeKind,
    ChangeRecord,
    Check,
    Delete,
    Key,
    KeyValue,
    Page,
    Put,
    Record,
    SortCondition,
    Store,
    TableSpec,
    TransactOp,
    Write,
)

# DynamoDB's numbers: the strictest of the three cloud stores, so local runs exercise chunking.
LOCAL_CAPABILITIES = Capabilities(
    supported=ALL - {Capability.ATTACHED_DOCUMENTS},  # every transaction spans partitions here
    max_transaction_items=100,
    batch_write_size=25,
    batch_get_size=100,
    max_item_bytes=400 * 1024,
)
CHANGE_RETENTION = 100_000  # changes kept per table; older ones are dropped, as streams drop them
SEQ_WIDTH = 20  # zero-padded so sequences sort as strings too


def sequence_text(n: int) -> str:
    """A change sequence as a fixed-width string (sorts as text and as a number)."""
    return str(n).zfill(SEQ_WIDTH)


def matches(condition: SortCondition | None, sk: Any) -> bool:
    """Whether a sort key value meets a condition (the reference semantics every store follows)."""
    if condition is None:
        return True
    v = condition.value
    try:
        if condition.op == "eq":
            return bool(sk == v)
        if condition.op == "begins_with":
            return isinstance(sk, str) and isinstance(v, str) and sk.startswith(v)
        if condition.op == "between":
            return bool(v <= sk <= condition.high)
        if condition.op == "gt":
            return bool(sk > v)
        if condition.op == "gte":
            return bool(sk >= v)
        if condition.op == "lt":
            return bool(sk < v)
        if condition.op == "lte":
            return bool(sk <= v)
    except TypeError:  # a str condition on an int key: nothing matches
        return False
    raise AssertionError(condition.op)


def doc_size(doc: dict[str, Any]) -> int:
    """A document's size as compact UTF-8 JSON: how the local stores measure ``max_item_bytes``."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def expiry_of(spec: TableSpec, doc: dict[str, Any] | None) -> float | None:
    """The epoch-seconds expiry a document carries in the table's TTL field, if any."""
    if spec.ttl_field is None or doc is None:
        return None
    value = doc.get(spec.ttl_field)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _copy(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists and scalars only): several times quicker than
    ``copy.deepcopy``, which must handle any object and track cycles a JSON value cannot have."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@dataclass(slots=True)
class _Entry:
    doc: dict[str, Any]
    etag: str


@dataclass(slots=True)
class _Table:
    spec: TableSpec
    partitions: dict[KeyValue, dict[Any, _Entry]] = field(default_factory=dict)
    order: dict[KeyValue, list[Any]] = field(default_factory=dict)  # sorted sort keys per partition
    changes: deque[ChangeRecord] = field(default_factory=lambda: deque(maxlen=CHANGE_RETENTION))


class MemoryStore(Store):
    """A store in a dict. ``memory://`` (each store object has its own data)."""

    scheme = "memory"
    capabilities = LOCAL_CAPABILITIES
    sweep_interval = 60.0

    def __init__(self, url: str = "memory://") -> None:
        super().__init__(url)
        self._lock = threading.RLock()
        self._tables: dict[str, _Table] = {}
        self._seq = 0
        self._last_sweep = time.monotonic()

    # -- helpers -----------------------------------------------------------------------------

    def _table(self, spec: TableSpec) -> _Table:
        t = self._tables.get(spec.name)
        if t is None:
            raise StoreError(self.name, spec.name, None, "table was not created (ensure_table)")
        return t

    def _sk(self, key: Key) -> Any:
        return key.sk if key.sk is not None else ""

    def _find(self, t: _Table, key: Key) -> _Entry | None:
        return t.partitions.get(key.pk, {}).get(self._sk(key))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _log(
        self,
        t: _Table,
        kind: ChangeKind,
        key: Key,
        old: _Entry | None,
        new: _Entry | None,
        seq: int,
        **extra: Any,
    ) -> None:
        t.changes.append(
            ChangeRecord(
                table=t.spec.name,
                kind=kind,
                key=key,
                old=_copy(old.doc) if old else None,
                new=_copy(new.doc) if new else None,
                sequence=sequence_text(seq),
                time=datetime.now(UTC),
                extra=extra,
            )
        )

    def _set(self, t: _Table, key: Key, doc: dict[str, Any]) -> str:
        old = self._find(t, key)
        seq = self._next_seq()
        entry = _Entry(_copy(doc), sequence_text(seq))
        sk = self._sk(key)
        part = t.partitions.setdefault(key.pk, {})
        if sk not in part:
            bisect.insort(t.order.setdefault(key.pk, []), sk)
        part[sk] = entry
        self._log(t, "modify" if old else "insert", key, old, entry, seq)
        return entry.etag

    def _remove(self, t: _Table, key: Key, **extra: Any) -> None:
        old = self._find(t, key)
        if old is None:
            return
        sk = self._sk(key)
        part = t.partitions[key.pk]
        del part[sk]
        order = t.order[key.pk]
        del order[bisect.bisect_left(order, sk)]
        if not part:
            del t.partitions[key.pk]
            del t.order[key.pk]
        self._log(t, "remove", key, old, None, self._next_seq(), **extra)

    def _problem(self, op: TransactOp) -> StoreError | None:
        """Why ``op``'s condition fails now, or None."""
        t = self._table(op.table)
        cur = self._find(t, op.key)
        name, key = op.table.name, op.key
        if isinstance(op, Put) and op.if_absent:
            return AlreadyExists(self.name, name, key) if cur is not None else None
        if isinstance(op, Put | Delete):
            return self._etag_problem(cur, op.etag, name, key) if op.etag is not None else None
        if op.exists:
            return self._etag_problem(cur, op.etag, name, key)
        return AlreadyExists(self.name, name, key) if cur is not None else None

    def _etag_problem(self, cur: _Entry | None, etag: str | None, name: str, key: Key) -> StoreError | None:
        """NotFound if the item is missing; ConcurrencyConflict unless ``etag`` is None or its own."""
        if cur is None:
            return NotFound(self.name, name, key)
        if etag is not None and cur.etag != etag:
            return ConcurrencyConflict(self.name, name, key)
        return None

    def _apply(self, op: Write) -> str | None:
        t = self._table(op.table)
        if isinstance(op, Put):
            size = doc_size(op.doc)
            if size > self.capabilities.max_item_bytes:
                raise TooLarge(self.name, op.table.name, op.key, f"item is {size} bytes")
            return self._set(t, op.key, op.doc)
        self._remove(t, op.key)
        return None

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.sweep_interval:
            self._last_sweep = now
            self.sweep_expired()

    # -- the port ----------------------------------------------------------------------------

    def ensure_table(self, table: TableSpec) -> None:
        with self._lock:
            if table.name not in self._tables:
                self._tables[table.name] = _Table(table)
            else:
                self._tables[table.name].spec = table

    def get(self, table: TableSpec, key: Key) -> Record | None:
        with self._lock:
            entry = self._find(self._table(table), key)
            return Record(key, _copy(entry.doc), entry.etag) if entry else None

    def write(self, op: Write) -> str | None:
        with self._lock:
            self._maybe_sweep()
            problem = self._problem(op)
            if problem is not None:
                raise problem
            return self._apply(op)

    def query(
        self,
        table: TableSpec,
        pk: KeyValue,
        condition: SortCondition | None,
        *,
        descending: bool,
        limit: int,
        cursor: str | None,
    ) -> Page:
        with self._lock:
            t = self._table(table)
            scope = query_scope(table.name, pk, condition, descending)
            after = (
                decode_sort_position(cursor, scope=scope, store=self.name, table=table.name)
                if cursor is not None
                else None
            )
            order = t.order.get(pk, [])
            part = t.partitions.get(pk, {})
            if descending:
                end = bisect.bisect_left(order, after) if after is not None else len(order)
                candidates = (order[i] for i in range(end - 1, -1, -1))
            else:
                start = bisect.bisect_right(order, after) if after is not None else 0
                candidates = (order[i] for i in range(start, len(order)))
            records: list[Record] = []
            more = False
            for sk in candidates:
                if not matches(condition, sk):
                    continue
                if len(records) == limit:
                    more = True
                    break
                entry = part[sk]
                key = Key(pk, sk if table.sort_key else None)
                records.append(Record(key, _copy(entry.doc), entry.etag))
            next_cursor = None
            if more:
                last = records[-1].key.sk if table.sort_key else ""
                next_cursor = encode_cursor(last, scope=scope)
            return Page(records, next_cursor)

    def scan(self, table: TableSpec, *, limit: int, cursor: str | None) -> Page:
        """Every partition in key order, each in sort-key order; the cursor is the last key."""
        with self._lock:
            t = self._table(table)
            scope = scan_scope(table.name)
            after = scan_position(self.name, table.name, cursor, scope)
            records: list[Record] = []
            for pk in sorted(t.partitions):
                if after is not None and _o(pk) < _o(after[0]):
                    continue
                for sk in t.order.get(pk, []):
                    if after is not None and _o(pk) == _o(after[0]) and _o(sk) <= _o(after[1]):
                        continue
                    if len(records) == limit:
                        last = records[-1].key
                        return Page(records, encode_cursor([last.pk, last.sk or ""], scope=scope))
                    entry = t.partitions[pk][sk]
                    records.append(
                        Record(Key(pk, sk if table.sort_key else None), _copy(entry.doc), entry.etag)
                    )
            return Page(records, None)

    def batch_get(self, table: TableSpec, keys: Sequence[Key]) -> tuple[list[Record], list[Key]]:
        with self._lock:
            found = [r for r in (self.get(table, k) for k in keys) if r is not None]
            return found, []

    def batch_write(self, ops: Sequence[Write]) -> list[Write]:
        if len(ops) > self.capabilities.batch_write_size:
            raise TooLarge(self.name, ops[0].table.name, None, f"{len(ops)} writes in one batch")
        with self._lock:
            self._maybe_sweep()
            for op in ops:
                self._apply(op)
            return []

    def transact(self, ops: Sequence[TransactOp]) -> None:
        if len(ops) > self.capabilities.max_transaction_items:
            raise TooLarge(self.name, ops[0].table.name if ops else None, None, f"{len(ops)} operations")
        with self._lock:
            reasons = [self._problem(op) for op in ops]
            if any(reasons):
                first = next(r for r in reasons if r is not None)
                raise TransactionConflict(
                    self.name, first.table, first.key, f"{type(first).__name__}: {first.summary}", reasons
                )
            for op in ops:
                if isinstance(op, Put):
                    size = doc_size(op.doc)
                    if size > self.capabilities.max_item_bytes:
                        raise TooLarge(self.name, op.table.name, op.key, f"item is {size} bytes")
            for op in ops:
                if not isinstance(op, Check):
                    self._apply(op)

    def read_changes(
        self, table: TableSpec, cursor: str | None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        with self._lock:
            changes = self._table(table).changes
            after = change_sequence(cursor, store=self.name, table=table.name)
            out: list[ChangeRecord] = []
            # Sequences grow, so skip from the right end is not needed; the log is bounded.
            for change in changes:
                if int(change.sequence) > after:
                    out.append(change)
                    if len(out) == limit:
                        break
            return out, (out[-1].sequence if out else cursor)

    def clear(self, table: TableSpec) -> None:
        with self._lock:
            t = self._tables.get(table.name)
            if t is not None:
                t.partitions.clear()
                t.order.clear()
                t.changes.clear()

    # -- TTL ---------------------------------------------------------------------------------

    def sweep_expired(self, now: float | None = None) -> int:
        """Delete items whose TTL has passed (each logs a ``remove`` change with ``expired``)."""
        cutoff = time.time() if now is None else now
        removed = 0
        with self._lock:
            for t in self._tables.values():
                if t.spec.ttl_field is None:
                    continue
                doomed = [
                    Key(pk, sk if t.spec.sort_key else None)
                    for pk, part in t.partitions.items()
                    for sk, entry in part.items()
                    if (exp := expiry_of(t.spec, entry.doc)) is not None and exp <= cutoff
                ]
                for key in doomed:
                    self._remove(t, key, expired=True)
                removed += len(doomed)
        return removed


def scan_position(
    store: str, table: str, cursor: str | None, scope: tuple[Any, ...]
) -> tuple[Any, Any] | None:
    """The ``(pk, sk)`` a local store's scan cursor resumes after; ``InvalidCursor`` if not one."""
    if cursor is None:
        return None
    position = decode_cursor(cursor, scope=scope, store=store, table=table)
    if not (isinstance(position, list) and len(position) == 2):
        raise InvalidCursor(store, table, detail="not a cursor this store made")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in position):
        raise InvalidCursor(store, table, detail="not a cursor this store made")
    return position[0], position[1]


def _o(value: Any) -> tuple[bool, Any]:
    """A key value's place in scan order; ints before text, so a forged mixed cursor compares."""
    return (isinstance(value, str), value)
