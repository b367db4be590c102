"""``Table``: a typed table of pydantic models over whichever store is current.

``app.table(Order, partition_key="customer_id", sort_key="order_id")`` makes one. Every operation
resolves the store through ``portafn.store.registry.current_store()`` (so ``use_store`` switches it),
creates the table there once, checks the store's declared capabilities, retries transient errors
with bounded backoff and jitter, and hides items whose TTL has passed.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel
from pydantic_core import to_json

from portafn.errors import RegistrationError
from portafn.events import ATTACHED_CHANGE_TYPE, Change
from portafn.store import keys
from portafn.store.batching import send_chunks
from portafn.store.capabilities import Capability
from portafn.store.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidValue,
    NotFound,
    Throttled,
    TooLarge,
)
from portafn.store.port import (
    ChangeRecord,
    Delete,
    Key,
    KeyValue,
    Put,
    Record,
    SortCondition,
    SortOp,
    Store,
    TableSpec,
    Write,
)
from portafn.store.registry import current_store
from portafn.store.retry import DEFAULT, RetryPolicy, backoff, retry_transient
from portafn.store.rmw import UPDATE_POLICY, pause_before_retry

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

KeyInput = KeyValue | tuple[KeyValue, KeyValue]
MAX_QUERY_LIMIT = 1000
# Read-modify-write backs off briefly: the other writer has usually just finished.
MIN_TTL_EPOCH = -62_135_596_800  # 0001-01-01T00:00:00Z, the earliest a datetime (and Firestore) holds
MAX_TTL_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z, the latest

_CONDITIONS: dict[str, Capability] = {
    "eq": Capability.QUERY_EQ,
    "begins_with": Capability.QUERY_BEGINS_WITH,
    "between": Capability.QUERY_BETWEEN,
    "gt": Capability.QUERY_RANGE,
    "gte": Capability.QUERY_RANGE,
    "lt": Capability.QUERY_RANGE,
    "lte": Capability.QUERY_RANGE,
}


CREATE_TABLES_ENV = "PORTAFN_CREATE_TABLES"


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """An item with the etag of the version that was read; pass the etag to ``replace``/``delete``."""

    item: T
    etag: str


@dataclass(frozen=True, slots=True)
class QueryPage(Generic[T]):
    """One page of a query. ``cursor`` resumes right after the last item; None when there is no more.

    A page may hold fewer than ``limit`` items (expired items are hidden) and still have a cursor.
    Iterating a page iterates its items.
    """

    items: list[T]
    cursor: str | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class Table(Generic[M]):
    """A typed table of ``model`` items keyed by ``partition_key`` (and ``sort_key``).

    Items are stored as JSON documents (``model_dump(mode="json", by_alias=True)``). ``ttl`` names a
    field holding the expiry time (a datetime or epoch seconds; stored as epoch seconds): items past
    it are hidden on every read, whatever the store, and removed by the store in its own time.
    ``requires`` lists capabilities the app relies on beyond what its calls show (for example
    ``Capability.CHANGE_SOURCE_EVERY_VERSION``): the first use on a store lacking one raises
    ``Unsupported``, and ``portafn check`` reports it before deployment.
    """

    def __init__(
        self,
        model: type[M],
        *,
        partition_key: str,
        sort_key: str | None = None,
        name: str | None = None,
        ttl: str | None = None,
        requires: Iterable[Capability] = (),
        retry: RetryPolicy = DEFAULT,
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise RegistrationError(str(name or model), "a table's model must be a pydantic BaseModel class")
        tname = keys.check_table_name(name or model.__name__.lower() + "s")
        keys.check_field_names(model, tname)
        self._pk_type = keys.key_field_type(model, tname, partition_key, "partition_key")
        self._sk_type = keys.key_field_type(model, tname, sort_key, "sort_key") if sort_key else None
        if sort_key == partition_key:
            raise RegistrationError(tname, "sort_key must differ from partition_key")
        if ttl is not None:
            keys.ttl_field_ok(model, tname, ttl)
            if ttl in (partition_key, sort_key):
                raise RegistrationError(tname, "the ttl field cannot be a key field")
        self.model = model
        self.name = tname
        self.requires = frozenset(Capability(c) for c in requires)
        self.retry = retry
        self._pk_attr = partition_key
        self._sk_attr = sort_key
        self._ttl_attr = ttl
        self.spec = TableSpec(
            name=tname,
            partition_key=_stored_name(model, partition_key),
            sort_key=_stored_name(model, sort_key) if sort_key else None,
            ttl_field=_stored_name(model, ttl) if ttl else None,
        )
        self._ensured: weakref.WeakSet[Store] = weakref.WeakSet()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Table({self.model.__name__}, name={self.name!r})"

    # -- keys and documents ------------------------------------------------------------------

    def key(self, pk: object, sk: object = None) -> Key:
        """A checked ``Key``; ``InvalidKey`` names the table and field when a value cannot be a key."""
        pk_value = keys.check_key_value(self.name, self._pk_attr, pk, self._pk_type)
        if self._sk_attr is None:
            if sk is not None:
                raise keys.InvalidKey(self.name, self._pk_attr, "this table has no sort key; pass sk=None")
            return Key(pk_value)
        if sk is None:
            raise keys.InvalidKey(self.name, self._sk_attr, "this table has a sort key; pass sk")
        return Key(pk_value, keys.check_key_value(self.name, self._sk_attr, sk, self._sk_type))

    def key_of(self, item: M) -> Key:
        """The key of an item."""
        return self.key(getattr(item, self._pk_attr), getattr(item, self._sk_attr) if self._sk_attr else None)

    def _key_input(self, value: KeyInput) -> Key:
        if isinstance(value, tuple):
            if len(value) != 2:
                raise keys.InvalidKey(self.name, self._pk_attr, "a key tuple is (pk, sk)")
            return self.key(value[0], value[1])
        return self.key(value)

    def _to_doc(self, item: M, store: Store) -> tuple[Key, dict[str, Any]]:
        if not isinstance(item, self.model):
            raise TypeError(f"table {self.name!r} stores {self.model.__name__}, not {type(item).__name__}")
        key = self.key_of(item)
        doc = item.model_dump(mode="json", by_alias=True)
        if self._ttl_attr is not None and self.spec.ttl_field is not None:
            doc[self.spec.ttl_field] = _ttl_epoch(store.name, self.name, key, getattr(item, self._ttl_attr))
        try:
            encoded = to_json(doc)
        except ValueError as exc:  # a lone surrogate, say: no store can keep it as UTF-8 text
            raise InvalidValue(
                store.name, self.name, key, f"the item is not JSON text: {exc}"[:300]
            ) from None
        limit = store.capabilities.max_item_bytes
        if limit and (size := len(encoded)) > limit:
            raise TooLarge(store.name, self.name, key, f"item is {size} bytes as JSON; the limit is {limit}")
        return key, doc

    def _from_doc(self, doc: dict[str, Any]) -> M:
        return self.model.model_validate(doc)

    def _expired(self, doc: dict[str, Any] | None, now: float | None = None) -> bool:
        field = self.spec.ttl_field
        if field is None or doc is None:
            return False
        value = doc.get(field)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return value <= (time.time() if now is None else now)

    # -- store resolution --------------------------------------------------------------------

    def _store(self) -> Store:
        store = current_store()
        self._ensure(store)
        return store

    def _ensure(self, store: Store) -> None:
        if store in self._ensured:
            return
        with self._lock:
            if store in self._ensured:
                return
            if self.spec.ttl_field is not None:
                store.capabilities.require(store.name, Capability.TTL, self.name)
            for capability in sorted(self.requires):
                store.capabilities.require(store.name, capability, self.name)
            # Deployed tables come from the provider template; creating-if-missing there would cost
            # round trips on every cold start, so the templates set PORTAFN_CREATE_TABLES=0.
            if os.environ.get(CREATE_TABLES_ENV, "1") != "0":
                retry_transient(lambda: store.ensure_table(self.spec), self.retry)
            self._ensured.add(store)

    def _call(self, call: Callable[[], T]) -> T:
        return retry_transient(call, self.retry)

    def _require(self, store: Store, capability: Capability) -> None:
        store.capabilities.require(store.name, capability, self.name)

    # -- single items ------------------------------------------------------------------------

    def get(self, pk: KeyValue, sk: KeyValue | None = None) -> M | None:
        """The item with this key, or None (also when its TTL has passed)."""
        found = self.get_versioned(pk, sk)
        return found.item if found is not None else None

    def get_versioned(self, pk: KeyValue, sk: KeyValue | None = None) -> Versioned[M] | None:
        """The item and its etag, or None."""
        key = self.key(pk, sk)
        store = self._store()
        record = self._call(lambda: store.get(self.spec, key))
        if record is None or self._expired(record.doc):
            return None
        return Versioned(self._from_doc(record.doc), record.etag)

    def insert(self, item: M) -> str:
        """Store a new item; ``AlreadyExists`` if its key is taken. Returns its etag."""
        store = self._store()
        key, doc = self._to_doc(item, store)
        try:
            return self._put(store, Put(self.spec, key, doc, if_absent=True))
        except AlreadyExists:
            if self.spec.ttl_field is None:
                raise
            # An expired item still in the store (cloud TTLs delete lazily) does not hold its key.
            old = self._call(lambda: store.get(self.spec, key))
            if old is None or not self._expired(old.doc):
                raise
            return self._put(store, Put(self.spec, key, doc, etag=old.etag))

    def put(self, item: M) -> str:
        """Store an item, replacing any item with the same key. Returns its etag."""
        store = self._store()
        key, doc = self._to_doc(item, store)
        return self._put(store, Put(self.spec, key, doc))

    def replace(self, item: M, *, etag: str) -> str:
        """Replace the item only if it still has ``etag``.

        ``ConcurrencyConflict`` if it changed since it was read, ``NotFound`` if it is gone.
        """
        store = self._store()
        self._require(store, Capability.CONDITIONAL_WRITES)
        key, doc = self._to_doc(item, store)
        return self._put(store, Put(self.spec, key, doc, etag=etag))

    def _put(self, store: Store, op: Put) -> str:
        etag = self._call(lambda: store.write(op))
        if etag is None:  # a store bug; say so rather than hand back None as an etag
            raise TypeError(f"store {store.name} returned no etag for a put")
        return etag

    def delete(self, pk: KeyValue, sk: KeyValue | None = None, *, etag: str | None = None) -> None:
        """Delete the item. Without ``etag`` deleting a missing item succeeds; with one, a changed
        item raises ``ConcurrencyConflict`` and a missing one ``NotFound``."""
        key = self.key(pk, sk)
        store = self._store()
        if etag is not None:
            self._require(store, Capability.CONDITIONAL_WRITES)
        self._call(lambda: store.write(Delete(self.spec, key, etag)))

    def update(
        self,
        pk: KeyValue,
        sk: KeyValue | None,
        fn: Callable[[M], M],
        *,
        attempts: int = UPDATE_POLICY.attempts,
    ) -> M:
        """Read the item, apply ``fn`` and write the result only if nobody wrote in between.

        On a conflict it reads again and re-applies ``fn`` (so ``fn`` must be free of side effects),
        at most ``attempts`` times; then ``ConcurrencyConflict``. ``NotFound`` if there is no item.
        """
        key = self.key(pk, sk)
        store = self._store()
        self._require(store, Capability.CONDITIONAL_WRITES)
        for attempt in range(1, max(1, attempts) + 1):
            current = self.get_versioned(pk, sk)
            if current is None:
                raise NotFound(store.name, self.name, key)
            new = fn(current.item)
            if self.key_of(new) != key:
                raise ValueError(f"update of table {self.name!r} must not change the item's key")
            try:
                self.replace(new, etag=current.etag)
                return new
            except ConcurrencyConflict:
                if attempt >= attempts:
                    raise
                pause_before_retry(store.name, self.name, key, attempt)
        raise AssertionError("unreachable")

    # -- queries -----------------------------------------------------------------------------

    def scan(self, *, limit: int = 100, cursor: str | None = None) -> QueryPage[M]:
        """Items of every partition, a page at a time, in the store's own order (not sorted).

        Needs ``Capability.SCAN``. A scan reads the whole table, which the cloud services bill
        item by item: for listings and sweeps, not a request path. Pass the page's ``cursor``
        back for the next page; items written meanwhile may or may not appear.
        """
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_QUERY_LIMIT}; got {limit}")
        store = self._store()
        self._require(store, Capability.SCAN)
        page = self._call(lambda: store.scan(self.spec, limit=limit, cursor=cursor))
        now = time.time()
        items = [self._from_doc(r.doc) for r in page.records if not self._expired(r.doc, now)]
        return QueryPage(items, page.cursor)

    def query(
        self,
        pk: KeyValue,
        *,
        eq: KeyValue | None = None,
        begins_with: str | None = None,
        between: tuple[KeyValue, KeyValue] | None = None,
        gt: KeyValue | None = None,
        gte: KeyValue | None = None,
        lt: KeyValue | None = None,
        lte: KeyValue | None = None,
        descending: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> QueryPage[M]:
        """Items of one partition in sort-key order, filtered by at most one sort-key condition.

        ``between`` is inclusive at both ends. Pass the page's ``cursor`` back to get the next page.
        """
        pk_value = keys.check_key_value(self.name, self._pk_attr, pk, self._pk_type)
        given: dict[str, Any] = {
            op: v
            for op, v in (
                ("eq", eq),
                ("begins_with", begins_with),
                ("between", between),
                ("gt", gt),
                ("gte", gte),
                ("lt", lt),
                ("lte", lte),
            )
            if v is not None
        }
        if len(given) > 1:
            raise ValueError(f"query takes at most one sort-key condition; got {', '.join(given)}")
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"query limit must be between 1 and {MAX_QUERY_LIMIT}; got {limit}")
        store = self._store()
        condition = None
        if given:
            op, value = next(iter(given.items()))
            self._require(store, _CONDITIONS[op])
            condition = self._condition(cast(SortOp, op), value)
        if descending:
            self._require(store, Capability.QUERY_DESCENDING)
        page = self._call(
            lambda: store.query(
                self.spec, pk_value, condition, descending=descending, limit=limit, cursor=cursor
            )
        )
        now = time.time()
        items = [self._from_doc(r.doc) for r in page.records if not self._expired(r.doc, now)]
        return QueryPage(items, page.cursor)

    def _condition(self, op: SortOp, value: Any) -> SortCondition:
        field = self._sk_attr
        if field is None:
            raise ValueError(f"table {self.name!r} has no sort key to put a condition on")

        def check(v: object) -> KeyValue:
            return keys.check_key_value(self.name, field, v, self._sk_type)

        if op == "between":
            if not (isinstance(value, tuple | list) and len(value) == 2):
                raise ValueError("between takes a (low, high) pair")
            low, high = check(value[0]), check(value[1])
            if high < low:  # type: ignore[operator]  # both are the sort key's one type
                raise ValueError(f"between: low {low!r} is above high {high!r}")
            return SortCondition("between", low, high)
        if op == "begins_with" and self._sk_type is not str:
            raise ValueError(f"begins_with needs a str sort key; {self.name}.{field} is int")
        return SortCondition(op, check(value))

    # -- batches -----------------------------------------------------------------------------

    def batch_get(self, keys_in: Iterable[KeyInput]) -> list[M]:
        """The items found among ``keys_in``, in request order (missing and expired left out).

        Chunked to the store's batch size; keys the store leaves unprocessed are retried with
        backoff, and ``Throttled`` is raised if some are still left after the retry budget.
        """
        wanted = keys.dedupe_keys(self._key_input(k) for k in keys_in)
        if not wanted:
            return []
        store = self._store()
        self._require(store, Capability.BATCH)
        size = max(1, store.capabilities.batch_get_size)
        found: dict[Key, Record] = {}
        for chunk in _chunks(wanted, size):
            pending: Sequence[Key] = chunk
            rounds = 0
            while pending:
                records, left = self._call(partial(store.batch_get, self.spec, pending))
                for record in records:
                    found[self._doc_key(record.doc)] = record
                pending = left
                if pending:
                    rounds += 1
                    self._check_rounds(store, rounds, len(pending))
                    backoff(rounds, self.retry)
        now = time.time()
        return [
            self._from_doc(found[k].doc)
            for k in wanted
            if k in found and not self._expired(found[k].doc, now)
        ]

    def _doc_key(self, doc: dict[str, Any]) -> Key:
        sk = doc.get(self.spec.sort_key) if self.spec.sort_key else None
        return Key(doc[self.spec.partition_key], sk)

    def _check_rounds(self, store: Store, rounds: int, left: int) -> None:
        if rounds >= self.retry.attempts:
            raise Throttled(
                store.name, self.name, None, f"{left} batch items still unprocessed after {rounds} retries"
            )

    def batch_put(self, items: Iterable[M]) -> None:
        """Put many items (not atomic). A key given twice keeps the last item."""
        store = self._store()
        self._require(store, Capability.BATCH)
        ops: dict[Key, Write] = {}
        for item in items:
            key, doc = self._to_doc(item, store)
            ops[key] = Put(self.spec, key, doc)
        self._batch_write(store, list(ops.values()))

    def batch_delete(self, keys_in: Iterable[KeyInput]) -> None:
        """Delete many items (not atomic); missing ones are fine."""
        store = self._store()
        self._require(store, Capability.BATCH)
        ops = [Delete(self.spec, k) for k in keys.dedupe_keys(self._key_input(k) for k in keys_in)]
        self._batch_write(store, list(ops))

    def _batch_write(self, store: Store, ops: list[Write]) -> None:
        size = max(1, store.capabilities.batch_write_size)
        send_chunks(list(_chunks(ops, size)), partial(self._write_chunk, store))

    def _write_chunk(self, store: Store, chunk: Sequence[Write]) -> None:
        pending: Sequence[Write] = chunk
        rounds = 0
        while pending:
            pending = self._call(partial(store.batch_write, pending))
            if pending:
                rounds += 1
                self._check_rounds(store, rounds, len(pending))
                backoff(rounds, self.retry)

    # -- changes -----------------------------------------------------------------------------

    def changes(self, cursor: str | None = None, limit: int = 100) -> tuple[list[Change[M]], str | None]:
        """Changes after ``cursor`` (None: from the oldest the store keeps) as typed ``Change``
        events, oldest first, and the cursor to pass next time (unchanged if nothing happened)."""
        records, next_cursor = self.read_changes(cursor, limit)
        # Attached documents (outbox records) are not the table's items: their own functions get them.
        events = [change_event(self, r, self._from_doc) for r in records if not r.extra.get("attached")]
        return cast(list[Change[M]], events), next_cursor

    def read_changes(
        self, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        """The store's change records after ``cursor`` (what ``changes`` and local delivery read)."""
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"changes limit must be between 1 and {MAX_QUERY_LIMIT}; got {limit}")
        store = self._store()
        self._require(store, Capability.CHANGE_SOURCE)
        return self._call(lambda: store.read_changes(self.spec, cursor, limit))

    def store_name(self) -> str:
        """The name of the store this table uses now."""
        return current_store().name

    def clear(self) -> None:
        """Delete every item (tests and the conformance suite use it to isolate data)."""
        store = self._store()
        self._call(lambda: store.clear(self.spec))


def change_event(
    table: Table[Any], record: ChangeRecord, decode: Callable[[dict[str, Any]], Any] | None = None
) -> Change[Any]:
    """A neutral ``Change`` event for one change record.

    ``id`` is the store's sequence (unique per store), ``source`` is ``portafn://<store>/<table>``,
    ``type`` is ``portafn.change.<kind>``; ``old``/``new`` are documents, or models via ``decode``.
    """
    store = current_store().name

    def conv(doc: dict[str, Any] | None) -> Any:
        return decode(doc) if decode is not None and doc is not None else doc

    if record.extra.get("attached"):
        # A document attached to a partition (an outbox record), not an item: its own type, and
        # the partition and name as its key, for the functions registered with attached=True.
        return Change[Any](
            id=record.sequence,
            source=f"portafn://{store}/{table.name}",
            type=ATTACHED_CHANGE_TYPE,
            subject=keys.key_text(record.key),
            time=record.time,
            datacontenttype="application/json",
            kind="insert",
            table=table.name,
            key={"partition": record.key.pk, "name": record.key.sk},
            new=record.new,
            raw=record,
        )
    key = record.key.as_dict(table.spec)
    return Change[Any](
        id=record.sequence,
        source=f"portafn://{store}/{table.name}",
        type=f"portafn.change.{record.kind}",
        subject=keys.key_text(record.key),
        time=record.time,
        datacontenttype="application/json",
        kind=record.kind,
        table=table.name,
        key=key,
        old=conv(record.old),
        new=conv(record.new),
        raw=record,
    )


def _stored_name(model: type[BaseModel], field: str) -> str:
    info = model.model_fields[field]
    return info.serialization_alias or info.alias or field


def _ttl_epoch(store: str, table: str, key: Key, value: object) -> int | None:
    """A TTL field's value as whole epoch seconds; ``InvalidValue`` unless it is a finite time
    every store can hold (DynamoDB's number, Firestore's timestamp, Cosmos's relative seconds)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(aware.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not (math.isfinite(value) and MIN_TTL_EPOCH <= value <= MAX_TTL_EPOCH):
            raise InvalidValue(
                store, table, key, f"a ttl is a finite time in the years 1 to 9999, not {value!r}"
            )
        return int(value)
    raise TypeError(f"a ttl value is a datetime or epoch seconds, not {type(value).__name__}")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
